"""Average FLOPs per test image of a spotter or a DLD model, at the resolution actually used.

Example::

    python tools/analysis_tools/get_flops.py configs/dld/dld_r50_totaltext.py \\
        work_dirs/dld_r50_totaltext/epoch_50.pth --num-images 100 --out flops.json

Every image of the test dataloader is run through the complete test step
(``model(..., mode='predict')``: detection, recognition of the detected instances and, for DLD
models, the Dynamic Resolution Selector with the scale it picks for that image) and counted by
the project's one FLOP counter (``mmdld.models.task_modules``: MMEngine's ``FlopAnalyzer``, one
multiply-add = one FLOP, plus recurrent layers, MMCV's RoIAlign and the attention decoder's
contractions; evaluation-only work such as ``test_cfg.rec_on_gt`` is left out). It prints the
average per image and the share of each part (DRS, backbone, neck, RPN, box and mask heads, RoI
extractors with RoIAlign, recognition convs, BiLSTM, decoder). Models that report
``dld_gflops`` in their predictions' metainfo get that average printed too.
"""
import argparse
import json

import torch
from mmengine.analysis import parameter_count
from mmengine.config import DictAction
from mmengine.logging import MMLogger
from mmengine.runner import Runner

from mmdld.apis import init_spotter
from mmdld.evaluation.cost import count_inference_flops, summarize_flops
from mmdld.utils import merge_into_json


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='FLOPs per image of a text spotter')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', nargs='?', default=None,
                        help='checkpoint (random weights when omitted: the number of detected '
                        'instances, hence the cost of recognition, then differs)')
    parser.add_argument('--num-images', type=int, default=100,
                        help='test images to average over (all of them when <= 0)')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--out', help='write the result as JSON')
    parser.add_argument(
        '--merge-json', metavar='FILE',
        help='add "FLOPS (G)" to a results JSON written by E2ESpottingMetric '
        '(<outfile_dir>/spotting_results.json), next to the accuracy in the paper\'s names')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings of the config, key=value pairs, e.g. '
        'test_dataloader.dataset.indices=10')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    logger = MMLogger.get_instance('mmdld_get_flops')
    model = init_spotter(args.config, args.checkpoint, args.device, args.cfg_options)
    data_loader = Runner.build_dataloader(dict(model.cfg.test_dataloader, batch_size=1))
    per_batch, num_images = [], 0
    for data_batch in data_loader:
        if 0 < args.num_images <= num_images:
            break
        # The first batch warms up one-off work (a DLD model's cost measurement) untraced.
        per_batch.append(count_inference_flops(model, data_batch, warmup=not per_batch))
        num_images += len(data_batch['inputs'])
    if not per_batch:
        raise SystemExit(f'get_flops.py: the test dataloader of {args.config} is empty')
    result = summarize_flops(per_batch, num_images)
    result['params_m'] = parameter_count(model)[''] / 1e6

    lines = ['=' * 40, f'Images: {num_images}',
             f'Input shapes: {", ".join(str(shape) for shape in result["input_shapes"])}',
             f'FLOPs per image (whole test step): {result["gflops"]:.3f} G']
    parts = result['parts_gflops']
    for part, gflops in parts.items():
        if part != 'total' and parts.get('total'):
            lines.append(f'  {part:<18} {gflops:8.4f} G  {100 * gflops / parts["total"]:5.1f}%')
    if 'dld_gflops' in result:
        lines.append(f'FLOPs per image reported by the model: {result["dld_gflops"]:.3f} G')
    if 'dld_scale' in result:
        lines.append(f'Average DLD scale: {result["dld_scale"]:.3f}')
    lines.append(f'Params (whole model, teacher included if any): {result["params_m"]:.2f} M')
    if result['unsupported_ops']:
        zero = ', '.join(f'{op} x{n}' for op, n in sorted(result['unsupported_ops'].items()))
        lines.append(f'Ops counted as zero: {zero}')
    lines.append('=' * 40)
    logger.info('\n'.join(lines))
    if args.out:
        result['input_shapes'] = [list(shape) for shape in result['input_shapes']]
        with open(args.out, 'w', encoding='utf-8') as f:
            json.dump(dict(result, config=args.config, checkpoint=args.checkpoint), f, indent=2)
        logger.info(f'written to {args.out}')
    if args.merge_json:
        merge_into_json(args.merge_json, {'FLOPS (G)': round(result['gflops'], 3)})
        logger.info(f'FLOPS (G) added to {args.merge_json}')
    return result


if __name__ == '__main__':
    main()
