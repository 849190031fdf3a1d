# The DLD student of the reproduction (tools/reproduce.py --budget full), gamma 0.1; the
# reproduction derives the other variants (SKD-only, DRS-only, gamma 0.3) from this file.
_base_ = ['./dld_r18w32_demo.py', './_base_/synthetic_reproduce.py']

demo_dld_iters = 2000

model = dict(teacher='configs/demo/spotter_r18w32_reproduce.py')
train_dataloader = dict(batch_size=4, dataset=_base_.reproduce_dataset)
test_dataloader = dict(dataset=_base_.reproduce_dataset)
test_evaluator = dict(data_root=_base_.reproduce_dataset.data_root)

train_cfg = dict(max_iters=demo_dld_iters)
# The demo student's schedule with a longer warm-up and a second decay.
param_scheduler = [
    dict(_base_.param_scheduler[0], end=100),
    dict(_base_.param_scheduler[1], end=demo_dld_iters,
         milestones=[int(demo_dld_iters * 0.6), int(demo_dld_iters * 0.8)]),
]
custom_hooks = [dict(_base_.custom_hooks[0], interval=demo_dld_iters // 50)]
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=500))
