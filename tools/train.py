# Copyright (c) OpenMMLab. All rights reserved. Adapted from MMDetection 3.x tools/train.py.
"""Train a text spotter or a DLD student with MMEngine's Runner.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT] | --overwrite] [--amp]
                          [--cfg-options k=v]
    bash tools/dist_train.sh CONFIG GPUS            # torch.distributed, launcher=pytorch
    mim train mmdld CONFIG [--gpus N --launcher pytorch]

Before the Runner is built, three guards run on the config: a work dir that already holds
checkpoints is refused without ``--resume`` or ``--overwrite``; a DLD config without
``model.teacher_ckpt`` is refused (:func:`mmdld.models.distillers.check_teacher_for_training`);
top-level keys close to, but not, a key the Runner reads (``default_hook``) are reported.
"""
import argparse
import difflib
import glob
import logging
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple

from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import mmdld  # noqa: F401  (registers mmdld's checkpoint loader and `mmdld::` configs)
from mmdld.models.distillers import check_teacher_for_training
from mmdld.utils import apply_flush_denormal, register_all_modules
from mmdld.utils.dist import close_distributed, setup_cpu_distributed

#: Top-level config keys that MMEngine's ``Runner.from_cfg``/``Runner.__init__`` or these tools
#: read; any other top-level name of a config is a helper variable (``train_pipeline``,
#: ``short_side``, ...) and is only reported when it looks like a misspelling of one of these.
KNOWN_KEYS = frozenset({
    'model', 'work_dir', 'train_dataloader', 'val_dataloader', 'test_dataloader', 'train_cfg',
    'val_cfg', 'test_cfg', 'auto_scale_lr', 'optim_wrapper', 'param_scheduler',
    'val_evaluator', 'test_evaluator', 'default_hooks', 'custom_hooks', 'data_preprocessor',
    'load_from', 'resume', 'launcher', 'env_cfg', 'log_processor', 'log_level', 'visualizer',
    'default_scope', 'randomness', 'experiment_name', 'model_wrapper_cfg',
    'find_unused_parameters', 'runner_type', 'compile', 'custom_imports'
})
#: difflib ratio from which an unknown key is taken for a misspelling of a known one.
CLOSE_RATIO = 0.8


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a text spotter / DLD student')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--amp', action='store_true', default=False,
        help='enable automatic-mixed-precision training')
    parser.add_argument(
        '--auto-scale-lr', action='store_true', help='enable automatically scaling LR.')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='If specify checkpoint path, resume from it, while if not specify, try to auto '
        'resume from the latest checkpoint in the work directory.')
    parser.add_argument(
        '--overwrite', action='store_true',
        help='train from scratch into a work dir that already holds checkpoints (they are '
        'overwritten); without it or --resume such a work dir is refused')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override some settings in the used config, the key-value pair in xxx=yyy format '
        'will be merged into config file.')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
        help='job launcher')
    # torch.distributed.launch passes --local-rank (torch>=2.0) or --local_rank.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def misspelt_keys(cfg: Config) -> List[Tuple[str, str]]:
    """Top-level keys of ``cfg`` that look like a misspelt known key: ``(key, closest)``.

    Names starting with ``_`` (``_base_``) and names not close to any known key (helper
    variables of the configs) are not reported.
    """
    found = []
    for key in cfg.keys():
        if key.startswith('_') or key in KNOWN_KEYS:
            continue
        close = difflib.get_close_matches(key, KNOWN_KEYS, n=1, cutoff=CLOSE_RATIO)
        if close:
            found.append((key, close[0]))
    return sorted(found)


def warn_misspelt_keys(cfg: Config, config: str) -> None:
    """Logs a warning listing the misspelt top-level keys of ``cfg`` with their closest key."""
    found = misspelt_keys(cfg)
    if found:
        listed = ', '.join(f'`{key}` (did you mean `{close}`?)' for key, close in found)
        print_log(f'{config}: unknown top-level config keys, ignored by the Runner: {listed}',
                  logger='current', level=logging.WARNING)


def checkpoints_in(work_dir: str) -> List[str]:
    """The checkpoint files (``*.pth``) and ``last_checkpoint`` in ``work_dir``, by name."""
    names = [osp.basename(p) for p in glob.glob(osp.join(glob.escape(work_dir), '*.pth'))]
    if osp.isfile(osp.join(work_dir, 'last_checkpoint')):
        names.append('last_checkpoint')
    return sorted(names)


def check_work_dir(work_dir: str, resume: bool, overwrite: bool) -> None:
    """Refuses a work dir holding checkpoints unless the run resumes or overwrites on purpose.

    Raises:
        SystemExit: With a message naming the work dir, its checkpoints and both flags.
    """
    if resume or overwrite:
        return
    found = checkpoints_in(work_dir)
    if found:
        shown = ', '.join(found[:5]) + (f' (+{len(found) - 5} more)' if len(found) > 5 else '')
        raise SystemExit(
            f'error: the work dir {work_dir} already holds checkpoints ({shown}); a new run '
            'would overwrite them. Pass --resume to continue that run, --overwrite to train '
            'from scratch over it, or another --work-dir.')


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    if args.resume is not None and args.overwrite:
        raise SystemExit('error: --resume and --overwrite exclude each other')
    register_all_modules(init_default_scope=False)

    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    warn_misspelt_keys(cfg, args.config)
    # Before anything starts PyTorch's thread pool, whose threads inherit the setting.
    apply_flush_denormal(cfg.get('env_cfg'))

    # work_dir priority: CLI > config > ./work_dirs/<config name>
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])

    if args.amp:
        optim_wrapper = cfg.optim_wrapper.type
        if optim_wrapper == 'AmpOptimWrapper':
            print('AMP training is already enabled in your config.')
        else:
            assert optim_wrapper == 'OptimWrapper', (
                '`--amp` is only supported when the optimizer wrapper type is '
                f'`OptimWrapper` but got {optim_wrapper}.')
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'

    if args.auto_scale_lr:
        if ('auto_scale_lr' in cfg and 'enable' in cfg.auto_scale_lr
                and 'base_batch_size' in cfg.auto_scale_lr):
            cfg.auto_scale_lr.enable = True
        else:
            raise RuntimeError('Can not find "auto_scale_lr" or "auto_scale_lr.enable" or '
                               '"auto_scale_lr.base_batch_size" in your configuration file.')

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    check_work_dir(cfg.work_dir, bool(cfg.get('resume', False)), args.overwrite)
    try:
        check_teacher_for_training(cfg)
    except ValueError as err:
        raise SystemExit(f'error: {args.config}: {err}') from err

    setup_cpu_distributed(cfg)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    runner.train()
    close_distributed()


if __name__ == '__main__':
    main()
