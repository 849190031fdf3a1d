# The teacher of `make demo` (tools/run_demo.py): the small spotter made cheaper for a 2-core CPU
# and a 30-minute budget, on synthetic data generated into data/synthetic_demo/ on first use.
#
# What is tuned for the budget, and why:
# * ResNet-18 at half width (base_channels=32): about a quarter of the backbone FLOPs of the
#   small spotter, so more iterations fit in the time.
# * Synthetic images with a long side of 320 px, tested at S-320, with more large-text images
#   than the default mix (large 0.45, mixed 0.30, small 0.20, empty 0.05): a network trained
#   from scratch for a few hundred iterations learns large words first; small words are still
#   there, so the DRS has images that need the full resolution.
# * No validation during training (evaluation is a stage of its own), fused AdamW (the
#   optimizer step of the per-parameter AdamW is a third of an iteration on 2 CPU cores).
# * 300 iterations of batch 2 (one pass over the 600 training images):
#   measured here at 4 to 30 s per iteration, depending on how many other jobs shared the
#   2 cores (the machine was never idle while this was tuned).
#   `tools/run_demo.py` prints and reports the wall time of each stage.
_base_ = ['../spotter/maskrcnn_r18_fpn_spotter_synthetic_small.py']

demo_data_root = 'data/synthetic_demo'
demo_synth_cfg = dict(
    num_train=600, num_test=50, img_size=320, seed=0,
    regime_probs=dict(large=0.45, mixed=0.30, small=0.20, empty=0.05))
demo_iters = 300

model = dict(
    backbone=dict(base_channels=32),
    neck=dict(in_channels=[32, 64, 128, 256]),
    test_cfg=dict(rcnn=dict(rec_on_gt=True)))

train_dataloader = dict(
    batch_size=2, dataset=dict(data_root=demo_data_root, synth_cfg=demo_synth_cfg))
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
    logger=dict(interval=10),
    checkpoint=dict(by_epoch=False, interval=100, max_keep_ckpts=1, save_last=True))
