"""Compare evaluation results with bootstrap intervals, from their ``per_image.json`` files.

Example::

    python tools/analysis_tools/compare_results.py \\
        work_dirs/vanilla/metrics/per_image.json work_dirs/dld/metrics/per_image.json \\
        --names Vanilla DLD --key e2e/none --reference 0 --out comparison.md

``per_image.json`` is what ``E2ESpottingMetric(outfile_dir=...)`` writes next to
``spotting_results.json`` (see ``docs/evaluation.md``, "Intervals and per-image records").
Prints, per result, precision / recall / hmean of ``--key`` with their percentile-bootstrap
intervals over images, the mean GFLOPs per image and the histogram of the DLD chosen scales
(when the records have them); then, for each result against the reference, the paired
bootstrap interval of the hmean difference (the same resampled images for both) and its
verdict: ``above`` / ``below`` when the whole interval lies above / below 0, ``within``
otherwise. No model runs: everything is recomputed from the records.
"""
import argparse
import json
import os.path as osp
import sys
from collections import Counter
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

from mmdld.evaluation.functional import (PER_IMAGE_FILE, align_by_name, bootstrap_metric,
                                         counts_array, load_per_image,
                                         paired_bootstrap_difference, verdict)
from mmdld.evaluation.functional.bootstrap import DEFAULT_NUM_SAMPLES, METRIC_NAMES

TOOL = 'compare_results.py'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Precision / recall / hmean with bootstrap intervals, and paired '
        'differences against a reference, from per_image.json files')
    parser.add_argument('results', nargs='+', help='per_image.json files of the results')
    parser.add_argument('--names', nargs='+',
                        help='a name per result (default: the folder of each per_image.json, '
                        'or the file name without extension)')
    parser.add_argument('--key', default='e2e/none',
                        help="task and lexicon, e.g. 'e2e/none', 'e2e/strong', 'det', 'ws/none'")
    parser.add_argument('--reference', type=int, default=0,
                        help='index of the result the others are compared with')
    parser.add_argument('--samples', type=int, default=DEFAULT_NUM_SAMPLES,
                        help='bootstrap resamples')
    parser.add_argument('--seed', type=int, default=0, help='seed of the resampling')
    parser.add_argument('--level', type=float, default=0.95, help='confidence level')
    parser.add_argument('--out', help='also write the comparison as Markdown (.md) or JSON '
                        '(.json)')
    return parser.parse_args(argv)


def default_name(path: str) -> str:
    """A result's name: the folder of a ``per_image.json`` (above the metric's ``metrics``
    folder: ``work_dirs/dld/metrics/per_image.json`` -> ``dld``), else the file's stem."""
    path = osp.abspath(path)
    if osp.basename(path) != PER_IMAGE_FILE:
        return osp.splitext(osp.basename(path))[0]
    folder = osp.dirname(path)
    if osp.basename(folder) == 'metrics':
        folder = osp.dirname(folder)
    return osp.basename(folder) or path


def scale_histogram(images: Sequence[Mapping[str, Any]]) -> Dict[str, int]:
    """Images per chosen DLD scale (``'0.5' -> 12``), in increasing scale; empty without."""
    scales = Counter(round(float(r['scale']), 4) for r in images if r['scale'] is not None)
    return {f'{scale:g}': scales[scale] for scale in sorted(scales)}


def mean_gflops(images: Sequence[Mapping[str, Any]]) -> Optional[float]:
    """Mean GFLOPs per image over the images that report them (``None`` when none does)."""
    values = [float(r['gflops']) for r in images if r['gflops'] is not None]
    return float(np.mean(values)) if values else None


def summarize_result(name: str, path: str, data: Mapping[str, Any],
                     args: argparse.Namespace) -> Dict[str, Any]:
    """Intervals and costs of one result."""
    counts = counts_array(data['images'], args.key)
    summary: Dict[str, Any] = dict(name=name, path=path, num_images=len(counts),
                                   iou_thr=data.get('iou_thr'), score_thr=data.get('score_thr'))
    for metric in METRIC_NAMES:
        summary[metric] = bootstrap_metric(counts, metric, args.samples, args.seed, args.level)
    summary['gflops_mean'] = mean_gflops(data['images'])
    summary['scales'] = scale_histogram(data['images'])
    return summary


