# The small spotter on a handful of synthetic images for two iterations: a smoke test of
# `mim train` / `mim test` (it learns nothing useful).
_base_ = ['./maskrcnn_r18_fpn_spotter_synthetic_small.py']

tiny_root = 'data/synthetic_tiny'
tiny_synth_cfg = dict(num_train=2, num_test=1, img_size=256, seed=0)
train_dataloader = dict(dataset=dict(data_root=tiny_root, synth_cfg=tiny_synth_cfg))
val_dataloader = test_dataloader = dict(
    dataset=dict(data_root=tiny_root, synth_cfg=tiny_synth_cfg))
val_evaluator = test_evaluator = dict(data_root=tiny_root)

train_cfg = dict(max_iters=2, val_interval=2)
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=0, end=2)]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2))
