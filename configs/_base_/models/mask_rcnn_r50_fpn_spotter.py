# The paper's base spotter (§3.2): MMDetection's Mask R-CNN (ResNet-50 + FPN, RPN, box and mask
# branches) with one class, "text", and a recognition branch: RoI-Masking on the stride-4 FPN
# level -> 8 x 32 F_roi -> 6 convs -> BiLSTM(256) -> attention decoder. Only what differs from
# MMDetection's model is stated here.
_base_ = ['mmdet::_base_/models/mask-rcnn_r50_fpn.py']

model = dict(
    # MMEngine builds a model inherited through `mmdet::` in MMDetection's scope, which has no
    # MaskRCNNSpotter or SpottingRoIHead: they are mmdld's.
    _scope_='mmdld',
    type='MaskRCNNSpotter',
    # Mask targets are cropped per RoI from the instance masks; no full-image padding.
    data_preprocessor=dict(pad_mask=False),
    backbone=dict(
        # ImageNet weights: the file that `torchvision://resnet50` names in MMEngine's table,
        # given by URL because resolving `torchvision://` needs torchvision installed.
        init_cfg=dict(checkpoint='https://download.pytorch.org/models/resnet50-0676ba61.pth')),
    rpn_head=dict(
        # Text anchors as in MMOCR's Mask R-CNN text detector: one scale, aspect ratios
        # (h / w) from tall to very wide.
        anchor_generator=dict(scales=[4], ratios=[0.17, 0.44, 1.13, 2.90, 7.46])),
    roi_head=dict(
        type='SpottingRoIHead',
        bbox_head=dict(num_classes=1),
        mask_head=dict(num_classes=1),
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
    # Anchors and proposals lying mostly on don't-care text are neither positive nor negative:
    # don't-care words stay out of every loss.
    train_cfg=dict(
        rpn=dict(assigner=dict(ignore_iof_thr=0.5)),
        rcnn=dict(assigner=dict(ignore_iof_thr=0.5))),
    test_cfg=dict(
        rcnn=dict(
            # Also read the GT boxes (the paper's "Rec" column), stored as pred_gt_texts.
            rec_on_gt=False,
            # Full-image masks are large; the metrics use the polygons.
            return_masks=True,
            polygon_epsilon=0.005)))
