"""End to end on CPU: a teacher from the tiny spotter config, DLD distillation with `mim train`
and `tools/dist_train.sh`, `mim test` reporting accuracy, average scale and GFLOPs."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from helpers import CONFIG_DIR, TOOLS_DIR

BIN = osp.dirname(sys.executable)
TEACHER_CFG = osp.join(CONFIG_DIR, 'spotter', 'maskrcnn_r18_fpn_spotter_synthetic_tiny.py')
DLD_CFG = osp.join(CONFIG_DIR, 'dld', 'dld_r18_synthetic_tiny.py')


def _run(cmd, cwd, expect_ok=True, timeout=900):
    env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1',
               PATH=BIN + os.pathsep + os.environ.get('PATH', ''))
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    output = proc.stdout + proc.stderr
    if expect_ok:
        assert proc.returncode == 0, f'{" ".join(cmd)} failed:\n{output[-6000:]}'
    else:
        assert proc.returncode != 0, f'{" ".join(cmd)} should have failed:\n{output[-3000:]}'
    return output


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    # The configs' relative data roots (data/...) are generated here, shared by the tests.
    return tmp_path_factory.mktemp('dld')


@pytest.fixture(scope='module')
def teacher_ckpt(workspace):
    work_dir = workspace / 'teacher'
    _run([sys.executable, osp.join(TOOLS_DIR, 'train.py'), TEACHER_CFG, '--work-dir',
          str(work_dir)], cwd=workspace)
    ckpt = work_dir / 'iter_2.pth'
    assert ckpt.is_file()
    return str(ckpt)


@pytest.mark.slow
def test_mim_train_distils_then_mim_test_reports_accuracy_scale_and_gflops(
        workspace, teacher_ckpt):
    work_dir = workspace / 'dld'
    out = _run([osp.join(BIN, 'mim'), 'train', 'mmdld', DLD_CFG, '--work-dir', str(work_dir),
                '--cfg-options', f'model.teacher_ckpt={teacher_ckpt}'], cwd=workspace)
    assert 'Loaded the DLD teacher' in out and teacher_ckpt in out
    assert 'DLD costs measured on a batch' in out
    for key in ('loss_drs_acc', 'loss_drs_flops', 'loss_skd_seq', 'drs_avg_scale', 'drs_tau'):
        assert key in out, key
    ckpt = work_dir / 'iter_2.pth'
    assert ckpt.is_file(), out[-3000:]
    state = torch.load(ckpt, map_location='cpu', weights_only=False)['state_dict']
    assert any(k.startswith('selector.') for k in state)
    assert not any(k.startswith('teacher.') for k in state)

    test_dir = workspace / 'dld_test'
    out = _run([osp.join(BIN, 'mim'), 'test', 'mmdld', DLD_CFG, '--checkpoint', str(ckpt),
                '--work-dir', str(test_dir), '--cfg-options',
                f'model.teacher_ckpt={teacher_ckpt}'], cwd=workspace)
    results = sorted(test_dir.glob('*/*.json'))
    assert results, out[-3000:]
    metrics = json.loads(results[-1].read_text())
    assert 'e2e/none/hmean' in metrics and 'det/hmean' in metrics, metrics
    # The one test image at one of the candidate scales, with its measured GFLOPs.
    assert round(metrics['cost/avg_scale'], 4) in (0.8, 0.7, 0.6, 0.5, 0.4, 0.3), metrics
    assert metrics['cost/gflops'] > 0


@pytest.mark.slow
def test_teacher_checkpoint_of_another_config_is_refused(workspace, teacher_ckpt):
    out = _run([sys.executable, osp.join(TOOLS_DIR, 'train.py'), DLD_CFG, '--work-dir',
                str(workspace / 'refused'), '--cfg-options', f'model.teacher_ckpt={teacher_ckpt}',
                'model.teacher.neck.out_channels=32'], cwd=workspace, expect_ok=False)
    assert f'The teacher checkpoint {teacher_ckpt} does not fit the teacher config' in out
    assert '`model.teacher` (MaskRCNNSpotter, ResNet-18, FPN-32)' in out
    assert 'neck.lateral_convs.0.conv.weight' in out


@pytest.mark.slow
def test_dist_train_two_cpu_processes(workspace, teacher_ckpt):
    work_dir = workspace / 'dld_dist'
    out = _run(['env', f'PYTHON={sys.executable}', 'PORT=29623', 'bash',
                osp.join(TOOLS_DIR, 'dist_train.sh'), DLD_CFG, '2', '--work-dir',
                str(work_dir), '--cfg-options', f'model.teacher_ckpt={teacher_ckpt}',
                'train_cfg.val_interval=100'], cwd=workspace)
    log = next(work_dir.glob('*/*.log')).read_text()
    assert 'Distributed training: True' in log
    assert 'loss_drs_acc' in log and 'loss_skd_roi' in log
    assert (work_dir / 'iter_2.pth').is_file(), out[-3000:]


@pytest.mark.slow
def test_resume_reuses_the_costs_of_the_checkpoint(workspace, teacher_ckpt):
    work_dir = workspace / 'dld_resume'
    common = [sys.executable, osp.join(TOOLS_DIR, 'train.py'), DLD_CFG, '--work-dir',
              str(work_dir)]
    options = ['--cfg-options', f'model.teacher_ckpt={teacher_ckpt}', 'train_cfg.val_interval=100',
               'default_hooks.checkpoint.interval=1']
    out = _run(common + options + ['train_cfg.max_iters=1'], cwd=workspace)
    assert 'DLD costs measured on a batch' in out
    # The work dir now holds checkpoints: a new run without --resume is refused.
    out = _run(common + options, cwd=workspace, expect_ok=False)
    assert f'the work dir {work_dir} already holds checkpoints' in out
    out = _run(common + ['--resume'] + options + ['train_cfg.max_iters=2'], cwd=workspace)
    assert 'Resumed' in out or 'resumed' in out, out[-3000:]
    assert 'DLD costs measured on a batch' not in out
    first, second = (torch.load(work_dir / f'iter_{i}.pth', map_location='cpu',
                                weights_only=False)['state_dict'] for i in (1, 2))
    for key in ('cost_table.stored_scale_costs', 'cost_table.stored_scale_gflops',
                'cost_table.stored_selector_gflops'):
        assert torch.isfinite(first[key]).all() and torch.equal(first[key], second[key]), key
