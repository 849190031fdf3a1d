# DLD (gamma 0.1) of the MANGO teacher mango_r18w32_dynamic.py into a student of the same
# architecture: the distiller settings, data and schedule of the Mask R-CNN benchmark's student
# configs/demo/dld_r18w32_dynamic.py (1,000 iterations) with the teacher and the student
# swapped for MANGO (docs/mango.md), e.g.
#
#   python tools/train.py configs/mango/dld_mango_r18w32_dynamic.py --cfg-options \
#       model.teacher_ckpt=work_dirs/mango_dynamic/teacher/iter_5000.pth
_base_ = ['../demo/dld_r18w32_dynamic.py', './_base_/mango_r18w32.py']

model = dict(
    teacher='configs/mango/mango_r18w32_dynamic.py',  # its `model` is used
    student=dict(_base_.mango_r18w32_model, _delete_=True))
# MANGO's end-to-end results are matched at IoU 0.1, as the paper reports them (Table 8);
# `--cfg-options test_evaluator.iou_thr=0.5` gives the other spotters' matching.
test_evaluator = dict(iou_thr=0.1)
