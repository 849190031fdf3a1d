# DLD for the MobileNetV2 spotter of spotter_mobilenetv2_fpn_synthetic.py: our demo DLD config
# with the teacher and the student swapped for it (docs/new_spotter.md).
#
#   python tools/train.py configs/examples/spotter_mobilenetv2_fpn_synthetic.py \
#       --work-dir work_dirs/mbv2_teacher
#   python tools/train.py configs/examples/dld_mobilenetv2_fpn_synthetic.py \
#       --cfg-options model.teacher_ckpt=work_dirs/mbv2_teacher/iter_300.pth
_base_ = ['../demo/dld_r18w32_demo.py']

mbv2_backbone = dict(
    _delete_=True,
    type='mmdet.MobileNetV2',
    out_indices=(1, 2, 4, 6),
    norm_cfg=dict(type='BN', requires_grad=True),
    init_cfg=None)

model = dict(
    # The teacher is read from its own config file (its `model`).
    teacher='configs/examples/spotter_mobilenetv2_fpn_synthetic.py',
    # The student has the teacher's architecture (it starts from the teacher's weights).
    student=dict(backbone=mbv2_backbone, neck=dict(in_channels=[24, 32, 96, 320])))
