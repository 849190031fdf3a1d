# Text Perceptron teacher of the dynamic-resolution benchmark
# (configs/demo/_base_/synthetic_dynamic.py, S-512): the spotter of _base_/tp_r18w32.py with the
# data, optimiser (batch 2, AdamW 2e-3), hooks and evaluator of the Mask R-CNN teacher
# configs/demo/spotter_r18w32_dynamic.py, trained twice as long (5,000 iterations, the learning-rate
# step at 4,000): at 2,500 its recogniser reads 65% of the GT words, at 5,000 89%
# (docs/text_perceptron.md, "Measured: the dynamic teacher").
#
#   python tools/train.py configs/text_perceptron/tp_r18w32_dynamic.py \
#       --work-dir work_dirs/tp_dynamic/teacher
#
# Vanilla multi-scale (the teacher tested at S-N): docs/text_perceptron.md.
_base_ = ['../demo/spotter_r18w32_dynamic.py', './_base_/tp_r18w32.py']

model = dict(_base_.tp_r18w32_model, _delete_=True)

tp_dynamic_iters = 2 * _base_.dynamic_iters
train_cfg = dict(max_iters=tp_dynamic_iters)
param_scheduler = [
    _base_.param_scheduler[0],
    dict(_base_.param_scheduler[1], end=tp_dynamic_iters,
         milestones=[int(tp_dynamic_iters * 0.8)]),
]
