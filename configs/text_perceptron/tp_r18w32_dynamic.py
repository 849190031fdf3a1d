# Text Perceptron teacher of the dynamic-resolution benchmark
# (configs/demo/_base_/synthetic_dynamic.py, S-512): the spotter of _base_/tp_r18w32.py with the
# data, schedule (2,500 iterations of batch 2, AdamW 2e-3), hooks and evaluator of the Mask R-CNN
# teacher configs/demo/spotter_r18w32_dynamic.py.
#
#   python tools/train.py configs/text_perceptron/tp_r18w32_dynamic.py \
#       --work-dir work_dirs/tp_dynamic/teacher
#
# Vanilla multi-scale (the teacher tested at S-N): docs/text_perceptron.md.
_base_ = ['../demo/spotter_r18w32_dynamic.py', './_base_/tp_r18w32.py']

model = dict(_base_.tp_r18w32_model, _delete_=True)
