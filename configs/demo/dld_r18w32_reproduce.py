# The DLD student of the reproduction (tools/reproduce.py --budget full), gamma 0.1; the
# reproduction derives the other variants (SKD-only, DRS-only, gamma 0.3) from this file.
_base_ = ['./dld_r18w32_demo.py']

repro_data_root = 'data/synthetic_reproduce'
repro_synth_cfg = dict(
    num_train=3000, num_test=200, img_size=320, seed=0,
    regime_probs=dict(large=0.45, mixed=0.30, small=0.20, empty=0.05),
    # The benchmark's text, as the teacher's config (spotter_r18w32_reproduce.py).
    vocab_size=None, text_mix='scene', shape_probs=None, words_per_image=None)
demo_dld_iters = 2000

model = dict(teacher='configs/demo/spotter_r18w32_reproduce.py')
train_dataloader = dict(
    batch_size=4, dataset=dict(data_root=repro_data_root, synth_cfg=repro_synth_cfg))
test_dataloader = dict(dataset=dict(data_root=repro_data_root, synth_cfg=repro_synth_cfg))
test_evaluator = dict(
    lexicons=dict(
        strong=repro_data_root + '/lexicons/strong/{img_stem}.txt',
        weak=repro_data_root + '/lexicons/weak.txt',
        generic=repro_data_root + '/lexicons/generic.txt',
        full=repro_data_root + '/lexicons/full.txt'))

train_cfg = dict(max_iters=demo_dld_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=demo_dld_iters,
         milestones=[int(demo_dld_iters * 0.6), int(demo_dld_iters * 0.8)], gamma=0.1),
]
custom_hooks = [
    dict(type='GumbelTemperatureHook', tau_init=5.0, sigma=0.965, by_epoch=False,
         interval=demo_dld_iters // 50)
]
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=500))
