"""Calibrates a trained DRS to a mean-cost budget and writes the config of the deployed model.

The DRS of a DLD checkpoint picks ``argmax(logits)``; deployed with a ``cost_offset`` ``b`` it
picks ``argmax(logits - b * costs)``, and the mean cost over images falls as ``b`` grows. The
tool collects the DRS logits of ``--num-images`` images of a split, finds by bisection the
smallest ``b`` whose choices meet ``--budget`` on them
(:func:`mmdld.models.selectors.calibrate_offset`) and writes a config that inherits the given
one with ``model.selector.cost_offset`` and ``offset_costs`` set, e.g.::

    python tools/analysis_tools/calibrate_drs_budget.py configs/demo/dld_r18w32_demo.py \\
        work_dirs/demo/student/iter_100.pth --budget 0.5 \\
        --out work_dirs/demo/student/dld_budget0.5.py
    python tools/test.py work_dirs/demo/student/dld_budget0.5.py \\
        work_dirs/demo/student/iter_100.pth

``--unit`` says what the budget counts: ``relative`` (default; ``T_i`` of the model's cost
table, relative to the teacher at full resolution), ``gflops`` (GFLOPs per image, the DRS
included, as ``cost/gflops`` reports them) or ``ms`` (milliseconds per image on the device of
``--latency-file``, written by ``measure_scale_latency.py``, the DRS included). The budget is
met on the calibration images; on other images the mean cost is near it, not bounded by it.
The images (``--split``, default val, else test; one per batch) pass the config's test-time
pipeline. ``--cfg-options`` apply to the calibration and are written into the config.
"""
import argparse
import copy
import itertools
import os
import os.path as osp
import pprint
from typing import Any, Dict, Iterator, Optional, Sequence

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from mmdld.apis import init_spotter
from mmdld.apis.inference import calibrate_budget
from mmdld.evaluation.cost_inputs import default_split
from mmdld.models.selectors.budget_costs import BUDGET_UNITS, load_latency_file


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parses the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file of the DLD model')
    parser.add_argument('checkpoint', help='the trained DLD checkpoint (its DRS and student)')
    parser.add_argument('--budget', type=float, required=True,
                        help='mean cost per image to meet, in --unit')
    parser.add_argument('--unit', choices=BUDGET_UNITS, default='relative',
                        help='unit of --budget (default: relative, the T_i of the model)')
    parser.add_argument('--latency-file', help='measure_scale_latency.py --out file: the '
                        'milliseconds per scale for --unit ms (also reported for the others)')
    parser.add_argument('--split', choices=['train', 'val', 'test'], default=None,
                        help='images to calibrate on (default: val, or test when the config '
                        'has no val_dataloader)')
    parser.add_argument('--num-images', type=int, default=50,
                        help='number of calibration images (default: 50)')
    parser.add_argument('--out', help='the config to write (default: <config name>_budget'
                        '<budget><unit>.py beside the checkpoint)')
    parser.add_argument('--device', default='cpu', help='device of the model (default: cpu)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings for the calibration, `key=value`')
    return parser.parse_args(argv)


def calibration_batches(cfg: Config, split: str, num_images: int) -> Iterator[dict]:
    """The first ``num_images`` images of a split, one per batch, through the test pipeline.

    The DRS must see the images as it will at test time, so a training split's images get the
    test pipeline instead of the training augmentation.
    """
    key = f'{split}_dataloader'
    if not cfg.get(key):
        raise KeyError(f'calibrate_drs_budget: the config has no `{key}`; use --split')
    dataset = copy.deepcopy(cfg[key]['dataset'])
    if 'pipeline' not in dataset:
        raise KeyError(f'calibrate_drs_budget: `{key}.dataset` has no `pipeline` to replace '
                       'with the test pipeline')
    dataset['pipeline'] = copy.deepcopy(cfg.test_dataloader.dataset.pipeline)
    loader = Runner.build_dataloader(dict(
        dataset=dataset, batch_size=1, num_workers=0, persistent_workers=False,
        sampler=dict(type='DefaultSampler', shuffle=False)))
    return itertools.islice(loader, num_images)


def default_out(config: str, checkpoint: str, budget: float, unit: str) -> str:
    """``<config name>_budget<budget>[<unit>].py`` beside the checkpoint."""
    stem = osp.splitext(osp.basename(config))[0]
    suffix = '' if unit == 'relative' else unit
    return osp.join(osp.dirname(osp.abspath(checkpoint)), f'{stem}_budget{budget:g}{suffix}.py')


def nest_options(options: Dict[str, Any]) -> Dict[str, Any]:
    """``{'model.a.b': v}`` as ``{'model': {'a': {'b': v}}}`` (the config's own layout)."""
    nested: Dict[str, Any] = {}
    for key, value in options.items():
        *parents, leaf = key.split('.')
        if any(part.isdigit() for part in key.split('.')):
            raise ValueError(f'calibrate_drs_budget: --cfg-options key {key!r} indexes a list; '
                             'the written config cannot state it, set it in the config itself')
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f'calibrate_drs_budget: --cfg-options set both {part!r} and '
                                 f'keys below it')
        node[leaf] = value
    return nested


