# `tools/run_demo.py --budget tiny`: the demo's DLD student for 2 iterations on the tiny data
# (a smoke test of the pipeline, see spotter_r18w32_demo_tiny.py).
_base_ = ['./dld_r18w32_demo.py', './_base_/synthetic_demo_tiny.py']

demo_dld_iters = 2

model = dict(teacher='configs/demo/spotter_r18w32_demo_tiny.py')
train_dataloader = dict(dataset=_base_.tiny_dataset)
test_dataloader = dict(dataset=_base_.tiny_dataset)
test_evaluator = dict(data_root=_base_.tiny_dataset.data_root)

train_cfg = dict(max_iters=demo_dld_iters)
param_scheduler = [
    dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=0, end=demo_dld_iters)
]
custom_hooks = [dict(_base_.custom_hooks[0], interval=1)]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=demo_dld_iters))
