# Paper §4.1: AdamW, lr 1e-3, divided by 10 at epochs 30 and 40, 50 epochs; batch 3 x 8 GPUs.
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=50, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4),
    clip_grad=dict(max_norm=10, norm_type=2))

param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=50, milestones=[30, 40], gamma=0.1),
]

# The paper's total batch size; `--auto-scale-lr` rescales lr for other GPU counts.
auto_scale_lr = dict(enable=False, base_batch_size=24)
