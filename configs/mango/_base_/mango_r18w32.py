# The small MANGO spotter (mmdld.models.mango, docs/mango.md) as a plain variable, so that its
# teacher config and its DLD students can each inherit it next to their other bases. Backbone,
# FPN and data preprocessor are those of the Text Perceptron spotter (_base_/tp_r18w32.py of
# configs/text_perceptron, itself the demo's Mask R-CNN spotter's): a half-width ResNet-18 from
# scratch and a 64-channel FPN whose stride-4 level is read. The dictionary and max_seq_len are
# the project's recognisers' (L = 33 positions); the losses are _base_/mango_training.py's.
_base_ = ['./mango_training.py']

mango_max_seq_len = 32
mango_r18w32_model = dict(
    _base_.mango_training,
    type='MANGOSpotter',
    data_preprocessor=dict(
        type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_mask=False, pad_size_divisor=32),
    backbone=dict(
        type='ResNet', depth=18, base_channels=32, num_stages=4, out_indices=(0, 1, 2, 3),
        frozen_stages=-1, norm_cfg=dict(type='BN', requires_grad=True), norm_eval=False,
        style='pytorch', init_cfg=None),
    # Four levels as in the authors' code; only the first (stride 4) is read.
    neck=dict(type='FPN', in_channels=[32, 64, 128, 256], out_channels=64, num_outs=4),
    # S = 40 as in the authors' configs; E = 32 mask-feature channels per kernel; two convs in
    # each tower and in the recognition tower (the authors': four). The Gaussian position prior
    # of the character attentions is ours: without character-box pre-training their centroids
    # stayed about two character spacings from the characters (docs/mango.md).
    det_head=dict(
        type='MANGOHead', in_channels=64, feat_channels=64, kernel_channels=32, num_grid=40,
        num_positions=mango_max_seq_len + 1, num_convs=2, num_recog_convs=2,
        char_position_prior=True, norm_cfg=dict(type='GN', num_groups=32, requires_grad=True)),
    rec_head=dict(
        type='MANGOSequenceHead', in_channels=64, lstm_hidden=64,
        dictionary=dict(type='mmocr.Dictionary', with_start=True, with_end=True,
                        same_start_end=True, with_padding=True, with_unknown=False),
        max_seq_len=mango_max_seq_len, beam_width=1, loss_weight=1.0),
    featmap_stride=4,
    # The recogniser trains on each word's centre cell only (the cells distillation reads): a
    # quarter of the step's time on the 2-core CPU (every text cell: 4.0 s, centre: 1.0 s on one
    # thread); the character attention over the stride-4 map is the step's largest cost.
    rec_train_cells='centre',
    # Without character boxes the character attention did not learn to find the characters in
    # 5,000 iterations (rec accuracy 0.3% on the GT words, docs/mango.md): it is supervised
    # with Gaussians at pseudo character centres along each word's centre line.
    char_attention_loss_weight=1.0,
    # The evaluator's threshold: the recogniser reads only the reported words.
    test_cfg=dict(score_thr=0.5, rec_on_gt=True))
