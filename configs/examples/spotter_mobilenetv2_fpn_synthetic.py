# A new spotter from our configs (docs/new_spotter.md): the demo spotter with its ResNet-18
# backbone swapped for MMDetection's MobileNetV2. Nothing else changes: the FPN takes the
# four MobileNetV2 stages of strides 4, 8, 16 and 32 (24, 32, 96 and 320 channels).
#
#   python tools/train.py configs/examples/spotter_mobilenetv2_fpn_synthetic.py
_base_ = ['../demo/spotter_r18w32_demo.py']

model = dict(
    backbone=dict(
        _delete_=True,  # drop the ResNet keys (depth, base_channels, ...)
        type='mmdet.MobileNetV2',
        out_indices=(1, 2, 4, 6),
        norm_cfg=dict(type='BN', requires_grad=True),
        init_cfg=None),  # random init: no download (set a Pretrained init_cfg to use one)
    neck=dict(in_channels=[24, 32, 96, 320]))
