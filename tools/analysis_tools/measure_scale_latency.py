"""Measures the wall time of a spotter at the DLD candidate scales on this device (T_i as time).

The latency counterpart of ``measure_scale_costs.py`` (same images, same options): times the
whole test step of the student (``model.student`` of a DLD config, else ``model``) at full
resolution and at each scale on held-out images, and prints milliseconds per image, their
ratio to full resolution, and the GFLOPs beside them, e.g.::

    python tools/analysis_tools/measure_scale_latency.py configs/demo/dld_r18w32_demo.py \\
        --checkpoint work_dirs/demo/student/iter_100.pth --num-images 20

Timed per image and scale: the resize of the pre-processed batch to the scale (as the DLD
model makes it; none at 1.0) and the student's ``predict``; the DRS of a DLD config is timed
on the full-resolution batch. Data loading and pre-processing, common to every scale, are not.
Every image runs at every scale in turn (so that drift and other load on the machine spread
over the scales), ``--repeat`` times after ``--warmup`` untimed passes; the time of an image
at a scale is the median of its repeats, the table the mean over the images. On CUDA the
device is synchronised around every call.

``--out`` (by default ``scale_latency.json`` beside ``--checkpoint``) writes ``scales``,
``scale_ms``, ``reference_ms``, ``scale_costs`` (``scale_ms / reference_ms``: the relative
latency), ``selector_ms``, the GFLOPs (``scale_gflops``, ``reference_gflops``,
``flops_costs``, ``selector_gflops``), the device and the settings. A DLD config reads it with
``model.scale_costs_file`` (then ``T_i`` is the relative latency, and the GFLOPs reported per
test image stay GFLOPs); ``calibrate_drs_budget.py --unit ms --latency-file`` and
``inference_spotter(budget_unit='ms', latency_file=...)`` take budgets in milliseconds from it.

GFLOPs: counted on the same images (the project's FLOP counter, 2-8 s per image and scale
for the small models), or taken from a ``measure_scale_costs.py --out`` file
(``--flops-file``, same scales), or left out (``--no-flops``; the file then has no
``scale_gflops`` and cannot be a ``scale_costs_file``). Detections, hence the heads' time,
depend on the weights: measure the checkpoint that will be deployed.

Ours because MMDetection's ``InferenceBenchmark`` needs CUDA and times one model at its
config's resolution, and ``benchmark_fps.py`` does the same on the CPU.
"""
import argparse
import json
import os.path as osp
import statistics
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope

from mmdld.evaluation.cost_inputs import (blank_batches, dataset_batches, default_split,
                                          format_costs, load_weights, select_model_cfg,
                                          selector_flops_of)
from mmdld.models.selectors.dynamic_resolution_selector import DEFAULT_SCALES
from mmdld.models.utils import measure_scale_flops, normalise_costs, resize_batch
from mmdld.registry import MODELS
from mmdld.utils import machine_description


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parses the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file of the spotter (or of a DLD model)')
    parser.add_argument('--scales', type=float, nargs='+', default=None,
                        help='candidate scales (default: the DRS\'s of a DLD config, else the '
                        'paper\'s 0.8 ... 0.3)')
    parser.add_argument('--checkpoint', help='weights of the timed spotter (detections depend '
                        'on them); a DLD checkpoint gives its student')
    parser.add_argument('--model-key', default=None,
                        help='dotted config key of the model to time (default: '
                        '`model.student` if the config has one, else `model`)')
    parser.add_argument('--split', choices=['train', 'val', 'test'], default=None,
                        help='dataloader whose images are timed (default: val, or test when '
                        'the config has no val_dataloader)')
    parser.add_argument('--num-images', type=int, default=20,
                        help='number of images to average over (default: 20)')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='time one blank H x W image instead of dataset images')
    parser.add_argument('--warmup', type=int, default=1,
                        help='untimed passes over all images and scales first (default: 1)')
    parser.add_argument('--repeat', type=int, default=3,
                        help='timed passes; an image\'s time is their median (default: 3)')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu',
                        help='device to time on (default: cuda when available, else cpu)')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch intra-op threads on the CPU (default: torch\'s)')
    flops = parser.add_mutually_exclusive_group()
    flops.add_argument('--flops-file', help='take the GFLOPs from this measure_scale_costs.py '
                       '--out file instead of counting them')
    flops.add_argument('--no-flops', action='store_true',
                       help='leave the GFLOPs out (the file is then no scale_costs_file)')
    parser.add_argument('--out', help='write the table as JSON (default with --checkpoint: '
                        'scale_latency.json beside it)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, `key=value`')
    return parser.parse_args(argv)


def default_scales(cfg: Config) -> List[float]:
    """The DRS's scales of a DLD config, else the paper's."""
    selector = cfg.model.get('selector') if 'model' in cfg else None
    if selector and 'scales' in selector:
        return [float(s) for s in selector['scales']]
    return list(DEFAULT_SCALES)


def _synchronizer(device: torch.device) -> Callable[[], None]:
    return torch.cuda.synchronize if device.type == 'cuda' else (lambda: None)


