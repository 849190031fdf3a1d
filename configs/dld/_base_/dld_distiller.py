# The DLD settings of the paper (§3.3-3.5, §4.1), shared by the DLD configs. They are plain
# variables (not `model`), so that a DLD config can inherit both a spotter config and this file:
#
#   _base_ = ['../spotter/<spotter config>.py', './_base_/dld_distiller.py']
#   model = dict(_base_.dld_model, _delete_=True, student=_base_.model, teacher=_base_.model)
#   custom_hooks = [_base_.dld_gumbel_hook]
#
# The teacher is the spotter config's model; its checkpoint is required for training:
#   --cfg-options model.teacher_ckpt=work_dirs/<spotter config>/epoch_50.pth
dld_scales = (0.8, 0.7, 0.6, 0.5, 0.4, 0.3)
dld_model = dict(
    type='DLDDistiller',
    teacher_ckpt=None,
    # Student initialised from the teacher (§4.1); its own init (ImageNet download) is skipped.
    init_student_from_teacher=True,
    teacher_in_state_dict=False,
    selector=dict(type='DynamicResolutionSelector', scales=dld_scales, temperature=5.0),
    # T_i of eq. 3 (student FLOPs of the whole test step at each scale over the teacher's at
    # full resolution), the absolute GFLOPs reported per test image and the DRS's GFLOPs.
    # Measure them on held-out images with `tools/analysis_tools/measure_scale_costs.py CONFIG
    # --checkpoint TEACHER.pth [--out FILE]` and pass its JSON as `model.scale_costs_file=FILE`
    # (or paste the lines it prints here). None and no file: taken from a loaded checkpoint,
    # else measured once on the first batch by `DLDDistiller.prepare_costs` (docs/dld.md).
    scale_costs=None,
    scale_gflops=None,
    selector_gflops=None,
    # L_DRS = L_acc + gamma * L_flops (eq. 4); loss_weight is lambda_2 of eq. 11.
    drs_loss=dict(type='DRSLoss', gamma=0.1, loss_weight=1.0),
    # L_SKD = L_roi + eta1 * L_con + eta2 * L_seq (eq. 10); loss_weight is lambda_3, topk is K.
    skd_loss=dict(
        type='SKDLoss',
        eta1=1.0,
        eta2=1.0,
        loss_weight=1.0,
        seq_loss=dict(type='SequenceDistillLoss', topk=1)),
    # lambda_1 of eq. 11.
    rec_loss_weight=1.0,
    # The teacher's beam width for the top-K sequences of L_seq.
    teacher_beam_width=3,
    # The k no-grad student passes (the bulk of DLD's extra cost, used only by the DRS) in
    # bfloat16/float16 where the hardware runs it fast; None for full precision.
    scale_pass_dtype='auto')

# tau = tau_init * sigma ** epoch (§3.3, §4.1).
dld_gumbel_hook = dict(type='GumbelTemperatureHook', tau_init=5.0, sigma=0.965, by_epoch=True)
