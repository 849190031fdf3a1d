# DLD (gamma = 0.1) on Total-Text with MANGO (paper Table 8): a ResNet-50 MANGO student distilled
# from the S-896 teacher of mango_r50_totaltext.py, at scales 0.8 ... 0.3 chosen per image by
# the DRS, with the DLD settings of configs/dld/_base_/dld_distiller.py, as
# configs/text_perceptron/dld_tp_r50_totaltext.py; matched at IoU 0.1 as the teacher.
#   mim train mmdld configs/mango/dld_mango_r50_totaltext.py \
#       --cfg-options model.teacher_ckpt=work_dirs/mango_r50_totaltext/epoch_50.pth
_base_ = ['./mango_r50_totaltext.py', '../dld/_base_/dld_distiller.py']

model = dict(_base_.dld_model, _delete_=True, student=_base_.model, teacher=_base_.model)
custom_hooks = [_base_.dld_gumbel_hook]
