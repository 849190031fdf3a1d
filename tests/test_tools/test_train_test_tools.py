"""`mim train/test mmdld`, tools/dist_train.sh and `mmdld::` config bases, end to end on CPU."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from helpers import CONFIG_DIR, TOOLS_DIR
from mmengine.config import Config

import mmdld  # noqa: F401  (registers `mmdld::`)

BIN = osp.dirname(sys.executable)
TINY = 'maskrcnn_r18_fpn_spotter_synthetic_tiny.py'
TINY_PATH = osp.join(CONFIG_DIR, 'spotter', TINY)
ONE_ITER = ['train_cfg.max_iters=1', 'train_cfg.val_interval=1',
            'default_hooks.checkpoint.interval=1']


def _run(cmd, cwd, timeout=900):
    env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1',
               PATH=BIN + os.pathsep + os.environ.get('PATH', ''))
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f'{" ".join(cmd)} failed:\n{output[-6000:]}'
    return output


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    # Relative data roots of the configs (data/...) are generated here once, shared by the tests.
    return tmp_path_factory.mktemp('tools')


@pytest.mark.slow
def test_mim_train_then_mim_test(workspace):
    work_dir = workspace / 'mim_train'
    # The config is named by its file name only: mim finds it in mmdld/.mim/configs.
    out = _run([osp.join(BIN, 'mim'), 'train', 'mmdld', TINY, '--work-dir', str(work_dir),
                '--cfg-options', *ONE_ITER], cwd=workspace)
    assert 'mmdld/.mim/configs' in out or CONFIG_DIR in out
    ckpt = work_dir / 'iter_1.pth'
    assert ckpt.is_file(), out[-3000:]

    test_dir = workspace / 'mim_test'
    out = _run([osp.join(BIN, 'mim'), 'test', 'mmdld', TINY_PATH, '--checkpoint', str(ckpt),
                '--work-dir', str(test_dir)], cwd=workspace)
    assert 'Load checkpoint from' in out
    results = sorted(test_dir.glob('*/*.json'))
    assert results, out[-3000:]
    metrics = json.loads(results[-1].read_text())
    assert any(key.endswith('hmean') for key in metrics), metrics


@pytest.mark.slow
def test_dist_train_two_cpu_processes(workspace):
    work_dir = workspace / 'dist'
    env_python = f'PYTHON={sys.executable}'
    out = _run(['env', env_python, 'PORT=29611', 'bash', osp.join(TOOLS_DIR, 'dist_train.sh'),
                TINY_PATH, '2', '--work-dir', str(work_dir), '--cfg-options',
                'train_cfg.max_iters=2', 'train_cfg.val_interval=100',
                'default_hooks.checkpoint.interval=2'], cwd=workspace)
    log = next(work_dir.glob('*/*.log')).read_text()
    assert 'Distributed training: True' in log
    # DDP over CPU modules (device_ids=None, set up by mmdld.utils.dist).
    assert "device_ids=None" in log and 'MMDistributedDataParallel' in log
    # The environment and config dumps name the backend of the run, not the base's nccl.
    assert "dist_cfg: {'backend': 'gloo'}" in log and "backend='nccl'" not in log
    # torchrun exits non-zero if any of the 2 ranks fails; rank 0 saved the final checkpoint.
    assert (work_dir / 'iter_2.pth').is_file(), out[-3000:]


def test_user_config_inherits_through_package(tmp_path):
    user_cfg = tmp_path / 'my_spotter.py'
    user_cfg.write_text(
        "_base_ = 'mmdld::spotter/maskrcnn_r18_fpn_spotter_synthetic_tiny.py'\n"
        'model = dict(roi_head=dict(rec_head=dict(max_seq_len=16)))\n')
    cfg = Config.fromfile(str(user_cfg))
    assert cfg.model.type == 'MaskRCNNSpotter'
    assert cfg.model.roi_head.rec_head.max_seq_len == 16
    assert cfg.train_cfg.max_iters == 2


def test_unknown_package_base_is_refused(tmp_path):
    user_cfg = tmp_path / 'bad.py'
    user_cfg.write_text("_base_ = 'mmnothere::spotter/x.py'\n")
    with pytest.raises(Exception, match='mmnothere'):
        Config.fromfile(str(user_cfg))


# ----------------------------------------------------------------------------- guards
DLD_TINY_PATH = osp.join(CONFIG_DIR, 'dld', 'dld_r18_synthetic_tiny.py')


@pytest.fixture
def train_tool(load_tool):
    return load_tool('tools/train.py')


@pytest.mark.parametrize('existing', ['iter_2.pth', 'last_checkpoint'])
def test_work_dir_holding_checkpoints_is_refused(train_tool, tmp_path, existing):
    (tmp_path / existing).write_text('')
    with pytest.raises(SystemExit) as err:
        train_tool.main([TINY_PATH, '--work-dir', str(tmp_path)])
    msg = str(err.value)
    assert f'the work dir {tmp_path} already holds checkpoints ({existing})' in msg
    assert '--resume' in msg and '--overwrite' in msg


def test_resume_or_overwrite_accept_a_work_dir_holding_checkpoints(train_tool, tmp_path):
    (tmp_path / 'epoch_1.pth').write_text('')
    train_tool.check_work_dir(str(tmp_path), resume=True, overwrite=False)
    train_tool.check_work_dir(str(tmp_path), resume=False, overwrite=True)
    train_tool.check_work_dir(str(tmp_path / 'fresh'), resume=False, overwrite=False)
    with pytest.raises(SystemExit, match='exclude each other'):
        train_tool.main([TINY_PATH, '--work-dir', str(tmp_path), '--resume', '--overwrite'])


def test_misspelt_top_level_key_is_reported_with_the_closest_key(train_tool, tmp_path,
                                                                 monkeypatch):
    user_cfg = tmp_path / 'my_spotter.py'
    user_cfg.write_text(
        f'_base_ = {TINY_PATH!r}\n'
        "default_hook = dict(logger=dict(type='LoggerHook', interval=1))\n"
        # Helper variables of a config are not reported.
        'short_side = 320\nmy_train_pipeline = []\n')
    messages = []
    monkeypatch.setattr(train_tool, 'print_log', lambda msg, **kw: messages.append(msg))
    (tmp_path / 'work' / 'iter_1.pth').parent.mkdir()
    (tmp_path / 'work' / 'iter_1.pth').write_text('')
    with pytest.raises(SystemExit):  # stops at the work-dir guard, after the report
        train_tool.main([str(user_cfg), '--work-dir', str(tmp_path / 'work')])
    assert len(messages) == 1, messages
    assert 'unknown top-level config keys' in messages[0]
    assert '`default_hook` (did you mean `default_hooks`?)' in messages[0]
    assert 'short_side' not in messages[0] and 'my_train_pipeline' not in messages[0]


def test_dld_training_without_teacher_checkpoint_is_refused(train_tool, tmp_path):
    with pytest.raises(SystemExit) as err:
        train_tool.main([DLD_TINY_PATH, '--work-dir', str(tmp_path)])
    assert '`model.teacher_ckpt` is not set' in str(err.value)
    assert DLD_TINY_PATH in str(err.value)
    assert not list(tmp_path.iterdir())  # refused before the Runner made anything


def test_every_config_sets_a_seed_and_no_misspelt_key(train_tool, load_tool):
    print_config = load_tool('tools/misc/print_config.py')
    for path in print_config.config_files(CONFIG_DIR):
        cfg = Config.fromfile(path)
        assert cfg.get('randomness', {}).get('seed') is not None, path
        assert cfg.get('env_cfg', {}).get('flush_denormal') is True, path
        assert train_tool.misspelt_keys(cfg) == [], path


def test_train_tool_flushes_denormals_before_building_the_runner(train_tool, tmp_path,
                                                                 monkeypatch):
    seen = []

    def stop(cfg):
        seen.append((torch.tensor([1e-20]) * torch.tensor([1e-19])).item())
        raise SystemExit('stopped before the run')

    monkeypatch.setattr(train_tool.Runner, 'from_cfg', stop)
    try:
        with pytest.raises(SystemExit, match='stopped before the run'):
            train_tool.main([TINY_PATH, '--work-dir', str(tmp_path)])
        assert seen == [0.0]
        with pytest.raises(SystemExit, match='stopped before the run'):
            train_tool.main([TINY_PATH, '--work-dir', str(tmp_path), '--cfg-options',
                             'env_cfg.flush_denormal=False'])
        assert seen[1] > 0
    finally:
        torch.set_flush_denormal(False)


def test_gloo_run_reports_its_backend(monkeypatch):
    from mmdld.utils import dist

    monkeypatch.setattr(dist.torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(dist.torch_dist, 'is_initialized', lambda: True)
    monkeypatch.setattr(dist.torch_dist, 'get_backend', lambda: 'gloo')
    cfg = Config.fromfile(TINY_PATH)
    cfg.launcher = 'pytorch'
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'  # the runtime base, for GPU runs
    dist.setup_cpu_distributed(cfg)
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.env_cfg.mp_cfg.mp_start_method == 'fork'  # the rest is kept


def test_close_distributed_destroys_the_group_once(tmp_path):
    import torch.distributed as torch_dist

    from mmdld.utils import dist

    dist.close_distributed()  # no group: nothing to do
    torch_dist.init_process_group(
        backend='gloo', init_method=f'file://{tmp_path}/store', rank=0, world_size=1)
    assert torch_dist.is_initialized()
    dist.close_distributed()
    assert not torch_dist.is_initialized()
