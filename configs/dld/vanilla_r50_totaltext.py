# Vanilla multi-scale baseline (paper Tables 1 and 8): the multi-scale trained teacher of
# configs/spotter/maskrcnn_r50_fpn_spotter_totaltext.py tested at a fixed short side N, given by
# the environment variable VANILLA_SHORT_SIDE (the paper's 896, 768, 640, 512, 448, 384, 256;
# 448 when it is not set):
#   VANILLA_SHORT_SIDE=640 mim test mmdld configs/dld/vanilla_r50_totaltext.py \
#       --checkpoint work_dirs/maskrcnn_r50_fpn_spotter_totaltext/epoch_50.pth
_base_ = ['../spotter/maskrcnn_r50_fpn_spotter_totaltext.py']

vanilla_short_side = {{'$VANILLA_SHORT_SIDE:448'}}
val_dataloader = test_dataloader = dict(dataset=dict(pipeline=[
    dict(t, scale=(4 * vanilla_short_side, vanilla_short_side))
    if t['type'].endswith('Resize') else t for t in _base_.test_pipeline]))
