# The DLD student (gamma 0.1) of the dynamic-resolution benchmark: the teacher
# spotter_r18w32_dynamic.py distilled into a student of the same architecture. Its T_i are the
# teacher's whole-step costs measured on held-out images (tools/analysis_tools/
# measure_scale_costs.py writes scale_costs.json beside the teacher's checkpoint), e.g.
#
#   python tools/train.py configs/demo/dld_r18w32_dynamic.py --cfg-options \
#       model.teacher_ckpt=work_dirs/dynamic/teacher/iter_2500.pth \
#       model.scale_costs_file=work_dirs/dynamic/teacher/scale_costs.json
#
# tools/reproduce.py derives the other variants (SKD-only, DRS-only, other gammas) from this file.
_base_ = ['./dld_r18w32_demo.py', './_base_/synthetic_dynamic.py']

dynamic_dld_iters = 1000
# The teacher's resolution and test-time settings (spotter_r18w32_dynamic.py; the two configs
# cannot share a base, and tests/test_configs checks that they agree).
dynamic_scale = (4 * _base_.dynamic_base_size, _base_.dynamic_base_size)
dynamic_train_pipeline = [
    dict(t, scale=dynamic_scale) if t['type'] in ('RandomResize', 'mmocr.Resize') else t
    for t in _base_.train_dataloader.dataset.pipeline]
dynamic_test_pipeline = [
    dict(t, scale=dynamic_scale) if t['type'] == 'mmocr.Resize' else t
    for t in _base_.test_dataloader.dataset.pipeline]

model = dict(
    teacher='configs/demo/spotter_r18w32_dynamic.py',
    student=dict(test_cfg=dict(rpn=dict(max_per_img=50), rcnn=dict(score_thr=0.5))))
train_dataloader = dict(
    dataset=dict(_base_.dynamic_dataset, pipeline=dynamic_train_pipeline))
test_dataloader = dict(
    dataset=dict(_base_.dynamic_dataset, pipeline=dynamic_test_pipeline))
test_evaluator = dict(data_root=_base_.dynamic_dataset.data_root)

train_cfg = dict(type='IterBasedTrainLoop', max_iters=dynamic_dld_iters, _delete_=True)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=dynamic_dld_iters,
         milestones=[int(dynamic_dld_iters * 0.8)], gamma=0.1),
]
custom_hooks = [dict(_base_.custom_hooks[0], interval=max(1, dynamic_dld_iters // 50))]
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=250))
