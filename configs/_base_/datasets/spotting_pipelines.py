# A text-spotting dataset in MMOCR's Dataset Preparer layout (textspotting_{train,test}.json in
# data_root, image paths relative to it; SpottingDataset is MMOCR's OCRDataset whose errors name
# the annotation file): the pipelines of paper §4.1, the dataloaders and the end-to-end metric.
# A dataset base inherits this file and sets its data_root, its lexicons and the scale of its
# base resolution S-N, (4 * N, N): the long side is capped at 4 x the short side only to guard
# against extreme panoramas. MMEngine evaluates a base before the file that
# inherits it, so the dataset base builds its pipelines from these two with its scale:
#   [dict(t, scale=scale) if t['type'].endswith('Resize') else t for t in _base_.test_pipeline]
load_steps = [
    # mmdld's loader is MMOCR's that also refuses truncated JPEG/PNG files (OpenCV decodes
    # them grey): a missing, truncated or undecodable image is skipped with a warning naming
    # the file (another sample is drawn); test pipelines raise instead. The scope prefix lets
    # inference find mmdld's InferencerLoader.
    dict(type='mmdld.LoadImageFromFile', color_type='color_ignore_orientation',
         ignore_empty=True),
    dict(type='mmocr.LoadOCRAnnotations', with_polygon=True, with_bbox=True, with_label=True,
         with_text=True),
    # Words the recogniser cannot spell and zero-area polygons become don't-care; the
    # dictionary and max_seq_len are those of model.roi_head.rec_head.
    dict(type='FilterSpottingInstances', dictionary=dict(type='mmocr.Dictionary'),
         max_seq_len=32),
]
pack_steps = [
    dict(type='PolygonsToMasks'),
    dict(type='PackSpottingInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
# Instance-aware random crop, shorter side scaled to [0.3, 1.0] x N, rotation in [-15, 15]
# degrees (polygons rotate with the image), brightness/contrast/colour jitter.
train_pipeline = load_steps + [
    dict(type='RandomApply', prob=0.5,
         transforms=[dict(type='mmocr.RandomCrop', min_side_ratio=0.4)]),
    dict(type='RandomResize', ratio_range=(0.3, 1.0), keep_ratio=True,
         resize_type='mmocr.Resize'),
    dict(type='mmocr.RandomRotate', max_angle=15, use_canvas=True, pad_with_fixed_color=True),
    dict(type='PhotoMetricDistortion', brightness_delta=32, contrast_range=(0.5, 1.5),
         saturation_range=(0.5, 1.5), hue_delta=18),
] + pack_steps

# Annotations are loaded after Resize, so GT polygons stay in the original image's frame.
test_pipeline = [
    dict(type='mmdld.LoadImageFromFile', color_type='color_ignore_orientation'),
    dict(type='mmocr.Resize', keep_ratio=True),
    load_steps[1],
    pack_steps[1],
]

train_dataloader = dict(
    batch_size=3,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type='SpottingDataset',
        ann_file='textspotting_train.json',
        data_prefix=dict(img_path=''),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='SpottingDataset',
        ann_file='textspotting_test.json',
        data_prefix=dict(img_path=''),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

# End-to-end and word-spotting results lexicon-free and with each lexicon, a file relative to
# the metric's data_root (a word per line, or ICDAR pair lists; {img_stem} is the image name).
# The ICDAR Robust Reading lexicons by default: strong (per image), weak and generic.
val_evaluator = dict(
    type='E2ESpottingMetric',
    lexicons=dict(
        strong='lexicons/strong/{img_stem}.txt',
        weak='lexicons/weak.txt',
        generic='lexicons/generic.txt'))
test_evaluator = val_evaluator
