"""Measures the relative FLOPs ``T_i`` of a spotter at DLD's candidate scales (paper eq. 3).

Counts the whole test step (detection, masks, the recognition of every detection, each decoder
step; the project's one FLOP counter, ``mmdld.models.task_modules``) at full resolution and at
each scale, averaged over held-out images, and prints the GFLOPs per image, config lines to
paste into a DLD config (the absolute ``scale_gflops`` and the relative ``scale_costs``) and the
share of each part of the spotter at full resolution, e.g.::

    python tools/analysis_tools/measure_scale_costs.py configs/demo/dld_r18w32_demo.py \
        --checkpoint work_dirs/demo/teacher/iter_2500.pth

``--out`` (by default ``scale_costs.json`` beside ``--checkpoint``) writes them as JSON
(``scales``, ``scale_gflops``, ``scale_costs``, ``reference_gflops``, ``num_images``, ``config``,
``checkpoint``, and for a DLD config the DRS's ``selector_gflops`` and ``selector_share`` of the
reference), which a DLD config reads with ``model.scale_costs_file``.

The images (``--num-images``, default 50, one per batch) come from the config's validation
dataloader, or its test dataloader when it has none (``--split``): images like the test set,
resized by its pipeline to the teacher's resolution, not the first training batch that a DLD
model measures on when it is given no costs. ``--shape H W`` measures a blank ``H x W`` image
instead (no dataset needed, but detections, and so the heads' share of the cost, are then
untypical). The heads' cost follows the number of detections and the decoder's the words'
lengths: measure with the weights that will be distilled (``--checkpoint``); with random
weights, keep a fixed number of detections (``--cfg-options
model.student.test_cfg.rcnn.score_thr=0`` keeps the config's ``max_per_img``).
"""
import argparse
import json
import os.path as osp
from collections import Counter
from typing import List, Optional, Sequence

from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope

from mmdld.evaluation.cost_inputs import (blank_batches, dataset_batches, default_split,
                                          format_costs, load_weights, select_model_cfg,
                                          selector_flops_of)
from mmdld.models.selectors.dynamic_resolution_selector import DEFAULT_SCALES
from mmdld.models.task_modules import spotter_parts
from mmdld.models.utils import measure_scale_flops, normalise_costs
from mmdld.registry import MODELS


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parses the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file of the spotter (or of a DLD model)')
    parser.add_argument('--scales', type=float, nargs='+', default=list(DEFAULT_SCALES),
                        help='candidate scales (default: the paper\'s 0.8 ... 0.3)')
    parser.add_argument('--checkpoint', help='weights of the measured spotter (detections '
                        'depend on them); a DLD checkpoint gives its student')
    parser.add_argument('--model-key', default=None,
                        help='dotted config key of the model to measure (default: '
                        '`model.student` if the config has one, else `model`)')
    parser.add_argument('--split', choices=['train', 'val', 'test'], default=None,
                        help='dataloader whose images are measured (default: val, or test '
                        'when the config has no val_dataloader)')
    parser.add_argument('--num-images', type=int, default=50,
                        help='number of images to average over (default: 50)')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='measure one blank H x W image instead of dataset images')
    parser.add_argument('--out', help='write the costs as JSON (default with --checkpoint: '
                        'scale_costs.json beside it)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, `key=value`')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> List[float]:
    """Runs the tool; returns the relative costs it printed."""
    args = parse_args(argv)
    if args.num_images < 1:
        raise ValueError(f'--num-images must be >= 1, got {args.num_images}')
    if any(not 0 < s for s in args.scales):
        raise ValueError(f'--scales must be > 0, got {args.scales}')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdld'))

    model = MODELS.build(select_model_cfg(cfg, args.model_key))
    if args.checkpoint:
        load_weights(model, args.checkpoint)
    else:
        print('No --checkpoint: random weights; the heads\' cost follows the number of '
              'detections (see --help)')
    split = args.split or default_split(cfg)
    batches = blank_batches(args.shape) if args.shape else list(
        dataset_batches(cfg, split, args.num_images))
    if not batches:
        raise ValueError(f'measure_scale_costs: the {split} dataloader of {args.config} is '
                         'empty')

    parts: Counter = Counter()
    scales = [1.0, *args.scales]

    def add_parts(index: int, count) -> None:
        if index == 0:  # full resolution
            parts.update(spotter_parts(count))

    flops = measure_scale_flops(model, batches, scales, on_count=add_parts)
    num_images = sum(len(batch['inputs']) for batch in batches)
    costs = normalise_costs(flops[1:], flops[0])
    print(f'Images: {num_images} ({"blank " + str(tuple(args.shape)) if args.shape else split})')
    print(f'{"scale":>6}  {"GFLOPs/img":>10}  {"relative":>8}')
    for scale, gflops, cost in zip(scales, flops, [1.0, *costs]):
        print(f'{scale:>6.2f}  {gflops / 1e9:>10.3f}  {cost:>8.4f}')
    total = parts['total']
    print('Parts at full resolution (GFLOPs/img, share):')
    for part, value in parts.items():
        if part != 'total':
            print(f'  {part:<18} {value / num_images / 1e9:>8.4f}  {100 * value / total:5.1f}%')
    result = dict(scales=list(args.scales), scale_gflops=[f / 1e9 for f in flops[1:]],
                  scale_costs=costs, reference_gflops=flops[0] / 1e9, num_images=num_images,
                  config=args.config, checkpoint=args.checkpoint,
                  images=f'blank {list(args.shape)}' if args.shape else split,
                  parts_gflops={k: v / num_images / 1e9 for k, v in parts.items()})
    if 'selector' in cfg.model and cfg.model.selector is not None:
        selector = MODELS.build(cfg.model.selector).eval()
        drs = [selector_flops_of(model, selector, batch) for batch in batches]
        result['selector_gflops'] = sum(drs) / num_images / 1e9
        result['selector_share'] = result['selector_gflops'] / result['reference_gflops']
        print(f'DRS: {result["selector_gflops"]:.4f} GFLOPs/img, '
              f'{100 * result["selector_share"]:.2f}% of the full-resolution step (the '
              'teacher\'s, for a student of its architecture)')
    # Absolute GFLOPs per scale, for reporting the cost of the chosen scale at test time.
    print('scale_gflops=[' + ', '.join(f'{f / 1e9:.4f}' for f in flops[1:]) + ']')
    print(format_costs(costs))
    out = args.out or (osp.join(osp.dirname(args.checkpoint), 'scale_costs.json')
                       if args.checkpoint else None)
    if out:
        with open(out, 'w', encoding='utf-8') as f:
            json.dump(result, f, indent=2)
        print(f'written to {out} (a DLD config reads it with model.scale_costs_file)')
    return costs


if __name__ == '__main__':
    main()
