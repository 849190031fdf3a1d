# DLD on a handful of synthetic images for two iterations: a smoke test of distillation with
# `mim train` / `mim test` / tools/dist_train.sh (it learns nothing useful). The teacher is the
# model of configs/spotter/maskrcnn_r18_fpn_spotter_synthetic_tiny.py (the small spotter):
#   mim train mmdld configs/dld/dld_r18_synthetic_tiny.py --cfg-options \
#       model.teacher_ckpt=work_dirs/maskrcnn_r18_fpn_spotter_synthetic_tiny/iter_2.pth
# The costs T_i are left to be measured on the first batch.
_base_ = ['../spotter/maskrcnn_r18_fpn_spotter_synthetic_tiny.py', './_base_/dld_distiller.py']

model = dict(
    _base_.dld_model,
    _delete_=True,
    student=_base_.model,
    teacher=_base_.model,
    selector=dict(_base_.dld_model.selector, input_size=(64, 64)))

custom_hooks = [dict(_base_.dld_gumbel_hook, by_epoch=False, interval=1)]
