# Vanilla multi-scale baseline on ICDAR 2015 (paper Table 1): the multi-scale trained teacher of
# configs/spotter/maskrcnn_r50_fpn_spotter_icdar2015.py tested at a fixed short side N, given by
# the environment variable VANILLA_SHORT_SIDE (the paper's 1280, high resolution, and 640, low;
# 640 when it is not set):
#   VANILLA_SHORT_SIDE=1280 mim test mmdld configs/dld/vanilla_r50_icdar2015.py \
#       --checkpoint work_dirs/maskrcnn_r50_fpn_spotter_icdar2015/epoch_50.pth
_base_ = ['../spotter/maskrcnn_r50_fpn_spotter_icdar2015.py']

vanilla_short_side = {{'$VANILLA_SHORT_SIDE:640'}}
val_dataloader = test_dataloader = dict(dataset=dict(pipeline=[
    dict(t, scale=(4 * vanilla_short_side, vanilla_short_side))
    if t['type'].endswith('Resize') else t for t in _base_.test_pipeline]))
