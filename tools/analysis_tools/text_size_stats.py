"""Word heights of a text-spotting data set at the teacher's base resolution, per text regime.

Examples::

    # the demo's test split, images resized to a long side of 320 px
    python tools/analysis_tools/text_size_stats.py data/synthetic_demo --base-size 320 \\
        --by-regime

    # resized as a config's test pipeline resizes them (its Resize, e.g. S-320: short side 320)
    python tools/analysis_tools/text_size_stats.py data/totaltext \\
        --config configs/spotter/maskrcnn_r50_fpn_spotter_totaltext.py --out sizes.json

Reads an MMOCR ``textspotting`` annotation file (``DATA_ROOT/textspotting_<split>.json`` or the
file itself) and measures every care word (not ``ignore``, not ``###``, not empty) with
:func:`mmdld.evaluation.functional.text_size.word_height`
(:func:`mmdld.datasets.text_sizes.image_records`), after the image's resize: none
(original pixels), ``--base-size N`` (long side N px) or the ``Resize`` of ``--config``'s test
pipeline (MMCV's rule: as large as fits in its ``scale``, ratio kept). Prints, for all images
and with ``--by-regime`` for each ``regime`` the synthetic annotations record per image: images,
those with words, words, the median and 5th percentile of the word heights, the median over
images of each image's smallest word, and the fraction of images whose smallest word is below
each threshold (of the images with words). ``--out`` writes the table and every image's
record (path, regime, resize factors, word count, smallest and median word height) as JSON.
"""
import argparse
import json
import os.path as osp
import sys
from typing import Any, Dict, Optional, Sequence

import numpy as np

from mmdld.datasets.text_sizes import (REGIME_ORDER, config_resize, image_records,
                                       long_side_resize)

#: Row of every image.
ALL = 'all'
DEFAULT_THRESHOLDS = (8.0, 12.0, 16.0)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parses the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('data', help='data root (with textspotting_<split>.json) or the JSON')
    parser.add_argument('--split', default='test',
                        help='split of a data root (default: test)')
    resize = parser.add_mutually_exclusive_group()
    resize.add_argument('--base-size', type=int, default=None,
                        help='resize images to this long side in px (default: no resize)')
    resize.add_argument('--config', default=None,
                        help="resize images as this config's test pipeline does")
    parser.add_argument('--by-regime', action='store_true',
                        help="one row per image regime (the annotation's `regime` key)")
    parser.add_argument('--thresholds', type=float, nargs='+', default=list(DEFAULT_THRESHOLDS),
                        help='heights in px for the "smallest word below" columns '
                        '(default: 8 12 16)')
    parser.add_argument('--min-length', type=int, default=1,
                        help='leave out care words with fewer characters (default: 1)')
    parser.add_argument('--out', default=None, help='write the table and per-image records here')
    args = parser.parse_args(argv)
    if args.base_size is not None and args.base_size <= 0:
        parser.error(f'--base-size must be positive, got {args.base_size}')
    return args


def annotation_file(data: str, split: str) -> str:
    """The annotation file of a data root's split, or ``data`` itself if it is a file."""
    if osp.isdir(data):
        path = osp.join(data, f'textspotting_{split}.json')
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path}: no such annotation file (split {split!r})')
        return path
    if not osp.isfile(data):
        raise FileNotFoundError(f'{data}: no such data root or annotation file')
    return data


def summarize(records: Sequence[Dict[str, Any]],
              thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> Dict[str, Any]:
    """The table row of a set of images (see the module docstring); None where undefined."""
    heights = np.array([h for r in records for h in r['heights']], dtype=np.float64)
    minima = np.array([r['min'] for r in records if r['n']], dtype=np.float64)
    row: Dict[str, Any] = dict(images=len(records), images_with_words=len(minima),
                               words=len(heights), median=None, p5=None, median_image_min=None,
                               min_below={f'{t:g}': None for t in thresholds})
    if len(heights):
        row.update(median=float(np.median(heights)), p5=float(np.percentile(heights, 5)),
                   median_image_min=float(np.median(minima)),
                   min_below={f'{t:g}': float((minima < t).mean()) for t in thresholds})
    return row


def regime_table(records: Sequence[Dict[str, Any]], by_regime: bool,
                 thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> Dict[str, Dict[str, Any]]:
    """Rows per regime (in :data:`REGIME_ORDER`, then sorted) if asked, then :data:`ALL`."""
    table = {}
    if by_regime:
        present = {r['regime'] for r in records}
        order = [k for k in REGIME_ORDER if k in present]
        order += sorted(present - set(order))
        for regime in order:
            table[regime] = summarize([r for r in records if r['regime'] == regime], thresholds)
    table[ALL] = summarize(records, thresholds)
    return table


def format_table(table: Dict[str, Dict[str, Any]]) -> str:
    """The rows as a Markdown table, heights in px with one decimal, fractions in percent."""

    def px(value: Optional[float]) -> str:
        return '-' if value is None else f'{value:.1f}'

    def pct(value: Optional[float]) -> str:
        return '-' if value is None else f'{100 * value:.0f}%'

    thresholds = list(next(iter(table.values()))['min_below'])
    header = (['regime', 'images', 'with words', 'words', 'median', 'p5',
               'median image min'] + [f'min < {t} px' for t in thresholds])
    lines = ['| ' + ' | '.join(header) + ' |', '|' + ' --- |' * len(header)]
    for regime, row in table.items():
        cells = [regime, str(row['images']), str(row['images_with_words']), str(row['words']),
                 px(row['median']), px(row['p5']), px(row['median_image_min'])]
        cells += [pct(row['min_below'][t]) for t in thresholds]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Prints the table (and writes ``--out``); returns the exit code (1 on bad input)."""
    args = parse_args(argv)
    try:
        ann_file = annotation_file(args.data, args.split)
        if args.config is not None:
            resize, described = config_resize(args.config)
        elif args.base_size is not None:
            resize = long_side_resize(args.base_size)
            described = f'long side {args.base_size} px'
        else:
            resize, described = None, 'original size'
        records = image_records(ann_file, resize, args.min_length)
    except (OSError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    table = regime_table(records, args.by_regime, args.thresholds)
    print(f'Word heights in px of {ann_file}, images at {described}:')
    print(format_table(table))
    if args.out is not None:
        with open(args.out, 'w', encoding='utf-8') as f:
            json.dump(dict(ann_file=ann_file, resize=described, table=table, images=records),
                      f, indent=1)
        print(f'Wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
