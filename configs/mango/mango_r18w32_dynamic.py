# MANGO teacher of the dynamic-resolution benchmark (configs/demo/_base_/synthetic_dynamic.py,
# S-512): the spotter of _base_/mango_r18w32.py with the data, optimiser (batch 2, AdamW 2e-3),
# hooks and evaluator of the Mask R-CNN teacher configs/demo/spotter_r18w32_dynamic.py, trained
# twice as long (5,000 iterations, the learning-rate step at 4,000) as
# configs/text_perceptron/tp_r18w32_dynamic.py is (its recogniser, also trained from scratch on
# the stride-4 map, read 65% of the GT words at 2,500 and 89% at 5,000).
#
#   python tools/train.py configs/mango/mango_r18w32_dynamic.py \
#       --work-dir work_dirs/mango_dynamic/teacher
#
# The paper evaluates MANGO end to end at IoU 0.1: tools/test.py ... --iou-thr 0.1.
_base_ = ['../demo/spotter_r18w32_dynamic.py', './_base_/mango_r18w32.py']

model = dict(_base_.mango_r18w32_model, _delete_=True)

mango_dynamic_iters = 2 * _base_.dynamic_iters
train_cfg = dict(max_iters=mango_dynamic_iters)
param_scheduler = [
    _base_.param_scheduler[0],
    dict(_base_.param_scheduler[1], end=mango_dynamic_iters,
         milestones=[int(mango_dynamic_iters * 0.8)]),
]
# MANGO's end-to-end results are matched at IoU 0.1, as the paper reports them (Table 8);
# `--cfg-options test_evaluator.iou_thr=0.5` gives the other spotters' matching.
test_evaluator = dict(iou_thr=0.1)
