"""Guards of DLD training: no random teacher, and costs that a run never changes silently.

The teacher guard refuses to train a DLD config without ``model.teacher_ckpt``; the cost table
keeps ``T_i`` and the GFLOPs as buffers, so that a checkpoint carries them and a resumed model
reuses them; measured costs are the same on every rank of a distributed run.
"""
import functools
import json
import os.path as osp
import socket

import pytest
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp
import torch.nn as nn
from helpers import CONFIG_DIR, batch, packed_sample, rect
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.runner.checkpoint import load_checkpoint

from mmdld.models.distillers import ScaleCostTable, check_teacher_for_training, scale_costs
from mmdld.registry import MODELS

TINY = osp.join(CONFIG_DIR, 'spotter', 'maskrcnn_r18_fpn_spotter_synthetic_tiny.py')
DLD_TINY = osp.join(CONFIG_DIR, 'dld', 'dld_r18_synthetic_tiny.py')
SCALES = (0.8, 0.5)

packed = functools.partial(packed_sample, shape=(96, 128), seed=0)


# ----------------------------------------------------------------------------- teacher guard
def test_dld_config_without_teacher_checkpoint_is_refused_for_training():
    cfg = Config.fromfile(DLD_TINY)
    assert cfg.model.teacher_ckpt is None
    with pytest.raises(ValueError, match=r'`model.teacher_ckpt` is not set') as err:
        check_teacher_for_training(cfg)
    assert 'model.allow_random_teacher=True' in str(err.value)


@pytest.mark.parametrize('options', [
    {'model.teacher_ckpt': 'work_dirs/teacher/iter_2.pth'},
    {'model.allow_random_teacher': True},
    # The teacher's weights come from the checkpoint the run resumes from.
    {'model.teacher_in_state_dict': True, 'resume': True},
])
def test_teacher_checkpoint_or_an_explicit_opt_in_lets_dld_train(options):
    cfg = Config.fromfile(DLD_TINY)
    cfg.merge_from_dict(options)
    check_teacher_for_training(cfg)


def test_a_spotter_config_needs_no_teacher():
    check_teacher_for_training(Config.fromfile(TINY))


def test_the_opt_in_is_a_model_argument_that_defaults_off():
    cfg = Config.fromfile(TINY).model
    model = MODELS.build(dict(type='DLDDistiller', student=cfg, teacher=cfg, fixed_scale=0.5,
                              selector=None, allow_random_teacher=True))
    assert model.allow_random_teacher
    # Off by default: the resolved configs do not change (they do not state it).
    assert not MODELS.build(dict(type='DLDDistiller', student=cfg, teacher=cfg,
                                 fixed_scale=0.5, selector=None)).allow_random_teacher


# ----------------------------------------------------------------------------- costs
def _distiller(**kwargs):
    cfg = Config.fromfile(TINY).model
    # The costs count every detection's heads and decoder steps: keep the random model's few.
    cfg.test_cfg.rcnn.max_per_img = 2
    args = dict(type='DLDDistiller', student=cfg, teacher=cfg,
                selector=dict(type='DynamicResolutionSelector', scales=SCALES,
                              input_size=(32, 32)))
    args.update(kwargs)
    return MODELS.build(args)


def _data(model):
    data = batch(packed([rect(10, 20, 110, 45)], ['HELLO'], seed=1),
                 packed([rect(5, 5, 60, 30)], ['ab'], shape=(80, 96), seed=2))
    return model.data_preprocessor(data, True)


