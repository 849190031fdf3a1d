# The Mask R-CNN teacher spotter (ResNet-50 + FPN, ImageNet init) trained and tested on
# icdar2015 with the paper's schedule (AdamW, 50 epochs).
_base_ = [
    '../_base_/models/mask_rcnn_r50_fpn_spotter.py',
    '../_base_/datasets/icdar2015_spotting.py',
    '../_base_/schedules/schedule_adamw_50e.py',
    '../_base_/default_runtime.py',
]
