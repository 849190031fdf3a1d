"""Times one DLD training step against one SKD-only step on the same batch (CPU).

A DLD step runs the teacher, the DRS, the student at all ``k`` candidate scales without
gradients, and the student with gradients at the chosen scales; an SKD-only step runs the teacher
and the student at one fixed scale. Both models get the same teacher, the same student weights
(copied from the teacher) and the same pre-processed batch; each timed step is forward, backward
and an AdamW step with learning rate 0 (so that the weights, hence the work, stay the same
across repeats). The two are timed alternately, so that load from other processes affects both,
and the medians are compared::

    python tools/analysis_tools/benchmark_dld_step.py DLD_CONFIG SKD_CONFIG --repeats 7

with ``DLD_CONFIG`` ``configs/dld/dld_r18_synthetic_small.py`` and ``SKD_CONFIG``
``configs/dld/skd_only_r18_synthetic_small.py`` (the figures of ``docs/benchmarks.md``).

The first-batch FLOPs measurement (``prepare_costs``, when the config has no ``scale_costs``) is
done before the timing. The output is a Markdown section for ``docs/benchmarks.md``.
"""
import argparse
import os
import platform
import statistics
import time
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmengine.runner import Runner, set_random_seed

from mmdld.registry import MODELS


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parses the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('dld_config', help='DLD config (with a selector)')
    parser.add_argument('skd_config', help='SKD-only config (selector=None, fixed_scale)')
    parser.add_argument('--teacher-ckpt', help='teacher checkpoint (default: random teacher)')
    parser.add_argument('--batch-size', type=int, default=2, help='images per step')
    parser.add_argument('--repeats', type=int, default=7, help='timed steps of each kind')
    parser.add_argument('--warmup', type=int, default=1, help='untimed steps of each kind')
    parser.add_argument('--threads', type=int, default=1, help='torch CPU threads')
    parser.add_argument('--seed', type=int, default=0, help='seed of weights and Gumbel noise')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='overrides of the DLD config, `key=value` (e.g. '
                        '"model.selector.scales=(0.8,0.7,0.6)")')
    return parser.parse_args(argv)


def build(config: str, args: argparse.Namespace, cfg_options: Optional[dict] = None) -> tuple:
    """The model of ``config`` (seeded, so both configs get the same teacher) and the config."""
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if args.teacher_ckpt:
        cfg.model.teacher_ckpt = args.teacher_ckpt
    init_default_scope(cfg.get('default_scope', 'mmdld'))
    torch.manual_seed(args.seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    return model, cfg


def first_batch(cfg: Config, batch_size: int) -> dict:
    """One training batch of the config's dataloader."""
    loader_cfg = cfg.train_dataloader.copy()
    loader_cfg.update(batch_size=batch_size, num_workers=0, persistent_workers=False)
    loader_cfg.pop('batch_sampler', None)
    # The augmentations draw from numpy/random too: seed everything for a reproducible batch.
    set_random_seed(0)
    return next(iter(Runner.build_dataloader(loader_cfg, seed=0)))


def timed_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, data: dict,
               seed: int) -> tuple:
    """Seconds of forward + backward + optimizer step, and the step's log values."""
    torch.manual_seed(seed)
    start = time.perf_counter()
    losses = model(**data, mode='loss')
    loss, log_vars = model.parse_losses(losses)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return time.perf_counter() - start, log_vars


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, float]:
    """Runs the benchmark, prints the Markdown section and returns the figures."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    dld, dld_cfg = build(args.dld_config, args, args.cfg_options)
    skd, _ = build(args.skd_config, args)
    if dld.selector is None or skd.selector is not None:
        raise ValueError('benchmark_dld_step: the first config must have a selector (DLD), the '
                         'second none (SKD-only)')
    batch = first_batch(dld_cfg, args.batch_size)
    data = dld.data_preprocessor(batch, True)
    shape = tuple(data['inputs'].shape)
    dld.prepare_costs(data['inputs'], data['data_samples'])
    skd.prepare_costs(data['inputs'], data['data_samples'])
    optims = {
        name: torch.optim.AdamW(model.parameters(), lr=0.0)
        for name, model in (('dld', dld), ('skd', skd))
    }
    times: Dict[str, List[float]] = dict(dld=[], skd=[])
    scales: List[float] = []
    for step in range(args.warmup + args.repeats):
        for name, model in (('dld', dld), ('skd', skd)):
            seconds, log_vars = timed_step(model, optims[name], data, args.seed + step)
            if step >= args.warmup:
                times[name].append(seconds)
                if name == 'dld':
                    scales.append(float(log_vars['drs_avg_scale']))
    dld_s, skd_s = statistics.median(times['dld']), statistics.median(times['skd'])
    # Each DLD step is paired with the SKD step right after it; the median of these ratios is
    # robust to load from other processes that drifts over the run.
    pair_ratio = statistics.median(d / s for d, s in zip(times['dld'], times['skd']))
    figures = dict(dld_s=dld_s, skd_s=skd_s, ratio=dld_s / skd_s, pair_ratio=pair_ratio,
                   avg_scale=statistics.mean(scales))

    cmd = ('python tools/analysis_tools/benchmark_dld_step.py '
           f'{args.dld_config} {args.skd_config} --batch-size {args.batch_size} '
           f'--repeats {args.repeats} --threads {args.threads}')
    if args.teacher_ckpt:
        cmd += f' --teacher-ckpt {args.teacher_ckpt}'
    if args.cfg_options:
        cmd += ' --cfg-options ' + ' '.join(f'{k}={v}' for k, v in args.cfg_options.items())
    print('## DLD training step cost\n')
    print(f'`{cmd}`\n')
    print(f'Machine: {os.cpu_count()}-core CPU ({platform.processor() or platform.machine()}), '
          f'{args.threads} torch thread(s), torch {torch.__version__}. Batch of '
          f'{args.batch_size} synthetic training images, padded input {shape[2]} x {shape[3]}; '
          f'DLD scales {list(dld.scales)}, SKD-only scale {skd.scales[0]}; median of '
          f'{args.repeats} alternating steps (forward + backward + AdamW step).\n')
    print('| step | median time (s) | all times (s) |')
    print('| --- | --- | --- |')
    for name, label in (('dld', 'DLD (k = %d)' % len(dld.scales)), ('skd', 'SKD-only')):
        print(f'| {label} | {statistics.median(times[name]):.3f} | '
              f'{", ".join(f"{t:.2f}" for t in times[name])} |')
    print(f'\nDLD / SKD-only: **{figures["ratio"]:.2f}x** (ratio of the medians), '
          f'{figures["pair_ratio"]:.2f}x (median of the per-pair ratios); average chosen scale '
          f'of the DLD steps {figures["avg_scale"]:.3f}, `scale_pass_dtype` '
          f'{dld.scale_pass_dtype!r}.')
    return figures


if __name__ == '__main__':
    main()
