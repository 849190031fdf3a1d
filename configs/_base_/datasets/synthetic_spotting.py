# The embedded synthetic text-spotting data (words rendered on textures, straight, rotated and
# curved), generated into data/synthetic/ on first use, in MMOCR's layout:
#   textspotting_{train,test}.json, imgs/{train,test}/, lexicons/ (see docs/synthetic_data.md).
# Images have a long side of 480 px; base resolution S-320. The images are already small, so
# the §4.1 augmentation is milder here: shorter side in [0.6, 1.0] x 320, random crops keep at
# least 0.6 of a side, rotation in [-10, 10] degrees.
_base_ = ['./spotting_pipelines.py']

synthetic_data_root = 'data/synthetic'
synthetic_synth_cfg = dict(num_train=200, num_test=50, img_size=480, seed=0)
# Per transform type, what the milder pipelines change in the base's.
synthetic_overrides = {
    'RandomApply': dict(transforms=[dict(type='mmocr.RandomCrop', min_side_ratio=0.6)]),
    'RandomResize': dict(scale=(1280, 320), ratio_range=(0.6, 1.0)),
    'mmocr.RandomRotate': dict(max_angle=10),
    'mmocr.Resize': dict(scale=(1280, 320)),
}
synthetic_train_pipeline = [
    dict(t, **synthetic_overrides.get(t['type'], {})) for t in _base_.train_pipeline]
synthetic_test_pipeline = [
    dict(t, **synthetic_overrides.get(t['type'], {})) for t in _base_.test_pipeline]
# Scale jitter only: the demo's from-scratch teacher learns to read sooner without the random
# crop, rotation and photometric distortion (configs/demo/spotter_r18w32_demo.py).
synthetic_light_train_pipeline = _base_.load_steps + [
    dict(type='RandomResize', scale=(1280, 320), ratio_range=(0.8, 1.0), keep_ratio=True,
         resize_type='mmocr.Resize'),
] + _base_.pack_steps

synthetic_spotting_train = dict(
    _base_.train_dataloader.dataset,
    type='SyntheticSpottingDataset',
    data_root=synthetic_data_root,
    synth_cfg=synthetic_synth_cfg,
    pipeline=synthetic_train_pipeline)

# The base's loaders are sized for multi-GPU training; these are for small CPU runs (tests,
# demo): no worker processes and no aspect-ratio batch sampler.
train_dataloader = dict(
    _delete_=True,
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=synthetic_spotting_train)
val_dataloader = test_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(type='SyntheticSpottingDataset', data_root=synthetic_data_root,
                 synth_cfg=synthetic_synth_cfg, pipeline=synthetic_test_pipeline))

# The generator writes every lexicon of the test split.
val_evaluator = test_evaluator = dict(
    data_root=synthetic_data_root, lexicons=dict(full='lexicons/full.txt'))
