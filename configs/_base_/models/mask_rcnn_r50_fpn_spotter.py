# The paper's base spotter (§3.2): Mask R-CNN (ResNet-50 + FPN, RPN, box and mask branches, one
# class "text") with a recognition branch: RoI-Masking on the stride-4 FPN level -> 8 x 32 F_roi
# -> 6 convs -> BiLSTM(256) -> attention decoder.
model = dict(
    type='MaskRCNNSpotter',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        # Mask targets are cropped per RoI from the instance masks; no full-image padding.
        pad_mask=False,
        pad_size_divisor=32),
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        style='pytorch',
        # ImageNet weights: the file that `torchvision://resnet50` names in MMEngine's table,
        # given by URL because resolving `torchvision://` needs torchvision installed.
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.pytorch.org/models/resnet50-0676ba61.pth')),
    neck=dict(
        type='FPN',
        in_channels=[256, 512, 1024, 2048],
        out_channels=256,
        num_outs=5),
    rpn_head=dict(
        type='RPNHead',
        in_channels=256,
        feat_channels=256,
        # Text anchors as in MMOCR's Mask R-CNN text detector: one scale, aspect ratios
        # (h / w) from tall to very wide.
        anchor_generator=dict(
            type='AnchorGenerator',
            scales=[4],
            ratios=[0.17, 0.44, 1.13, 2.90, 7.46],
            strides=[4, 8, 16, 32, 64]),
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder',
            target_means=[.0, .0, .0, .0],
            target_stds=[1.0, 1.0, 1.0, 1.0]),
        loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
        loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
    roi_head=dict(
        type='SpottingRoIHead',
        bbox_roi_extractor=dict(
            type='SingleRoIExtractor',
            roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=0),
            out_channels=256,
            featmap_strides=[4, 8, 16, 32]),
        bbox_head=dict(
            type='Shared2FCBBoxHead',
            in_channels=256,
            fc_out_channels=1024,
            roi_feat_size=7,
            num_classes=1,
            bbox_coder=dict(
                type='DeltaXYWHBBoxCoder',
                target_means=[0., 0., 0., 0.],
                target_stds=[0.1, 0.1, 0.2, 0.2]),
            reg_class_agnostic=False,
            loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
            loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
        mask_roi_extractor=dict(
            type='SingleRoIExtractor',
            roi_layer=dict(type='RoIAlign', output_size=14, sampling_ratio=0),
            out_channels=256,
            featmap_strides=[4, 8, 16, 32]),
        mask_head=dict(
            type='FCNMaskHead',
            num_convs=4,
            in_channels=256,
            conv_out_channels=256,
            num_classes=1,
            loss_mask=dict(type='CrossEntropyLoss', use_mask=True, loss_weight=1.0)),
        rec_roi_extractor=dict(
            type='RoIMaskingExtractor',
            roi_layer=dict(
                type='RoIAlign', output_size=(16, 64), sampling_ratio=0, aligned=True),
            out_channels=256,
            featmap_strides=[4],
            output_size=(8, 32)),
        rec_head=dict(
            type='BiLSTMAttnHead',
            in_channels=256,
            roi_size=(8, 32),
            conv_channels=256,
            num_convs=6,
            lstm_hidden=256,
            # Printable ASCII by default (BiLSTMAttnHead's DEFAULT_DICT_FILE); the datasets'
            # FilterSpottingInstances must use the same dictionary and max_seq_len.
            dictionary=dict(
                type='mmocr.Dictionary',
                with_start=True,
                with_end=True,
                same_start_end=True,
                with_padding=True,
                with_unknown=False),
            max_seq_len=32,
            beam_width=1,
            loss_weight=1.0),
        # The mask head's 28 x 28 output size: GT masks in training, predicted at test time.
        rec_mask_size=(28, 28)),
    train_cfg=dict(
        rpn=dict(
            assigner=dict(
                type='MaxIoUAssigner',
                pos_iou_thr=0.7,
                neg_iou_thr=0.3,
                min_pos_iou=0.3,
                match_low_quality=True,
                # Anchors/proposals lying mostly on don't-care text are neither positive nor
                # negative: don't-care words stay out of every loss.
                ignore_iof_thr=0.5),
            sampler=dict(
                type='RandomSampler',
                num=256,
                pos_fraction=0.5,
                neg_pos_ub=-1,
                add_gt_as_proposals=False),
            allowed_border=-1,
            pos_weight=-1,
            debug=False),
        rpn_proposal=dict(
            nms_pre=2000,
            max_per_img=1000,
            nms=dict(type='nms', iou_threshold=0.7),
            min_bbox_size=0),
        rcnn=dict(
            assigner=dict(
                type='MaxIoUAssigner',
                pos_iou_thr=0.5,
                neg_iou_thr=0.5,
                min_pos_iou=0.5,
                match_low_quality=True,
                ignore_iof_thr=0.5),
            sampler=dict(
                type='RandomSampler',
                num=512,
                pos_fraction=0.25,
                neg_pos_ub=-1,
                add_gt_as_proposals=True),
            mask_size=28,
            pos_weight=-1,
            debug=False)),
    test_cfg=dict(
        rpn=dict(
            nms_pre=1000,
            max_per_img=1000,
            nms=dict(type='nms', iou_threshold=0.7),
            min_bbox_size=0),
        rcnn=dict(
            score_thr=0.05,
            nms=dict(type='nms', iou_threshold=0.5),
            max_per_img=100,
            mask_thr_binary=0.5,
            # Also read the GT boxes (the paper's "Rec" column), stored as pred_gt_texts.
            rec_on_gt=False,
            # Full-image masks are large; the metrics use the polygons.
            return_masks=True,
            polygon_epsilon=0.005)))
