# `tools/run_demo.py --budget tiny`: the demo teacher on 4 training and 2 test images of 192 px
# for 2 iterations. It checks that every stage of the demo runs (tests, smoke runs); it learns
# nothing.
_base_ = ['./spotter_r18w32_demo.py']

tiny_data_root = 'data/synthetic_demo_tiny'
tiny_synth_cfg = dict(num_train=4, num_test=2, img_size=192, seed=0, workers=1)
demo_iters = 2

train_dataloader = dict(dataset=dict(data_root=tiny_data_root, synth_cfg=tiny_synth_cfg))
test_dataloader = dict(dataset=dict(data_root=tiny_data_root, synth_cfg=tiny_synth_cfg))
test_evaluator = dict(
    lexicons=dict(
        strong=tiny_data_root + '/lexicons/strong/{img_stem}.txt',
        weak=tiny_data_root + '/lexicons/weak.txt',
        generic=tiny_data_root + '/lexicons/generic.txt',
        full=tiny_data_root + '/lexicons/full.txt'))

train_cfg = dict(max_iters=demo_iters)
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=0, end=demo_iters)]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=demo_iters))