def time_scales(model: torch.nn.Module,
                data: Sequence[dict],
                scales: Sequence[float],
                warmup: int = 1,
                repeat: int = 3) -> List[List[float]]:
    """Milliseconds per image of each pre-processed batch at each scale.

    Args:
        model (nn.Module): The spotter, in eval mode, on its device.
        data (Sequence[dict]): Pre-processed batches (``inputs``, ``data_samples``).
        scales (Sequence[float]): Scales; 1.0 runs the batch as it is.
        warmup (int): Untimed passes first.
        repeat (int): Timed passes; each batch's time is their median.

    Returns:
        list[list[float]]: ``[scale][batch]`` median milliseconds per image.
    """
    preprocessor = model.data_preprocessor
    size_divisor = int(getattr(preprocessor, 'pad_size_divisor', 1) or 1)
    pad_value = float(getattr(preprocessor, 'pad_value', 0))
    sync = _synchronizer(data[0]['inputs'].device)

    def step(batch: dict, scale: float) -> float:
        sync()
        start = time.perf_counter()
        inputs, samples = batch['inputs'], batch['data_samples']
        if scale != 1.0:
            # Test-time annotations stay in the original frame, as in DLD's predict.
            inputs, samples = resize_batch(inputs, samples, scale, size_divisor=size_divisor,
                                           pad_value=pad_value, rescale_gt=False)
        model(inputs, samples, mode='predict')
        sync()
        return 1000 * (time.perf_counter() - start) / batch['inputs'].size(0)

    runs: List[List[List[float]]] = [[[] for _ in data] for _ in scales]
    with torch.no_grad():
        for r in range(warmup + repeat):
            for i, batch in enumerate(data):
                for j, scale in enumerate(scales):
                    elapsed = step(batch, scale)
                    if r >= warmup:
                        runs[j][i].append(elapsed)
    return [[statistics.median(times) for times in per_scale] for per_scale in runs]


def time_selector(selector: torch.nn.Module, data: Sequence[dict], warmup: int = 1,
                  repeat: int = 3) -> float:
    """Milliseconds per image of the DRS (forward and argmax) at full resolution."""
    sync = _synchronizer(data[0]['inputs'].device)
    per_batch: List[List[float]] = [[] for _ in data]
    with torch.no_grad():
        for r in range(warmup + repeat):
            for i, batch in enumerate(data):
                shapes = [s.metainfo['img_shape'][:2] for s in batch['data_samples']]
                sync()
                start = time.perf_counter()
                selector.select(selector(batch['inputs'], shapes))
                sync()
                if r >= warmup:
                    per_batch[i].append(
                        1000 * (time.perf_counter() - start) / batch['inputs'].size(0))
    return statistics.mean(statistics.median(times) for times in per_batch)


