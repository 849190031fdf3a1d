# The teacher's fine-tuning mixture (paper §4.1): 7k images filtered from ICDAR-MLT 2017 plus
# all training images of ICDAR 2013, ICDAR 2015 and Total-Text. Each member keeps the
# augmentation of §4.1 around its own base resolution (MLT: S-1280, like ICDAR 2015).
# Validation and test: Total-Text's test set at S-896 (the other benchmarks have their own
# configs). The MLT subset is expected as MMOCR textspotting JSON in data/mlt2017/; its words in
# scripts outside the recogniser's dictionary become don't-care in the pipeline.
_base_ = ['./totaltext_spotting.py']

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        # Member JSONs may name their dataset differently; the category ("text") is shared.
        ignore_keys=['dataset_type', 'task_name'],
        datasets=[
            dict(_base_.train_dataloader.dataset, data_root=root, pipeline=[
                dict(t, scale=(4 * short, short)) if t['type'].endswith('Resize') else t
                for t in _base_.train_pipeline])
            for root, short in (('data/mlt2017', 1280), ('data/icdar2013', 768),
                                ('data/icdar2015', 1280), ('data/totaltext', 896))
        ]))
