# The teacher of `make demo` (tools/run_demo.py): the small spotter made cheaper for a 2-core CPU
# and a 30-minute budget, on synthetic data generated into data/synthetic_demo/ on first use.
# What is tuned for that budget, and why, is written down in docs/development.md ("The demo
# configs"): a half-width ResNet-18, coarser RoIAlign sampling, scale jitter only, easier text,
# the recogniser's training aids (jittered GT boxes, auxiliary CTC) and no validation.
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
    data_root=demo_data_root,
    # Low-confidence detections are not reported by the spotter (as every spotter's demo
    # threshold does); the paper's tables are computed on thresholded outputs as well.
    score_thr=0.5)
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
