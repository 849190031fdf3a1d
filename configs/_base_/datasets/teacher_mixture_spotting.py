# The teacher's fine-tuning mixture (paper §4.1): 7k images filtered from ICDAR-MLT 2017 plus
# all training images of ICDAR 2013, ICDAR 2015 and Total-Text. Each member keeps the
# augmentation of §4.1 around its own base resolution (MLT: S-1280, like ICDAR 2015).
# Validation and test: Total-Text's test set at S-896 (the other benchmarks have their own
# configs). The MLT subset is expected as MMOCR textspotting JSON in data/mlt2017/; its words in
# scripts outside the recogniser's dictionary become don't-care in the pipeline.
_base_ = ['./totaltext_spotting.py']


def _scaled(pipeline, short):
    """The Total-Text training pipeline with its shorter-side scale set to `short`."""
    return [
        dict(t, scale=(4 * short, short)) if t['type'] == 'RandomResize' else t
        for t in pipeline
    ]


mixture_members = [
    dict(
        type='mmocr.OCRDataset',
        data_root=root,
        ann_file='textspotting_train.json',
        data_prefix=dict(img_path=''),
        pipeline=_scaled(_base_.totaltext_train_pipeline, short))
    for root, short in (('data/mlt2017', 1280), ('data/icdar2013', 768),
                        ('data/icdar2015', 1280), ('data/totaltext', 896))
]

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        # Member JSONs may name their dataset differently; the category ("text") is shared.
        ignore_keys=['dataset_type', 'task_name'],
        datasets=mixture_members))
