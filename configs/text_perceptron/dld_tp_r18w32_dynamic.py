# DLD (gamma 0.1) of the Text Perceptron teacher tp_r18w32_dynamic.py into a student of the same
# architecture: the distiller settings, data and schedule of the Mask R-CNN benchmark's student
# configs/demo/dld_r18w32_dynamic.py (1,000 iterations) with the teacher and the student
# swapped for Text Perceptron (docs/new_spotter.md), e.g.
#
#   python tools/train.py configs/text_perceptron/dld_tp_r18w32_dynamic.py --cfg-options \
#       model.teacher_ckpt=work_dirs/tp_dynamic/teacher/iter_5000.pth
_base_ = ['../demo/dld_r18w32_dynamic.py', './_base_/tp_r18w32.py']

model = dict(
    teacher='configs/text_perceptron/tp_r18w32_dynamic.py',  # its `model` is used
    student=dict(_base_.tp_r18w32_model, _delete_=True))
