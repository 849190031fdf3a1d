# Vanilla multi-scale baseline on the synthetic data: the small multi-scale trained spotter of
# configs/spotter/maskrcnn_r18_fpn_spotter_synthetic_small.py tested at a fixed S-96.
_base_ = ['../spotter/maskrcnn_r18_fpn_spotter_synthetic_small.py']

vanilla_test_pipeline = [
    dict(t, scale=(4 * 96, 96)) if t['type'] == 'mmocr.Resize' else t
    for t in _base_.synthetic_test_pipeline
]
val_dataloader = dict(dataset=dict(pipeline=vanilla_test_pipeline))
test_dataloader = val_dataloader