def compare(reference: Mapping[str, Any], result: Mapping[str, Any],
            data_ref: Mapping[str, Any], data: Mapping[str, Any],
            args: argparse.Namespace) -> Dict[str, Any]:
    """Paired hmean difference ``result - reference`` over the images both hold."""
    images_ref, images = align_by_name(data_ref['images'], data['images'],
                                       (reference['path'], result['path']))
    difference = paired_bootstrap_difference(
        counts_array(images, args.key), counts_array(images_ref, args.key), 'hmean',
        args.samples, args.seed, args.level)
    return dict(name=result['name'], reference=reference['name'], metric='hmean',
                difference=difference, verdict=verdict(difference))


def to_markdown(summaries: Sequence[Mapping[str, Any]],
                differences: Sequence[Mapping[str, Any]], args: argparse.Namespace) -> str:
    """The comparison as Markdown tables (percent)."""
    level = f'{100 * args.level:g}%'
    lines = [f'Key `{args.key}`, {level} percentile-bootstrap intervals over images '
             f'({args.samples} resamples, seed {args.seed}).', '',
             '| Result | Images | Precision | Recall | Hmean | GFLOPs / image | Scales |',
             '|---|---:|---:|---:|---:|---:|---|']
    for s in summaries:
        gflops = '-' if s['gflops_mean'] is None else f'{s["gflops_mean"]:.2f}'
        scales = ', '.join(f'{k}: {v}' for k, v in s['scales'].items()) or '-'
        lines.append(f'| {s["name"]} | {s["num_images"]} | {s["precision"]} | {s["recall"]} | '
                     f'{s["hmean"]} | {gflops} | {scales} |')
    if differences:
        lines += ['', f'Paired hmean differences (points, {level} interval; verdict: the '
                  'whole interval above / below 0, or 0 within it).', '',
                  '| Result | Reference | Hmean difference | Verdict |', '|---|---|---:|---|']
        for d in differences:
            lines.append(f'| {d["name"]} | {d["reference"]} | '
                         f'{d["difference"].format(signed=True)} | {d["verdict"]} |')
    return '\n'.join(lines) + '\n'


def to_json(summaries: Sequence[Mapping[str, Any]], differences: Sequence[Mapping[str, Any]],
            args: argparse.Namespace) -> Dict[str, Any]:
    """The comparison as JSON-ready values (fractions, not percent)."""

    def plain(item: Mapping[str, Any]) -> Dict[str, Any]:
        return {key: value.to_dict() if hasattr(value, 'to_dict') else value
                for key, value in item.items()}

    return dict(key=args.key, level=args.level, samples=args.samples, seed=args.seed,
                results=[plain(s) for s in summaries],
                differences=[plain(d) for d in differences])


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    """Run the comparison; returns the JSON form of the report."""
    args = parse_args(argv)
    names = args.names or [default_name(path) for path in args.results]
    if len(names) != len(args.results):
        sys.exit(f'{TOOL}: {len(names)} --names for {len(args.results)} results')
    if not 0 <= args.reference < len(args.results):
        sys.exit(f'{TOOL}: --reference {args.reference} is not the index of one of the '
                 f'{len(args.results)} results')
    if args.out and not args.out.endswith(('.md', '.json')):
        sys.exit(f'{TOOL}: --out must end in .md or .json, got {args.out}')
    try:
        loaded = [load_per_image(path) for path in args.results]
        summaries = [summarize_result(name, path, data, args)
                     for name, path, data in zip(names, args.results, loaded)]
        ref = args.reference
        differences = [compare(summaries[ref], summaries[i], loaded[ref], loaded[i], args)
                       for i in range(len(summaries)) if i != ref]
    except (OSError, ValueError) as err:
        sys.exit(f'{TOOL}: {err}')
    for field in ('iou_thr', 'score_thr'):
        values = {s[field] for s in summaries}
        if len(values) > 1:
            listed = ', '.join(f'{s["name"]}: {s[field]}' for s in summaries)
            print(f'{TOOL}: warning: the results were evaluated with different {field} '
                  f'({listed})', file=sys.stderr)
    markdown = to_markdown(summaries, differences, args)
    report = to_json(summaries, differences, args)
    print(markdown, end='')
    if args.out:
        text = markdown if args.out.endswith('.md') else json.dumps(report, indent=2) + '\n'
        with open(args.out, 'w', encoding='utf-8') as f:
            f.write(text)
        print(f'comparison written to {args.out}')
    return report


if __name__ == '__main__':
    main()