def _no_measuring(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError('the costs were measured again')

    monkeypatch.setattr(scale_costs, 'measure_costs', refuse)


@pytest.fixture(scope='module')
def measured(tmp_path_factory):
    """A distiller whose costs were measured, and its checkpoint file."""
    torch.manual_seed(0)
    model = _distiller()
    data = _data(model)
    # Tiny tensors: one intra-op thread (a module fixture runs before `single_thread`).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model.prepare_costs(data['inputs'], data['data_samples'])
    finally:
        torch.set_num_threads(threads)
    assert model.costs_ready
    path = tmp_path_factory.mktemp('costs') / 'iter_1.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return model, str(path)


def test_measured_costs_are_buffers_of_the_state_dict(measured):
    model, _ = measured
    state = model.state_dict()
    assert state['cost_table.stored_scale_costs'].tolist() == model.scale_costs
    assert state['cost_table.stored_scale_gflops'].tolist() == model.scale_gflops
    assert state['cost_table.stored_selector_gflops'].tolist() == [
        model.cost_table.selector_gflops]
    assert all(c > 0 for c in model.scale_costs) and model.cost_table.selector_gflops > 0


def test_costs_are_unchanged_across_save_and_resume_and_not_measured_again(
        measured, monkeypatch):
    model, path = measured
    resumed = _distiller()
    assert not resumed.costs_ready
    _no_measuring(monkeypatch)
    load_checkpoint(resumed, path, map_location='cpu')  # what the Runner's resume does
    assert resumed.costs_ready
    assert resumed.scale_costs == model.scale_costs
    assert resumed.scale_gflops == model.scale_gflops
    assert resumed.cost_table.selector_gflops == model.cost_table.selector_gflops
    data = _data(resumed)
    resumed.prepare_costs(data['inputs'], data['data_samples'])  # no measurement
    # L_flops uses the checkpoint's T_i.
    assert resumed.drs_loss.flops_loss.scale_costs.tolist() == pytest.approx(model.scale_costs)


def test_costs_of_the_config_win_over_the_checkpoint_with_a_warning(measured, monkeypatch):
    model, path = measured
    messages = []
    monkeypatch.setattr(scale_costs, 'print_log', lambda msg, **kw: messages.append(msg))
    given = [0.9, 0.4]
    other = _distiller(scale_costs=given)
    load_checkpoint(other, path, map_location='cpu')
    assert other.scale_costs == given
    assert other.state_dict()['cost_table.stored_scale_costs'].tolist() == given
    # The values the config left out come from the checkpoint.
    assert other.scale_gflops == model.scale_gflops
    warning = [m for m in messages if 'model.scale_costs' in m]
    assert warning and 'the config is kept' in warning[0] and str(given) in warning[0]


def _budget_distiller(model):
    """A distiller training to a budget between the measured costs, which it has not yet."""
    target = sum(model.scale_costs) / 2
    return _distiller(drs_loss=dict(type='DRSLoss', gamma=0.1, target_cost=target,
                                    dual_ascent=dict(window=4)))


def test_resume_continues_the_dual_gamma_when_the_costs_come_from_the_checkpoint(
        measured, monkeypatch, tmp_path):
    model, path = measured
    _no_measuring(monkeypatch)
    trained = _budget_distiller(model)
    load_checkpoint(trained, path, map_location='cpu')  # costs only, no drs_loss state
    data = _data(trained)
    trained.prepare_costs(data['inputs'], data['data_samples'])
    for cost in (0.9, 0.8, 0.95):
        trained.drs_loss.dual.update(cost)
    gamma = trained.drs_loss.gamma
    assert gamma != pytest.approx(0.1)
    ckpt = tmp_path / 'iter_3.pth'
    torch.save(dict(state_dict=trained.state_dict(), meta=dict()), ckpt)

    messages = []
    monkeypatch.setattr('mmengine.runner.checkpoint.print_log',
                        lambda msg, **kw: messages.append(msg))
    resumed = _budget_distiller(model)
    assert resumed.drs_loss is None  # built on the first batch, after the load
    load_checkpoint(resumed, str(ckpt), map_location='cpu')
    assert not [m for m in messages if 'unexpected key' in m]
    resumed.prepare_costs(data['inputs'], data['data_samples'])
    assert resumed.drs_loss.gamma == pytest.approx(gamma)
    assert int(resumed.drs_loss.dual.num_updates) == 3
    assert resumed.drs_loss.dual.running_cost == pytest.approx(trained.drs_loss.dual.running_cost)
    assert resumed.drs_loss.dual.update(0.6) == pytest.approx(trained.drs_loss.dual.update(0.6))


def test_a_drs_loss_state_that_the_config_has_no_place_for_is_reported(measured, monkeypatch,
                                                                       tmp_path):
    model, path = measured
    _no_measuring(monkeypatch)
    trained = _budget_distiller(model)
    load_checkpoint(trained, path, map_location='cpu')
    data = _data(trained)
    trained.prepare_costs(data['inputs'], data['data_samples'])
    ckpt = tmp_path / 'iter_1.pth'
    torch.save(dict(state_dict=trained.state_dict(), meta=dict()), ckpt)
    messages = []
    monkeypatch.setattr('mmdld.models.distillers.dld_distiller.print_log',
                        lambda msg, **kw: messages.append(msg))
    plain = _distiller()  # fixed gamma: its DRSLoss keeps no state
    load_checkpoint(plain, str(ckpt), map_location='cpu')
    plain.prepare_costs(data['inputs'], data['data_samples'])
    assert plain.drs_loss.gamma == pytest.approx(0.1)
    assert len(messages) == 1 and 'dual.gamma' in messages[0] and 'unexpected' in messages[0]


def test_a_cost_file_gives_the_costs_and_explicit_costs_win(tmp_path, monkeypatch):
    path = tmp_path / 'scale_costs.json'
    path.write_text(json.dumps(dict(scales=list(SCALES), scale_costs=[0.7, 0.3],
                                    scale_gflops=[2.0, 1.0], selector_gflops=0.01)))
    _no_measuring(monkeypatch)
    model = _distiller(scale_costs_file=str(path))
    assert model.costs_ready and model.scale_costs == [0.7, 0.3]
    assert model.drs_loss.flops_loss.scale_costs.tolist() == pytest.approx([0.7, 0.3])
    data = _data(model)
    model.prepare_costs(data['inputs'], data['data_samples'])  # no measurement
    assert model.state_dict()['cost_table.stored_scale_gflops'].tolist() == [2.0, 1.0]
    other = _distiller(scale_costs_file=str(path), scale_costs=[0.9, 0.4])
    assert other.scale_costs == [0.9, 0.4] and other.scale_gflops == [2.0, 1.0]


class _Conv(nn.Module):
    """A conv net whose FLOPs follow the pixel count (its test step is one conv)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, inputs, data_samples=None, mode='predict'):
        return self.conv(inputs)


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _measure_on_rank(rank, port, world_size):
    torch_dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank,
                                  world_size=world_size)
    try:
        # Each rank sees a batch of another size, so its own measurement differs.
        side = 37 + 10 * rank
        inputs = torch.zeros(1, 3, side, side)
        samples = [DetDataSample(metainfo=dict(img_shape=(side, side)))]
        table = ScaleCostTable((0.3, 0.5))
        assert table.ensure(_Conv(), _Conv(), None, inputs, samples, 1, 0.)
        stored = torch.cat([table.stored_scale_costs, table.stored_scale_gflops,
                            table.stored_selector_gflops])
        gathered = [torch.empty_like(stored) for _ in range(world_size)]
        torch_dist.all_gather(gathered, stored)
        assert all(torch.equal(g, gathered[0]) for g in gathered), gathered
        assert table.relative == gathered[0][:2].tolist()
    finally:
        torch_dist.destroy_process_group()


def test_measured_costs_are_equal_on_two_ddp_ranks():
    mp.spawn(_measure_on_rank, args=(_free_port(), 2), nprocs=2, join=True)
