# DLD on the embedded synthetic data, small enough for a CPU: the ResNet-18 student of
# configs/spotter/maskrcnn_r18_fpn_spotter_synthetic_small.py distilled from that config's
# trained model (S-320) at scales 0.8 ... 0.3; a short iteration-based schedule.
#   python tools/train.py configs/spotter/maskrcnn_r18_fpn_spotter_synthetic_small.py
#   mim train mmdld configs/dld/dld_r18_synthetic_small.py --cfg-options \
#       model.teacher_ckpt=work_dirs/maskrcnn_r18_fpn_spotter_synthetic_small/iter_600.pth
_base_ = ['../spotter/maskrcnn_r18_fpn_spotter_synthetic_small.py', './_base_/dld_distiller.py']

model = dict(
    _base_.dld_model,
    _delete_=True,
    student=_base_.model,
    teacher=_base_.model)

# tau decays as in the paper's 50 epochs, one step every 12 of the 600 iterations.
custom_hooks = [dict(_base_.dld_gumbel_hook, by_epoch=False, interval=12)]
