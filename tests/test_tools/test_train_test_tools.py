"""`mim train/test mmdld`, tools/dist_train.sh and `mmdld::` config bases, end to end on CPU."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
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
