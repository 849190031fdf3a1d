# Vanilla multi-scale baseline on the synthetic data: the small multi-scale trained spotter of
# configs/spotter/maskrcnn_r18_fpn_spotter_synthetic_small.py tested at a fixed short side N,
# given by the environment variable VANILLA_SHORT_SIDE (320, 256, 224, 192, 160, 128 or 96;
# 160 when it is not set).
_base_ = ['../spotter/maskrcnn_r18_fpn_spotter_synthetic_small.py']

vanilla_short_side = {{'$VANILLA_SHORT_SIDE:160'}}
val_dataloader = test_dataloader = dict(dataset=dict(pipeline=[
    dict(t, scale=(4 * vanilla_short_side, vanilla_short_side))
    if t['type'].endswith('Resize') else t for t in _base_.synthetic_test_pipeline]))
