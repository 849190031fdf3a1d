# Runtime shared by every mmdld config (MMDetection's, in the mmdld scope).
default_scope = 'mmdld'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='DetVisualizationHook'))

env_cfg = dict(
    cudnn_benchmark=False,
    # Float denormals flushed to zero: CPU training otherwise slows as it trains (mmdld's
    # tools read this key before building anything; see mmdld/utils/cpu_numerics.py).
    flush_denormal=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(
    type='SpottingLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(type='LogProcessor', window_size=20, by_epoch=True)

# A fixed seed, so that a run is repeatable by default (MMEngine draws a random one without
# it); `--cfg-options randomness.seed=N` for another. CPU training is still not bit-exact.
randomness = dict(seed=0)

log_level = 'INFO'
load_from = None
resume = False
