# `tools/run_demo.py --budget tiny`: the demo teacher on 4 training and 2 test images of 192 px
# for 2 iterations. It checks that every stage of the demo runs (tests, smoke runs); it learns
# nothing.
_base_ = ['./spotter_r18w32_demo.py', './_base_/synthetic_demo_tiny.py']

demo_iters = 2

train_dataloader = dict(dataset=_base_.tiny_dataset)
test_dataloader = dict(dataset=_base_.tiny_dataset)
test_evaluator = dict(data_root=_base_.tiny_dataset.data_root)

train_cfg = dict(max_iters=demo_iters)
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=0, end=demo_iters)]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=demo_iters))
