# `tools/run_demo.py --budget tiny`: the demo's DLD student for 2 iterations on the tiny data
# (a smoke test of the pipeline, see spotter_r18w32_demo_tiny.py).
_base_ = ['./dld_r18w32_demo.py']

tiny_data_root = 'data/synthetic_demo_tiny'
tiny_synth_cfg = dict(num_train=4, num_test=2, img_size=192, seed=0, workers=1)
demo_dld_iters = 2

model = dict(teacher='configs/demo/spotter_r18w32_demo_tiny.py')
train_dataloader = dict(dataset=dict(data_root=tiny_data_root, synth_cfg=tiny_synth_cfg))
test_dataloader = dict(dataset=dict(data_root=tiny_data_root, synth_cfg=tiny_synth_cfg))
test_evaluator = dict(
    lexicons=dict(
        strong=tiny_data_root + '/lexicons/strong/{img_stem}.txt',
        weak=tiny_data_root + '/lexicons/weak.txt',
        generic=tiny_data_root + '/lexicons/generic.txt',
        full=tiny_data_root + '/lexicons/full.txt'))

train_cfg = dict(max_iters=demo_dld_iters)
param_scheduler = [
    dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=0, end=demo_dld_iters)
]
custom_hooks = [
    dict(type='GumbelTemperatureHook', tau_init=5.0, sigma=0.965, by_epoch=False, interval=1)
]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=demo_dld_iters))
