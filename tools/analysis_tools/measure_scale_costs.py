"""Measures the relative FLOPs ``T_i`` of a spotter at DLD's candidate scales (paper eq. 3).

Prints the average GFLOPs per image at full resolution and at each scale, then config lines to
paste into a DLD config (the absolute ``scale_gflops`` and the relative ``scale_costs``), e.g.::

    python tools/analysis_tools/measure_scale_costs.py configs/spotter/maskrcnn_spotter.py \
        --scales 0.8 0.7 0.6 0.5 0.4 0.3 --num-images 20
    ...
    scale_costs=[0.6571, 0.5124, ...]

The images come from the config's dataloader (``--split``, default ``test``), resized by its
pipeline to the teacher's resolution; ``--shape H W`` measures a blank ``H x W`` image instead
(no dataset needed, but detections, and so the heads' share of the cost, are then untypical).
"""
import argparse
import itertools
from typing import Iterable, List, Optional, Sequence

import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmengine.runner import Runner, load_checkpoint

from mmdld.models.utils import measure_scale_flops, normalise_costs
from mmdld.registry import MODELS

DEFAULT_SCALES = (0.8, 0.7, 0.6, 0.5, 0.4, 0.3)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parses the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file of the spotter (or of a DLD model)')
    parser.add_argument('--scales', type=float, nargs='+', default=list(DEFAULT_SCALES),
                        help='candidate scales (default: the paper\'s 0.8 ... 0.3)')
    parser.add_argument('--checkpoint', help='optional weights (detections depend on them)')
    parser.add_argument('--model-key', default=None,
                        help='dotted config key of the model to measure (default: '
                        '`model.student` if the config has one, else `model`)')
    parser.add_argument('--split', choices=['train', 'val', 'test'], default='test',
                        help='dataloader whose images are measured (default: test)')
    parser.add_argument('--num-images', type=int, default=10,
                        help='number of images to average over (default: 10)')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='measure one blank H x W image instead of dataset images')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, `key=value`')
    return parser.parse_args(argv)


def select_model_cfg(cfg: Config, model_key: Optional[str]) -> dict:
    """Returns the model config at ``model_key`` (default ``model.student`` or ``model``)."""
    if 'model' not in cfg:
        raise KeyError('measure_scale_costs: the config has no `model`')
    if model_key is None:
        model_key = 'model.student' if 'student' in cfg.model else 'model'
    node = cfg
    for name in model_key.split('.'):
        if name not in node:
            raise KeyError(f'measure_scale_costs: the config has no key `{model_key}` '
                           f'(missing `{name}`)')
        node = node[name]
    if not isinstance(node, dict) or 'type' not in node:
        raise KeyError(f'measure_scale_costs: `{model_key}` is not a model config (a dict with '
                       f'`type`)')
    model_cfg = dict(node)
    if 'data_preprocessor' not in model_cfg and 'data_preprocessor' in cfg:
        model_cfg['data_preprocessor'] = cfg.data_preprocessor
    return model_cfg


def blank_batches(shape: Sequence[int]) -> List[dict]:
    """One batch with a single blank uint8 image of ``shape`` ``(H, W)``."""
    h, w = shape
    sample = DetDataSample(metainfo=dict(
        img_shape=(h, w), ori_shape=(h, w), scale_factor=(1., 1.), img_id=0, img_path=''))
    return [dict(inputs=[torch.zeros(3, h, w, dtype=torch.uint8)], data_samples=[sample])]


def dataset_batches(cfg: Config, split: str, num_images: int) -> Iterable[dict]:
    """The first ``num_images`` images of a dataloader of the config, one per batch."""
    key = f'{split}_dataloader'
    if key not in cfg:
        raise KeyError(f'measure_scale_costs: the config has no `{key}`; use --split or '
                       f'--shape')
    loader_cfg = cfg[key].copy()
    loader_cfg.update(batch_size=1, num_workers=0, persistent_workers=False)
    loader = Runner.build_dataloader(loader_cfg)
    return itertools.islice(loader, num_images)


def format_costs(costs: Sequence[float]) -> str:
    """The config line, e.g. ``scale_costs=[0.6571, 0.5124]``."""
    return 'scale_costs=[' + ', '.join(f'{c:.4f}' for c in costs) + ']'


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
        load_checkpoint(model, args.checkpoint, map_location='cpu')
    batches = blank_batches(args.shape) if args.shape else dataset_batches(
        cfg, args.split, args.num_images)

    flops = measure_scale_flops(model, batches, [1.0, *args.scales])
    costs = normalise_costs(flops[1:], flops[0])
    print(f'{"scale":>6}  {"GFLOPs/img":>10}  {"relative":>8}')
    for scale, gflops, cost in zip([1.0, *args.scales], flops, [1.0, *costs]):
        print(f'{scale:>6.2f}  {gflops / 1e9:>10.3f}  {cost:>8.4f}')
    # Absolute GFLOPs per scale, for reporting the cost of the chosen scale at test time.
    print('scale_gflops=[' + ', '.join(f'{f / 1e9:.4f}' for f in flops[1:]) + ']')
    print(format_costs(costs))
    return costs


if __name__ == '__main__':
    main()
