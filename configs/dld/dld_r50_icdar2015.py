# DLD (gamma = 0.1) on ICDAR 2015 (paper Table 1): a ResNet-50 Mask R-CNN student distilled from the
# S-1280 teacher of configs/spotter/maskrcnn_r50_fpn_spotter_icdar2015.py, at scales 0.8 ... 0.3
# chosen per image by the DRS. AdamW 1e-3, /10 at epochs 30 and 40, 50 epochs, batch 3 per GPU.
#   mim train mmdld configs/dld/dld_r50_icdar2015.py \
#       --cfg-options model.teacher_ckpt=work_dirs/maskrcnn_r50_fpn_spotter_icdar2015/epoch_50.pth
_base_ = ['../spotter/maskrcnn_r50_fpn_spotter_icdar2015.py', './_base_/dld_distiller.py']

model = dict(_base_.dld_model, _delete_=True, student=_base_.model, teacher=_base_.model)
custom_hooks = [_base_.dld_gumbel_hook]
