# The teacher of the dynamic-resolution benchmark (configs/demo/_base_/synthetic_dynamic.py): the
# demo spotter at S-512 whose whole test step costs T_i = 0.69 ... 0.15 at the scales 0.8 ... 0.3
# (docs/dld.md, "Costs T_i"). Two choices make its cost fall with the input as a backbone-dominated
# spotter's does: the larger base size, and heads that run only on what is reported (the RPN keeps
# 50 proposals, and the mask and recognition heads see only the detections above the evaluator's
# score threshold, so the results are those of the lower threshold).
_base_ = ['./spotter_r18w32_demo.py', './_base_/synthetic_dynamic.py']

dynamic_iters = 2500
dynamic_scale = (4 * _base_.dynamic_base_size, _base_.dynamic_base_size)
dynamic_train_pipeline = [
    dict(t, scale=dynamic_scale) if t['type'] in ('RandomResize', 'mmocr.Resize') else t
    for t in _base_.train_dataloader.dataset.pipeline]
dynamic_test_pipeline = [
    dict(t, scale=dynamic_scale) if t['type'] == 'mmocr.Resize' else t
    for t in _base_.test_dataloader.dataset.pipeline]

model = dict(
    test_cfg=dict(rpn=dict(max_per_img=50), rcnn=dict(score_thr=0.5)))

train_dataloader = dict(
    dataset=dict(_base_.dynamic_dataset, pipeline=dynamic_train_pipeline))
test_dataloader = dict(
    dataset=dict(_base_.dynamic_dataset, pipeline=dynamic_test_pipeline))
test_evaluator = dict(data_root=_base_.dynamic_dataset.data_root)

train_cfg = dict(max_iters=dynamic_iters)
param_scheduler = [
    dict(_base_.param_scheduler[0], end=100),
    dict(_base_.param_scheduler[1], end=dynamic_iters,
         milestones=[int(dynamic_iters * 0.8)]),
]
default_hooks = dict(checkpoint=dict(interval=250))
