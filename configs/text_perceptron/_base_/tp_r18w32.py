# The small Text Perceptron spotter (mmdld.models.text_perceptron, docs/text_perceptron.md) as a
# plain variable, so that its teacher config and its DLD students can each inherit it next to
# their other bases. Backbone, data preprocessor and recogniser are those of the demo's Mask
# R-CNN spotter (configs/demo/spotter_r18w32_demo.py): a half-width ResNet-18 from scratch,
# 64-channel FPN, the 64-channel BiLSTM-attention recogniser with its auxiliary CTC term.
tp_points_per_side = 7  # K: the authors' 14 fiducial points per word
tp_r18w32_model = dict(
    type='TextPerceptronSpotter',
    data_preprocessor=dict(
        type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_mask=False, pad_size_divisor=32),
    backbone=dict(
        type='ResNet', depth=18, base_channels=32, num_stages=4, out_indices=(0, 1, 2, 3),
        frozen_stages=-1, norm_cfg=dict(type='BN', requires_grad=True), norm_eval=False,
        style='pytorch', init_cfg=None),
    # Four levels as in the authors' code; only the first (stride 4) is read.
    neck=dict(type='FPN', in_channels=[32, 64, 128, 256], out_channels=64, num_outs=4),
    # loss_reg at 0.1: with weight 1 the offset regression's gradient (norm 15-66 against the
    # recogniser's ~1) dominated the shared stride-4 features, and the dynamic teacher read 45%
    # of its GT words (E2E 21.1); at 0.1 it reads 65% (E2E 40.7), docs/text_perceptron.md.
    det_head=dict(
        type='TextPerceptronHead', in_channels=64, feat_channels=64, num_convs=2,
        num_points_per_side=tp_points_per_side,
        loss_reg=dict(type='mmdet.SmoothL1Loss', beta=1.0, loss_weight=0.1)),
    shape_transform=dict(
        type='ShapeTransformModule', output_size=(8, 32),
        num_points_per_side=tp_points_per_side, spatial_scale=0.25),
    rec_head=dict(
        type='BiLSTMAttnHead', in_channels=64, roi_size=(8, 32), conv_channels=64, num_convs=6,
        lstm_hidden=64, embed_dims=64, attn_dims=64, decoder_hidden=64,
        dictionary=dict(type='mmocr.Dictionary', with_start=True, with_end=True,
                        same_start_end=True, with_padding=True, with_unknown=False),
        max_seq_len=32, beam_width=1, loss_weight=1.0, aux_ctc_weight=1.0),
    featmap_stride=4,
    # Two copies of every GT word with fiducial points moved by up to 0.1 of the word height:
    # the recogniser also sees crops like those at the predicted points (demo training aid).
    rec_train_jitter=dict(num=2, ratio=0.1),
    # The evaluator's threshold: the recogniser reads only the reported words.
    test_cfg=dict(score_thr=0.5, rec_on_gt=True))
