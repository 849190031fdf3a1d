# Paper Table 4, "DLD, L, (16x64), (8x32)†": DLD (gamma = 0.1) on Total-Text with the 16 x 64
# teacher and a student that crops 8 x 32 RoI features and super-resolves them to 16 x 64 with a
# deconvolution module (DeconvFeatureAligner) before its recognition head, which is the
# teacher's (16 x 64). The deconvolution is part of the student at test time too (the paper
# counts its FLOPs); L_roi compares its output with the teacher's F_roi and L_con the 64-step
# F_con that the student's head computes from it. docs/dld.md ("Different RoI sizes").
#   mim train mmdld configs/dld/ablations/dld_r50_totaltext_roi16x64_student8x32_deconv.py \
#       --cfg-options \
#       model.teacher_ckpt=work_dirs/maskrcnn_r50_fpn_spotter_totaltext_roi16x64/epoch_50.pth
_base_ = ['./maskrcnn_r50_fpn_spotter_totaltext_roi16x64.py', '../_base_/dld_distiller.py']

table4_student_extractor = dict(
    type='SuperResolvedRoIExtractor',
    # The paper's 8 x 32 RoI-Masking (on its 16 x 64 grid) ...
    extractor=dict(
        _base_.model.roi_head.rec_roi_extractor,
        roi_layer=dict(type='RoIAlign', output_size=(16, 64), sampling_ratio=0, aligned=True),
        output_size=(8, 32)),
    # ... then the deconvolution to the teacher's 16 x 64.
    aligner=dict(type='DeconvFeatureAligner', out_size=(16, 64)))
table4_student = dict(
    _base_.model,
    roi_head=dict(_base_.model.roi_head, rec_roi_extractor=table4_student_extractor))

model = dict(_base_.dld_model, _delete_=True, student=table4_student, teacher=_base_.model)
custom_hooks = [_base_.dld_gumbel_hook]
