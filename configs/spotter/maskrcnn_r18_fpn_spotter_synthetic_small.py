# A small spotter for CPU tests and the demo: ResNet-18 from scratch, 64-channel FPN, small
# recognition head, synthetic data at S-320, a short iteration-based schedule.
_base_ = [
    '../_base_/models/mask_rcnn_r50_fpn_spotter.py',
    '../_base_/datasets/synthetic_spotting.py',
    '../_base_/schedules/schedule_adamw_short.py',
    '../_base_/default_runtime.py',
]

model = dict(
    backbone=dict(
        depth=18,
        # Random init: every stage trains and BatchNorm keeps its statistics up to date.
        frozen_stages=-1,
        norm_eval=False,
        init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=64),
    rpn_head=dict(in_channels=64, feat_channels=64),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=64),
        bbox_head=dict(in_channels=64, fc_out_channels=256),
        mask_roi_extractor=dict(out_channels=64),
        mask_head=dict(num_convs=2, in_channels=64, conv_out_channels=64),
        rec_roi_extractor=dict(out_channels=64),
        rec_head=dict(
            in_channels=64,
            conv_channels=64,
            lstm_hidden=64,
            embed_dims=64,
            attn_dims=64,
            decoder_hidden=64)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=500, max_per_img=200),
        rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(
        rpn=dict(nms_pre=500, max_per_img=100),
        rcnn=dict(max_per_img=30)))

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(by_epoch=False, interval=200, max_keep_ckpts=2))
log_processor = dict(by_epoch=False)
