# A short iteration-based schedule for small models on CPU (tests, demo): the paper's AdamW
# (schedule_adamw_50e.py) for 600 iterations, /10 after 450.
_base_ = ['./schedule_adamw_50e.py']

train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=600, val_interval=600)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=600, milestones=[450], gamma=0.1),
]
auto_scale_lr = dict(base_batch_size=2)