def flops_from_file(path: str, scales: Sequence[float]) -> Dict[str, Any]:
    """GFLOPs of a ``measure_scale_costs.py --out`` file measured at the same scales."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'measure_scale_latency: --flops-file {path} does not exist')
    with open(path, encoding='utf-8') as f:
        data = json.load(f)
    for key in ('scales', 'scale_gflops', 'reference_gflops'):
        if key not in data:
            raise KeyError(f'measure_scale_latency: --flops-file {path} has no `{key}` (a '
                           'file of measure_scale_costs.py --out is needed)')
    if len(data['scales']) != len(scales) or any(
            abs(float(a) - float(b)) > 1e-6 for a, b in zip(data['scales'], scales)):
        raise ValueError(f'measure_scale_latency: --flops-file {path} was measured at the '
                         f'scales {data["scales"]}, these are {list(scales)}')
    return dict(scale_gflops=[float(g) for g in data['scale_gflops']],
                reference_gflops=float(data['reference_gflops']),
                selector_gflops=data.get('selector_gflops'))


def count_gflops(model: torch.nn.Module, batches: Sequence[dict], scales: Sequence[float],
                 selector: Optional[torch.nn.Module]) -> Dict[str, Any]:
    """GFLOPs per image of the whole test step at 1.0 and each scale, and of the DRS."""
    flops = measure_scale_flops(model, batches, [1.0, *scales])
    num_images = sum(len(b['inputs']) for b in batches)
    result = dict(scale_gflops=[f / 1e9 for f in flops[1:]], reference_gflops=flops[0] / 1e9,
                  selector_gflops=None)
    if selector is not None:
        drs = [selector_flops_of(model, selector, b) for b in batches]
        result['selector_gflops'] = sum(drs) / num_images / 1e9
    return result


def format_table(scales: Sequence[float], ms: Sequence[float],
                 gflops: Optional[Sequence[float]]) -> str:
    """The printed table: ms and GFLOPs per image, each relative to full resolution."""
    lines = [f'{"scale":>6}  {"ms/img":>9}  {"rel. time":>9}  {"GFLOPs/img":>10}  '
             f'{"rel. FLOPs":>10}']
    for j, scale in enumerate(scales):
        row = f'{scale:>6.2f}  {ms[j]:>9.2f}  {ms[j] / ms[0]:>9.4f}'
        if gflops is not None:
            row += f'  {gflops[j]:>10.3f}  {gflops[j] / gflops[0]:>10.4f}'
        lines.append(row)
    return '\n'.join(lines)


def slower_smaller_scales(scales: Sequence[float], ms: Sequence[float]) -> List[tuple]:
    """Pairs ``(smaller, larger)`` of scales where the smaller one took longer.

    Time should fall with the scale; where it does not, the table measured noise (a loaded
    machine) or something else than the scale (e.g. more detections to read).
    """
    order = sorted(range(len(scales)), key=lambda j: -scales[j])
    pairs = []
    for a, j in enumerate(order):
        for i in order[:a]:
            if scales[j] < scales[i] and ms[j] > ms[i]:
                pairs.append((scales[j], scales[i]))
    return pairs


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Runs the tool; returns the table it wrote (the JSON's content)."""
    args = parse_args(argv)
    if args.num_images < 1:
        raise ValueError(f'--num-images must be >= 1, got {args.num_images}')
    if args.repeat < 1 or args.warmup < 0:
        raise ValueError(f'--repeat must be >= 1 and --warmup >= 0, got {args.repeat} and '
                         f'{args.warmup}')
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdld'))
    scales = [float(s) for s in (args.scales or default_scales(cfg))]
    if any(not 0 < s for s in scales):
        raise ValueError(f'--scales must be > 0, got {scales}')
    device = torch.device(args.device)

    model = MODELS.build(select_model_cfg(cfg, args.model_key))
    if args.checkpoint:
        load_weights(model, args.checkpoint)
    else:
        print('No --checkpoint: random weights; the heads\' time follows the number of '
              'detections (see --help of measure_scale_costs.py)')
    model = model.to(device).eval()
    selector = None
    if cfg.model.get('selector') is not None:
        selector = MODELS.build(cfg.model.selector).to(device).eval()
    split = args.split or default_split(cfg)
    batches = blank_batches(args.shape) if args.shape else list(
        dataset_batches(cfg, split, args.num_images))
    if not batches:
        raise ValueError(f'measure_scale_latency: the {split} dataloader of {args.config} is '
                         'empty')
    with torch.no_grad():
        data = [model.data_preprocessor(batch, False) for batch in batches]

    timed = time_scales(model, data, [1.0, *scales], args.warmup, args.repeat)
    ms = [statistics.mean(per_image) for per_image in timed]
    num_images = sum(batch['inputs'].size(0) for batch in data)
    inversions = slower_smaller_scales([1.0, *scales], ms)
    result: Dict[str, Any] = dict(
        scales=scales, scale_ms=ms[1:], reference_ms=ms[0],
        scale_costs=normalise_costs(ms[1:], ms[0]), cost='latency',
        monotone=not inversions)
    if selector is not None:
        result['selector_ms'] = time_selector(selector, data, args.warmup, args.repeat)
        result['selector_share'] = result['selector_ms'] / ms[0]
    gflops = None
    if not args.no_flops:
        if args.flops_file:
            counted = flops_from_file(args.flops_file, scales)
        else:
            print(f'Counting GFLOPs on the {num_images} images (--flops-file or --no-flops '
                  'skip this)')
            counted = count_gflops(model, batches, scales, selector)
        gflops = [counted['reference_gflops'], *counted['scale_gflops']]
        result.update(counted, flops_costs=normalise_costs(gflops[1:], gflops[0]))
        if result.get('selector_gflops') is None:
            result.pop('selector_gflops')
    result.update(
        per_image_ms={f'{s:g}': per_image for s, per_image in zip([1.0, *scales], timed)},
        device=str(device), machine=machine_description(), threads=torch.get_num_threads(),
        num_images=num_images, images=f'blank {list(args.shape)}' if args.shape else split,
        warmup=args.warmup, repeat=args.repeat, config=args.config,
        checkpoint=args.checkpoint, gflops_source=(
            None if gflops is None else (args.flops_file or 'counted on the same images')))

    print(f'Images: {num_images} ({result["images"]}), {device}, {result["threads"]} torch '
          f'threads, median of {args.repeat} after {args.warmup} warm-up pass(es)')
    print(format_table([1.0, *scales], ms, gflops))
    if selector is not None:
        print(f'DRS: {result["selector_ms"]:.2f} ms/img, {100 * result["selector_share"]:.2f}% '
              'of the full-resolution step')
    if inversions:
        print('Warning: the time does not fall with the scale for ' + ', '.join(
            f'{small:g} (slower than {large:g})' for small, large in inversions)
              + ': time on an idle device, with more --repeat or --num-images')
    print(format_costs(result['scale_costs']) + '   # relative latency')
    out = args.out or (osp.join(osp.dirname(args.checkpoint), 'scale_latency.json')
                       if args.checkpoint else None)
    if out:
        with open(out, 'w', encoding='utf-8') as f:
            json.dump(result, f, indent=2)
        note = ('a DLD config reads it with model.scale_costs_file' if gflops is not None else
                'no GFLOPs in it, so it is no model.scale_costs_file')
        print(f'written to {out} ({note}; budgets in ms: calibrate_drs_budget.py --unit ms '
              '--latency-file)')
    return result


if __name__ == '__main__':
    main()
