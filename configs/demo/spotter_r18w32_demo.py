# The teacher of `make demo` (tools/run_demo.py): the small spotter made cheaper for a 2-core CPU
# and a 30-minute budget, on synthetic data generated into data/synthetic_demo/ on first use.
#
# What is tuned for the budget, and why (measured on the project's idle 2-core CPU):
# * ResNet-18 at half width (base_channels=32): about a quarter of the backbone FLOPs of the
#   small spotter, so more iterations fit in the time.
# * RoIAlign with 2 x 2 samples per bin for the box and mask branches: MMCV's CPU kernel samples
#   long text boxes adaptively (up to 16 points per bin) and its backward was a third of an
#   iteration. The recognition crops sample the 8 x 32 output grid directly, one point per bin
#   (the paper's configs sample a 16 x 64 grid, mask it and average 2 x 2 cells): MMCV's CPU
#   RoIAlign backward on the 16 x 64 grids of every word and its jittered copies took about a
#   sixth of an iteration.
# * Light augmentation: only the scale jitter (0.8-1.0) of the training pipeline. Measured at
#   equal iterations, the random crop, rotation and photometric distortion of the default
#   synthetic pipeline slowed the recogniser down (its CTC loss after 700 iterations: 2.40
#   without them, 2.67 with them); 1,000 synthetic images seen about five times each leave
#   little to overfit.
# * Easier text than the benchmark's (docs/synthetic_data.md, "text style" keys): lower-case
#   words from the 50 most frequent English words, 80% horizontal, 10 to 18 words in the mixed
#   images. A recogniser trained from random weights first learns the spelling statistics of
#   its words and reads from the image only after tens of thousands of word samples; the
#   default data (6,000 words in mixed case, numbers, symbols) reads nothing after 1,500
#   iterations here (docs/report.md).
# * Recogniser training aids (off in the paper's configs): two jittered copies of each GT box
#   (more word samples per image for the cost of the recognition branch only) and an auxiliary
#   CTC classifier on the BiLSTM features (joint CTC-attention training).
# * Synthetic images with a long side of 320 px, tested at S-320, with large (0.35), mixed
#   (0.50), small (0.10) and empty (0.05) text regimes: small words are still there, so the
#   DRS has images that need the full resolution.
# * No validation during training (evaluation is a stage of its own), fused AdamW.
# * 64 sampled RoIs per image for the box and mask branches (detection still reaches ~90 hmean).
# * 2,500 iterations of batch 2 (about 0.5 s each when the machine is otherwise idle); the
#   recogniser starts reading from the image after about 1,000.
_base_ = ['../spotter/maskrcnn_r18_fpn_spotter_synthetic_small.py']

demo_data_root = 'data/synthetic_demo'
demo_synth_cfg = dict(
    num_train=1000, num_test=50, img_size=320, seed=0,
    regime_probs=dict(large=0.35, mixed=0.50, small=0.10, empty=0.05),
    words_per_image=dict(large=(4, 10), mixed=(10, 18)),
    vocab_size=50, text_mix='lowercase_words',
    shape_probs=dict(horizontal=0.8, rotated=0.1, curved=0.1))
demo_iters = 2500

model = dict(
    backbone=dict(base_channels=32),
    neck=dict(in_channels=[32, 64, 128, 256]),
    roi_head=dict(
        bbox_roi_extractor=dict(roi_layer=dict(sampling_ratio=2)),
        mask_roi_extractor=dict(roi_layer=dict(sampling_ratio=2)),
        rec_roi_extractor=dict(roi_layer=dict(output_size=(8, 32), sampling_ratio=1)),
        rec_train_jitter=dict(num=2, ratio=0.1),
        rec_head=dict(aux_ctc_weight=1.0)),
    train_cfg=dict(rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(rcnn=dict(rec_on_gt=True)))

train_dataloader = dict(
    batch_size=2,
    dataset=dict(data_root=demo_data_root, synth_cfg=demo_synth_cfg,
                 pipeline={{_base_.synthetic_light_train_pipeline}}))
test_dataloader = dict(dataset=dict(data_root=demo_data_root, synth_cfg=demo_synth_cfg))
test_evaluator = dict(
    type='E2ESpottingMetric',
    # Low-confidence detections are not reported by the spotter (as every spotter's demo
    # threshold does); the paper's tables are computed on thresholded outputs as well.
    score_thr=0.5,
    lexicons=dict(
        strong=demo_data_root + '/lexicons/strong/{img_stem}.txt',
        weak=demo_data_root + '/lexicons/weak.txt',
        generic=demo_data_root + '/lexicons/generic.txt',
        full=demo_data_root + '/lexicons/full.txt'))
# Evaluation runs as a separate stage on the test split.
val_dataloader = None
val_evaluator = None
val_cfg = None

train_cfg = dict(type='IterBasedTrainLoop', max_iters=demo_iters, _delete_=True)
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-4, fused=True))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=demo_iters,
         milestones=[int(demo_iters * 0.8)], gamma=0.1),
]
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(by_epoch=False, interval=300, max_keep_ckpts=1, save_last=True))
