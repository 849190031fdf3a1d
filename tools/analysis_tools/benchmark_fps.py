"""Inference speed (images per second) of a spotter or a DLD model on its test set.

Example::

    python tools/analysis_tools/benchmark_fps.py configs/dld/dld_r50_totaltext.py \\
        work_dirs/dld_r50_totaltext/epoch_50.pth --max-iter 200 --repeat-num 3

Times ``model.test_step`` (data preprocessing and the whole prediction; data loading excluded)
one image per batch, after ``--num-warmup`` images, on CUDA when available, else on the CPU.
MMDetection's ``InferenceBenchmark`` is not used because it requires CUDA.
"""
import argparse
import json

import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.logging import MMLogger
from mmengine.runner import Runner

from mmdld.apis import init_spotter
from mmdld.evaluation.cost import benchmark_inference
from mmdld.utils import apply_flush_denormal, merge_into_json


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Images per second of a text spotter')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', nargs='?', default=None,
                        help='checkpoint (random weights when omitted)')
    parser.add_argument('--max-iter', type=int, default=200, help='images to run, warm-up included')
    parser.add_argument('--num-warmup', type=int, default=5, help='images left out of the timing')
    parser.add_argument('--log-interval', type=int, default=50, help='log every this many images')
    parser.add_argument('--repeat-num', type=int, default=1, help='repeat and average')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--out', help='write the result as JSON')
    parser.add_argument(
        '--merge-json', metavar='FILE',
        help='add "FPS" to a results JSON written by E2ESpottingMetric '
        '(<outfile_dir>/spotting_results.json), next to the accuracy in the paper\'s names')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings of the config, key=value pairs')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    logger = MMLogger.get_instance('mmdld_benchmark_fps')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    # As tools/test.py runs it, and before PyTorch's thread pool starts.
    apply_flush_denormal(cfg.get('env_cfg'))
    model = init_spotter(cfg, args.checkpoint, args.device)
    data_loader = Runner.build_dataloader(dict(model.cfg.test_dataloader, batch_size=1))
    runs = [
        benchmark_inference(model, data_loader, args.max_iter, args.num_warmup,
                            args.log_interval, logger) for _ in range(args.repeat_num)
    ]
    fps = [run['fps'] for run in runs]
    result = dict(fps=float(np.mean(fps)), fps_list=fps, ms_per_image=1000 / float(np.mean(fps)),
                  num_images=runs[0]['num_images'], device=args.device)
    logger.info(f'Overall fps: {result["fps"]:.2f} img/s ({result["ms_per_image"]:.1f} ms/img, '
                f'{result["num_images"]} images timed per run, {args.repeat_num} run(s), '
                f'{args.device})')
    if args.out:
        with open(args.out, 'w', encoding='utf-8') as f:
            json.dump(dict(result, config=args.config, checkpoint=args.checkpoint), f, indent=2)
    if args.merge_json:
        merge_into_json(args.merge_json, {'FPS': round(result['fps'], 2)})
        logger.info(f'FPS added to {args.merge_json}')
    return result


if __name__ == '__main__':
    main()
