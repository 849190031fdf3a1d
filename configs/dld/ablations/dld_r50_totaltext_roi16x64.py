# Paper Table 4, "DLD, L, (16x64), (16x64)": DLD (gamma = 0.1) on Total-Text with 16 x 64 RoI
# features in both the teacher and the student.
#   mim train mmdld configs/dld/ablations/dld_r50_totaltext_roi16x64.py --cfg-options \
#       model.teacher_ckpt=work_dirs/maskrcnn_r50_fpn_spotter_totaltext_roi16x64/epoch_50.pth
_base_ = ['./maskrcnn_r50_fpn_spotter_totaltext_roi16x64.py', '../_base_/dld_distiller.py']

model = dict(_base_.dld_model, _delete_=True, student=_base_.model, teacher=_base_.model)
custom_hooks = [_base_.dld_gumbel_hook]
