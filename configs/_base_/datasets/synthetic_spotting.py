# The embedded synthetic text-spotting data (words rendered on textures, straight, rotated and
# curved), generated into data/synthetic/ on first use, in MMOCR's layout:
#   textspotting_{train,test}.json, imgs/{train,test}/, lexicons/ (see docs/synthetic_data.md).
# Images have a long side of 480 px; base resolution S-320. The images are already small, so
# the §4.1 augmentation is milder here: shorter side in [0.6, 1.0] x 320, rotation in
# [-10, 10] degrees.
synthetic_data_root = 'data/synthetic'
synthetic_synth_cfg = dict(num_train=200, num_test=50, img_size=480, seed=0)

synthetic_load_steps = [
    # A corrupt or missing image is skipped with a warning naming the file (another sample is
    # drawn); the test pipeline raises instead.
    dict(type='mmocr.LoadImageFromFile', color_type='color_ignore_orientation',
         ignore_empty=True),
    dict(type='mmocr.LoadOCRAnnotations', with_polygon=True, with_bbox=True, with_label=True,
         with_text=True),
    # Words the recogniser cannot spell and zero-area polygons become don't-care; the
    # dictionary and max_seq_len are those of model.roi_head.rec_head.
    dict(type='FilterSpottingInstances', dictionary=dict(type='mmocr.Dictionary'),
         max_seq_len=32),
]
synthetic_pack_steps = [
    dict(type='PolygonsToMasks'),
    dict(type='PackSpottingInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
synthetic_train_pipeline = synthetic_load_steps + [
    dict(type='RandomApply', prob=0.5,
         transforms=[dict(type='mmocr.RandomCrop', min_side_ratio=0.6)]),
    dict(type='RandomResize', scale=(1280, 320), ratio_range=(0.6, 1.0), keep_ratio=True,
         resize_type='mmocr.Resize'),
    dict(type='mmocr.RandomRotate', max_angle=10, use_canvas=True, pad_with_fixed_color=True),
    dict(type='PhotoMetricDistortion', brightness_delta=32, contrast_range=(0.5, 1.5),
         saturation_range=(0.5, 1.5), hue_delta=18),
] + synthetic_pack_steps
# Scale jitter only: the demo's from-scratch teacher learns to read sooner without the random
# crop, rotation and photometric distortion (configs/demo/spotter_r18w32_demo.py).
synthetic_light_train_pipeline = synthetic_load_steps + [
    dict(type='RandomResize', scale=(1280, 320), ratio_range=(0.8, 1.0), keep_ratio=True,
         resize_type='mmocr.Resize'),
] + synthetic_pack_steps

# Annotations are loaded after Resize, so GT polygons stay in the original image's frame.
synthetic_test_pipeline = [
    dict(type='mmocr.LoadImageFromFile', color_type='color_ignore_orientation'),
    dict(type='mmocr.Resize', scale=(1280, 320), keep_ratio=True),
    dict(type='mmocr.LoadOCRAnnotations', with_polygon=True, with_bbox=True, with_label=True,
         with_text=True),
    dict(type='PackSpottingInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]

synthetic_spotting_train = dict(
    type='SyntheticSpottingDataset',
    data_root=synthetic_data_root,
    ann_file='textspotting_train.json',
    data_prefix=dict(img_path=''),
    synth_cfg=synthetic_synth_cfg,
    pipeline=synthetic_train_pipeline)

synthetic_spotting_test = dict(
    type='SyntheticSpottingDataset',
    data_root=synthetic_data_root,
    ann_file='textspotting_test.json',
    data_prefix=dict(img_path=''),
    synth_cfg=synthetic_synth_cfg,
    test_mode=True,
    pipeline=synthetic_test_pipeline)

train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=synthetic_spotting_train)

val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=synthetic_spotting_test)
test_dataloader = val_dataloader

# The generator writes every lexicon of the test split.
val_evaluator = dict(
    type='E2ESpottingMetric',
    lexicons=dict(
        strong='data/synthetic/lexicons/strong/{img_stem}.txt',
        weak='data/synthetic/lexicons/weak.txt',
        generic='data/synthetic/lexicons/generic.txt',
        full='data/synthetic/lexicons/full.txt'))
test_evaluator = val_evaluator