def config_text(config: str, out: str, selector: Dict[str, Any], record: Dict[str, Any],
                cfg_options: Optional[dict]) -> str:
    """The deployed config: the given one as ``_base_``, the calibration's ``--cfg-options``
    and the DRS offset on top."""
    config, out_dir = osp.abspath(config), osp.dirname(osp.abspath(out))
    # Relative when both lie in one tree (a repository and its work_dirs), else absolute.
    shared = osp.commonpath([config, out_dir])
    base = osp.relpath(config, out_dir) if shared != osp.dirname(shared) else config
    settings = nest_options(dict(cfg_options or {}))
    model = settings.setdefault('model', {})
    model['selector'] = dict(model.get('selector') or {}, **selector)
    lines = [
        '# The DRS calibrated to a mean-cost budget by',
        '# tools/analysis_tools/calibrate_drs_budget.py (docs/budget.md): on the images of',
        '# `drs_budget`, argmax(logits - cost_offset * offset_costs) meets the budget.',
        f'_base_ = [{base!r}]',
        '',
    ]
    for key, value in settings.items():
        lines.append(f'{key} = ' + pprint.pformat(value, width=96, sort_dicts=False))
    lines += ['', 'drs_budget = ' + pprint.pformat(record, width=96, sort_dicts=False), '']
    return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Runs the tool; returns what it recorded in the written config (``drs_budget``)."""
    args = parse_args(argv)
    if args.num_images < 1:
        raise ValueError(f'--num-images must be >= 1, got {args.num_images}')
    if args.unit == 'ms' and not args.latency_file:
        raise ValueError('calibrate_drs_budget: --unit ms needs --latency-file (the JSON of '
                         'measure_scale_latency.py --out)')
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'calibrate_drs_budget: checkpoint {args.checkpoint} does not '
                                'exist')
    options = dict(args.cfg_options or {})
    model = init_spotter(args.config, args.checkpoint, args.device, options)
    if getattr(model, 'selector', None) is None:
        raise ValueError(f'calibrate_drs_budget: {args.config} is no DLD model with a DRS '
                         '(`model.selector`); there is no choice of scale to calibrate')
    cfg = model.cfg
    split = args.split or default_split(cfg)
    batches = calibration_batches(cfg, split, args.num_images)
    calibration, costs = calibrate_budget(model, batches, args.budget, args.unit,
                                          args.latency_file)
    scales = list(model.scales)
    counts = {f'{s:g}': n for s, n in zip(scales, calibration.counts)}
    shares = [n / calibration.num_images for n in calibration.counts]
    means = dict(relative=sum(w * c for w, c in zip(shares, model.scale_costs)),
                 gflops=sum(w * model.gflops_at(j) for j, w in enumerate(shares)))
    if args.latency_file:
        latency = load_latency_file(args.latency_file, scales)
        means['ms'] = sum(w * (ms + latency['selector_ms'])
                          for w, ms in zip(shares, latency['scale_ms']))
    record = dict(
        budget=args.budget, unit=args.unit, offset=calibration.offset,
        mean_cost=calibration.mean_cost, unbudgeted_cost=calibration.unbudgeted_cost,
        mean_costs=means, images_per_scale=counts, num_images=calibration.num_images,
        split=split, config=args.config, checkpoint=args.checkpoint,
        costs_source=costs.source, saturated=calibration.saturated)

    unit = '' if args.unit == 'relative' else f' {args.unit}'
    print(f'{calibration.num_images} {split} images; budget {args.budget:g}{unit} per image')
    print(f'  without an offset: mean {calibration.unbudgeted_cost:.4g}{unit}')
    print(f'  cost_offset {calibration.offset:.6g}: mean {calibration.mean_cost:.4g}{unit}')
    print('  at that offset: ' + ', '.join(
        f'{k} {v:.4g}' for k, v in means.items()) + ' (means per image: T_i, GFLOPs, ms)')
    print('  images per scale: ' + ', '.join(f'{k}: {v}' for k, v in counts.items()))
    if calibration.saturated:
        print('  the budget is at or above the dearest scale\'s cost: every image takes it')
    out = args.out or default_out(args.config, args.checkpoint, args.budget, args.unit)
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    selector = dict(cost_offset=calibration.offset, offset_costs=costs.costs)
    with open(out, 'w', encoding='utf-8') as f:
        f.write(config_text(args.config, out, selector, record, options))
    if Config.fromfile(out).model.selector.get('cost_offset') != calibration.offset:
        raise RuntimeError(f'calibrate_drs_budget: {out} does not set the offset (does '
                           f'{args.config} build its selector elsewhere?)')
    print(f'written to {out} (test or deploy it with the same checkpoint)')
    return record


if __name__ == '__main__':
    main()
