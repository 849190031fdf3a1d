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
:func:`mmdld.evaluation.functional.text_size.word_height`, after the image's resize: none
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
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import mmcv
import numpy as np

from mmdld.evaluation.functional.text_size import image_text_sizes

#: Order of the synthetic regimes in the table (docs/synthetic_data.md); others follow sorted.
REGIME_ORDER = ('large', 'mixed', 'small', 'empty')
#: Row of every image.
ALL = 'all'
#: Regime of an image whose annotation records none (real data sets).
NO_REGIME = 'unknown'
DEFAULT_THRESHOLDS = (8.0, 12.0, 16.0)

#: ``(width, height) -> (w_scale, h_scale)``.
ResizeFn = Callable[[int, int], Tuple[float, float]]


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


def keep_ratio_resize(scale: Any, keep_ratio: bool = True) -> ResizeFn:
    """The resize factors of MMCV's ``Resize`` with this ``scale`` (the test pipeline's).

    Args:
        scale (int | tuple[int, int]): The transform's ``scale``, ``(w, h)``; an int is
            ``(scale, scale)``, as ``Resize`` reads it.
        keep_ratio (bool): The transform's ``keep_ratio``.

    Returns:
        callable: ``(width, height) -> (w_scale, h_scale)`` of the resized image.
    """
    size = (int(scale), int(scale)) if np.ndim(scale) == 0 else tuple(int(s) for s in scale)

    def factors(width: int, height: int) -> Tuple[float, float]:
        if keep_ratio:
            new_w, new_h = mmcv.rescale_size((width, height), size)
        else:
            new_w, new_h = size
        return new_w / width, new_h / height

    return factors


def long_side_resize(long_side: int) -> ResizeFn:
    """Resize factors that bring the long side to ``long_side`` px (ratio kept, unrounded)."""

    def factors(width: int, height: int) -> Tuple[float, float]:
        factor = long_side / max(width, height)
        return factor, factor

    return factors


def config_resize(config: str) -> Tuple[ResizeFn, str]:
    """The resize of a config's test pipeline and a description of it."""
    from mmengine.config import Config

    from mmdld.apis.pipelines import find_resize
    cfg = Config.fromfile(config)
    resize = find_resize(cfg.test_dataloader.dataset.pipeline,
                         f'{config}: test_dataloader.dataset.pipeline')
    keep_ratio = bool(resize.get('keep_ratio', False))
    scale = resize['scale']
    scale = scale if np.ndim(scale) == 0 else tuple(scale)
    return (keep_ratio_resize(scale, keep_ratio),
            f'Resize(scale={scale}, keep_ratio={keep_ratio}) of {config}')


def image_records(ann_file: str, resize: Optional[ResizeFn] = None,
                  min_length: int = 1) -> List[Dict[str, Any]]:
    """Per image of an annotation file: regime, resize factors and word heights after resize.

    Args:
        ann_file (str): MMOCR ``textspotting`` JSON.
        resize (callable, optional): ``(width, height) -> (w_scale, h_scale)``; None: original
            pixels.
        min_length (int): Leave out care words with fewer characters.

    Returns:
        list[dict]: ``img_path``, ``regime`` (:data:`NO_REGIME` when not recorded), ``width``,
        ``height``, ``scale_factor`` ``(w_scale, h_scale)``, and ``n``, ``min``, ``median``,
        ``heights`` of :func:`image_text_sizes`.

    Raises:
        ValueError: On unreadable JSON, or an image without ``width``/``height`` or with a
            malformed polygon (the message names the file, the image and the instance).
    """
    try:
        with open(ann_file, encoding='utf-8') as f:
            data_list = json.load(f)['data_list']
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f'{ann_file}: not an MMOCR annotation file ({err!r})') from err
    records = []
    for index, info in enumerate(data_list):
        where = f"{ann_file}: {info.get('img_path', f'data_list[{index}]')}"
        try:
            width, height = int(info['width']), int(info['height'])
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f'{where}: needs integer `width` and `height` ({err!r})') from err
        scale = resize(width, height) if resize is not None else (1.0, 1.0)
        instances = info.get('instances', [])
        # An `ignore` instance is don't-care whatever its text says.
        texts = [None if inst.get('ignore', False) else inst.get('text') for inst in instances]
        sizes = image_text_sizes([inst.get('polygon') for inst in instances], texts,
                                 scale=scale, min_length=min_length, where=where)
        records.append(dict(img_path=info.get('img_path'),
                            regime=info.get('regime') or NO_REGIME, width=width,
                            height=height, scale_factor=list(scale), **sizes))
    return records


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
