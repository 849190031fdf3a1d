# The DLD student of `make demo` (gamma 0.1): the demo teacher (spotter_r18w32_demo.py)
# distilled into a student of the same architecture that reads each image at the scale its
# Dynamic Resolution Selector picks from the paper's candidates {0.8, ..., 0.3} (paper §3.3-3.5,
# with the DLD settings of ../dld/_base_/dld_distiller.py).
#
#   python tools/train.py configs/demo/dld_r18w32_demo.py \
#       --cfg-options model.teacher_ckpt=work_dirs/demo/teacher/iter_2500.pth
#
# `tools/run_demo.py` passes the teacher checkpoint it has just trained. The student starts
# from the teacher's weights (paper §4.1), so a short schedule is enough here.
_base_ = ['./spotter_r18w32_demo.py', '../dld/_base_/dld_distiller.py']

demo_dld_iters = 100

model = dict(
    _base_.dld_model,
    _delete_=True,
    student=_base_.model,
    # The teacher is read from its config file (its `model`).
    teacher='configs/demo/spotter_r18w32_demo.py',
    selector=dict(
        _base_.dld_model.selector,
        # The DRS looks at a 128 x 128 copy: the images are only 320 px, and its cost is
        # paid on every image at test time.
        input_size=(128, 128)),
    # The k scale passes in float32 on every machine ('auto' picks bfloat16 on CPUs with AMX),
    # so that demo runs compare across machines.
    scale_pass_dtype=None)

train_cfg = dict(type='IterBasedTrainLoop', max_iters=demo_dld_iters, _delete_=True)
# A lower learning rate than the teacher's: the student starts from trained weights.
optim_wrapper = dict(optimizer=dict(lr=5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=demo_dld_iters,
         milestones=[int(demo_dld_iters * 0.8)], gamma=0.1),
]
# tau = 5 * 0.965 ** (iter // interval): the paper's 50-epoch decay squeezed into the run.
custom_hooks = [
    dict(_base_.dld_gumbel_hook, by_epoch=False, interval=max(1, demo_dld_iters // 50))
]
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=50))
