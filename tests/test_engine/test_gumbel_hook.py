import logging
from types import SimpleNamespace

import pytest
import torch
import torch.distributed as dist
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.logging import MessageHub, MMLogger
from mmengine.model import BaseModel, MMDistributedDataParallel
from mmengine.runner import Runner

from mmdld.engine.hooks import GumbelTemperatureHook
from mmdld.models.selectors import DynamicResolutionSelector
from mmdld.registry import HOOKS

TAU, SIGMA = 5.0, 0.965


class ToyDLDModel(BaseModel):
    """Just enough model for a runner: a selector and a trainable layer."""

    def __init__(self):
        super().__init__()
        self.selector = DynamicResolutionSelector(channels=(2, 4), input_size=(8, 8))
        self.fc = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.fc(inputs)
        if mode == 'loss':
            return dict(loss=out.pow(2).mean())
        return out


class TemperatureRecorder(Hook):
    """Records the selector's temperature after GumbelTemperatureHook (lower priority)."""
    priority = 'LOW'

    def __init__(self):
        self.epochs, self.iters = [], []

    def before_train_epoch(self, runner):
        self.epochs.append(runner.model.selector.temperature)

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.iters.append(runner.model.selector.temperature)


def _runner(work_dir, name, train_cfg, hook_cfg, resume=False):
    recorder = TemperatureRecorder()
    runner = Runner(
        model=ToyDLDModel(),
        work_dir=str(work_dir),
        experiment_name=name,
        train_dataloader=dict(
            dataset=[dict(inputs=torch.ones(2))] * 4,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate'),
            batch_size=2,
            num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=train_cfg,
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=1,
                            by_epoch=train_cfg.get('by_epoch', True)),
            logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[hook_cfg, recorder],
        resume=resume,
        default_scope='mmdld',
        log_level='WARNING')
    return runner, recorder


def test_temperature_schedule_and_resume(tmp_path):
    hook_cfg = dict(type='GumbelTemperatureHook', tau_init=TAU, sigma=SIGMA)
    runner, recorder = _runner(tmp_path, 'first', dict(by_epoch=True, max_epochs=3), hook_cfg)
    runner.train()
    assert recorder.epochs == pytest.approx([TAU, TAU * SIGMA, TAU * SIGMA**2])
    # Two iterations per epoch, each sees its epoch's temperature.
    assert recorder.iters == pytest.approx([TAU] * 2 + [TAU * SIGMA] * 2 + [TAU * SIGMA**2] * 2)
    assert runner.message_hub.get_scalar('train/gumbel_tau').current() == pytest.approx(
        TAU * SIGMA**2)
    assert (tmp_path / 'epoch_3.pth').exists()

    resumed, recorder = _runner(tmp_path, 'resumed', dict(by_epoch=True, max_epochs=4),
                                hook_cfg, resume=True)
    resumed.train()
    assert resumed.epoch == 4
    assert recorder.epochs == pytest.approx([TAU * SIGMA**3])
    assert resumed.model.selector.temperature == pytest.approx(TAU * SIGMA**3)


def test_iteration_based_schedule(tmp_path):
    hook_cfg = dict(type='GumbelTemperatureHook', by_epoch=False, interval=2, sigma=0.5)
    runner, recorder = _runner(tmp_path, 'iters', dict(by_epoch=False, max_iters=5), hook_cfg)
    runner.train()
    assert recorder.iters == pytest.approx([5.0, 5.0, 2.5, 2.5, 1.25])


def test_by_epoch_under_an_iteration_loop_is_refused(tmp_path):
    """``runner.epoch`` stays 0 under ``IterBasedTrainLoop``: tau would never decay."""
    hook_cfg = dict(type='GumbelTemperatureHook', by_epoch=True)
    runner, recorder = _runner(tmp_path, 'refused', dict(by_epoch=False, max_iters=4), hook_cfg)
    with pytest.raises(ValueError) as err:
        runner.train()
    msg = str(err.value)
    assert 'IterBasedTrainLoop' in msg and 'tau_init=5' in msg
    assert '`by_epoch=False`' in msg and "train_cfg=dict(type='EpochBasedTrainLoop'" in msg
    assert recorder.iters == []  # refused before the first iteration
    # The same hook under an epoch loop, and validation or testing without a built training
    # loop, pass the check.
    hook = GumbelTemperatureHook(by_epoch=True)
    epoch_runner, _ = _runner(tmp_path, 'epochs', dict(by_epoch=True, max_epochs=1), hook_cfg)
    epoch_runner.train()
    hook.before_run(SimpleNamespace(_train_loop=dict(type='IterBasedTrainLoop')))
    hook.before_run(SimpleNamespace(_train_loop=None))
    GumbelTemperatureHook(by_epoch=False).before_run(runner)


def _fake_runner(model, epoch=2):
    return SimpleNamespace(
        model=model, epoch=epoch, iter=0, logger=MMLogger.get_instance('test_gumbel_hook'),
        message_hub=MessageHub.get_instance('test_gumbel_hook'))


def test_unwraps_ddp(tmp_path):
    dist.init_process_group('gloo', init_method=f'file://{tmp_path}/store', rank=0,
                            world_size=1)
    try:
        model = ToyDLDModel()
        wrapped = MMDistributedDataParallel(module=model)
        hook = HOOKS.build(dict(type='GumbelTemperatureHook'))
        hook.before_train_epoch(_fake_runner(wrapped, epoch=2))
        assert model.selector.temperature == pytest.approx(TAU * SIGMA**2)
    finally:
        dist.destroy_process_group()


def test_selector_path_and_lookup_errors():
    model = ToyDLDModel()
    hook = GumbelTemperatureHook(tau_init=2.0, sigma=0.5, selector_path='selector')
    hook.before_train_epoch(_fake_runner(model, epoch=1))
    assert model.selector.temperature == 1.0

    with pytest.raises(AttributeError, match="ToyDLDModel has no attribute 'drs'"):
        GumbelTemperatureHook(selector_path='drs').before_train_epoch(_fake_runner(model))
    with pytest.raises(AttributeError, match='no `temperature` attribute'):
        GumbelTemperatureHook(selector_path='fc').before_train_epoch(_fake_runner(model))
    with pytest.raises(RuntimeError, match=r'found 0 \[\]; set `selector_path`'):
        GumbelTemperatureHook().before_train_epoch(_fake_runner(nn.Linear(2, 2)))
    two = nn.ModuleDict(dict(a=DynamicResolutionSelector(), b=DynamicResolutionSelector()))
    with pytest.raises(RuntimeError, match=r"found 2 \['a', 'b'\]"):
        GumbelTemperatureHook().before_train_epoch(_fake_runner(two))


@pytest.mark.parametrize('kwargs, match', [(dict(tau_init=0), 'tau_init'),
                                           (dict(sigma=-1), 'sigma'),
                                           (dict(interval=0), 'interval')])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GumbelTemperatureHook(**kwargs)


def test_logs_temperature_changes():
    model = ToyDLDModel()
    runner = _fake_runner(model, epoch=0)
    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    runner.logger.addHandler(handler)
    try:
        hook = GumbelTemperatureHook()
        hook.before_train_epoch(runner)
        hook.before_train_iter(runner, 0)  # same tau: not logged again
        runner.epoch = 1
        hook.before_train_epoch(runner)
    finally:
        runner.logger.removeHandler(handler)
    assert messages == ['Gumbel-softmax temperature tau = 5 (epoch 0)',
                        f'Gumbel-softmax temperature tau = {TAU * SIGMA:.6g} (epoch 1)']
