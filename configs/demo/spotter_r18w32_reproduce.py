# The teacher of the reproduction (tools/reproduce.py --budget full): the demo teacher trained
# longer on more synthetic data. GPU recommended; see docs/results.md for the measured times.
_base_ = ['./spotter_r18w32_demo.py', './_base_/synthetic_reproduce.py']

demo_iters = 6000

train_dataloader = dict(batch_size=4, dataset=_base_.reproduce_dataset)
test_dataloader = dict(dataset=_base_.reproduce_dataset)
test_evaluator = dict(data_root=_base_.reproduce_dataset.data_root)

train_cfg = dict(max_iters=demo_iters)
# The demo's schedule with a longer warm-up and a second decay.
param_scheduler = [
    dict(_base_.param_scheduler[0], end=200),
    dict(_base_.param_scheduler[1], end=demo_iters,
         milestones=[int(demo_iters * 0.6), int(demo_iters * 0.8)]),
]
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=1000))
