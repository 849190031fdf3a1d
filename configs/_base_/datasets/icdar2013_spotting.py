# ICDAR 2013 focused text (horizontal words), MMOCR's Dataset Preparer layout:
#   data/icdar2013/textspotting_{train,test}.json + data/icdar2013/textdet_imgs/{train,test}/
# Teacher resolution S-768 (shorter side 768, paper §4.1). The long-side cap of the resizes
# (4 x the short side) only guards against extreme panoramas.
icdar2013_data_root = 'data/icdar2013'

# Paper §4.1 augmentation: instance-aware random crop, shorter side scaled to [0.3, 1.0] x 768,
# rotation in [-15, 15] degrees (polygons rotate with the image), brightness/contrast/colour
# jitter; then polygons -> masks and packing.
icdar2013_train_pipeline = [
    # A corrupt or missing image is skipped with a warning naming the file (another sample is
    # drawn); test pipelines raise instead.
    dict(type='mmocr.LoadImageFromFile', color_type='color_ignore_orientation',
         ignore_empty=True),
    dict(type='mmocr.LoadOCRAnnotations', with_polygon=True, with_bbox=True, with_label=True,
         with_text=True),
    # Words the recogniser cannot spell and zero-area polygons become don't-care; the
    # dictionary and max_seq_len are those of model.roi_head.rec_head.
    dict(type='FilterSpottingInstances', dictionary=dict(type='mmocr.Dictionary'),
         max_seq_len=32),
    dict(type='RandomApply', prob=0.5,
         transforms=[dict(type='mmocr.RandomCrop', min_side_ratio=0.4)]),
    dict(type='RandomResize', scale=(3072, 768), ratio_range=(0.3, 1.0), keep_ratio=True,
         resize_type='mmocr.Resize'),
    dict(type='mmocr.RandomRotate', max_angle=15, use_canvas=True, pad_with_fixed_color=True),
    dict(type='PhotoMetricDistortion', brightness_delta=32, contrast_range=(0.5, 1.5),
         saturation_range=(0.5, 1.5), hue_delta=18),
    dict(type='PolygonsToMasks'),
    dict(type='PackSpottingInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]

# Annotations are loaded after Resize, so GT polygons stay in the original image's frame.
icdar2013_test_pipeline = [
    dict(type='mmocr.LoadImageFromFile', color_type='color_ignore_orientation'),
    dict(type='mmocr.Resize', scale=(3072, 768), keep_ratio=True),
    dict(type='mmocr.LoadOCRAnnotations', with_polygon=True, with_bbox=True, with_label=True,
         with_text=True),
    dict(type='PackSpottingInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]

icdar2013_spotting_train = dict(
    type='mmocr.OCRDataset',
    data_root=icdar2013_data_root,
    ann_file='textspotting_train.json',
    data_prefix=dict(img_path=''),
    pipeline=icdar2013_train_pipeline)

icdar2013_spotting_test = dict(
    type='mmocr.OCRDataset',
    data_root=icdar2013_data_root,
    ann_file='textspotting_test.json',
    data_prefix=dict(img_path=''),
    test_mode=True,
    pipeline=icdar2013_test_pipeline)

train_dataloader = dict(
    batch_size=3,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=icdar2013_spotting_train)

val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=icdar2013_spotting_test)
test_dataloader = val_dataloader

# End-to-end and word-spotting results lexicon-free and with the strong (per image), weak
# and generic lexicons, expected as lexicons/strong/<image stem>.txt, weak.txt, generic.txt
# (a word per line, or ICDAR pair lists).
val_evaluator = dict(
    type='E2ESpottingMetric',
    lexicons=dict(
        strong='data/icdar2013/lexicons/strong/{img_stem}.txt',
        weak='data/icdar2013/lexicons/weak.txt',
        generic='data/icdar2013/lexicons/generic.txt'))
test_evaluator = val_evaluator
