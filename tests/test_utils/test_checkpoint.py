"""Runner checkpoints round-trip under torch>=2.6's weights_only default."""
import pickle

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import CheckpointLoader, Runner
from torch.utils.data import Dataset

import mmdld  # noqa: F401  (registers the loader)
from mmdld.utils.checkpoint import add_safe_checkpoint_globals, load_checkpoint_file


class _ToyDataset(Dataset):
    # numpy values in dataset_meta end up in the checkpoint's meta, as real datasets' do.
    METAINFO = dict(classes=('text', ), mean=np.array([1.5, 2.5]), scale=np.float64(0.5))

    metainfo = METAINFO

    def __len__(self):
        return 8

    def __getitem__(self, idx):
        return dict(inputs=torch.full((2, ), float(idx)), target=torch.tensor([float(idx)]))


class _ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, target, mode='tensor'):
        pred = self.linear(inputs)
        if mode == 'loss':
            return dict(loss=((pred - target)**2).mean())
        return pred


def _runner(work_dir, **kwargs):
    cfg = dict(
        model=_ToyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=_ToyDataset(),
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=4,
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=0.01)),
        param_scheduler=dict(type='MultiStepLR', milestones=[1, 2], by_epoch=True),
        train_cfg=dict(by_epoch=True, max_epochs=2),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
        randomness=dict(seed=0),
        default_scope='mmdld',
        experiment_name=f'exp_{kwargs.pop("name", "a")}')
    cfg.update(kwargs)
    return Runner(**cfg)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('ckpt')
    runner = _runner(work_dir)
    runner.train()
    return work_dir, runner


def test_plain_torch_load_refuses_runner_checkpoint(trained):
    # The problem this module solves: torch's default refuses MMEngine's own files.
    work_dir, _ = trained
    with pytest.raises(pickle.UnpicklingError):
        torch.load(work_dir / 'epoch_2.pth')


def test_mmengine_loader_reads_runner_checkpoint(trained):
    work_dir, runner = trained
    ckpt = CheckpointLoader.load_checkpoint(str(work_dir / 'epoch_2.pth'), map_location='cpu')
    assert ckpt['meta']['epoch'] == 2
    np.testing.assert_array_equal(ckpt['meta']['dataset_meta']['mean'], [1.5, 2.5])
    assert ckpt['meta']['dataset_meta']['scale'] == 0.5
    for key, value in runner.model.state_dict().items():
        torch.testing.assert_close(ckpt['state_dict'][key], value)
    assert ckpt['message_hub']['log_scalars']['train/loss'].data[0].size > 0


def test_load_from_restores_weights(trained, tmp_path):
    work_dir, trained_runner = trained
    runner = _runner(tmp_path, load_from=str(work_dir / 'epoch_2.pth'), name='b')
    runner.load_or_resume()  # what runner.train() does first
    torch.testing.assert_close(runner.model.linear.weight, trained_runner.model.linear.weight)
    assert runner.epoch == 0  # load_from does not resume the schedule


def test_resume_restores_schedule_and_optimizer(trained, tmp_path):
    work_dir, uninterrupted = trained
    runner = _runner(
        tmp_path, load_from=str(work_dir / 'epoch_1.pth'), resume=True, name='c')
    runner.train()
    # Resumed after epoch 1, trained epoch 2 only: 2 iterations of batch 4 over 8 samples.
    assert runner.epoch == 2
    assert runner.iter == 4
    # MultiStepLR milestones (a collections.Counter in the state) came back.
    assert runner.param_schedulers[0].milestones == {1: 1, 2: 1}
    # The learning rate continued where it was, as in the uninterrupted run.
    assert runner.optim_wrapper.get_lr() == uninterrupted.optim_wrapper.get_lr()
    assert runner.optim_wrapper.get_lr()['lr'][0] < 0.01


class _Untrusted:

    def __reduce__(self):
        return (print, ('this must never run', ))


def test_refuses_arbitrary_objects_naming_the_file(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': {'x': _Untrusted()}}, path)
    with pytest.raises(RuntimeError, match='evil.pth'):
        load_checkpoint_file(str(path))


def test_extra_globals_can_be_allowed(tmp_path):
    path = tmp_path / 'custom.pth'
    torch.save({'meta': {'counter': _Point(1, 2)}}, path)
    with pytest.raises(RuntimeError, match='add_safe_checkpoint_globals'):
        load_checkpoint_file(str(path))
    add_safe_checkpoint_globals(_Point)
    assert load_checkpoint_file(str(path))['meta']['counter'] == _Point(1, 2)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='nothere.pth'):
        load_checkpoint_file(str(tmp_path / 'nothere.pth'))


class _Point:

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __eq__(self, other):
        return (self.x, self.y) == (other.x, other.y)
