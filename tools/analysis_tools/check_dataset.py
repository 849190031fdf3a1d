"""Check a text-spotting data set before training on it.

Examples::

    # the training and test sets of a config (synthetic or MMOCR textspotting JSON)
    python tools/analysis_tools/check_dataset.py \\
        configs/spotter/maskrcnn_r50_fpn_spotter_icdar2015.py

    # an annotation file and the folder its image paths are relative to
    python tools/analysis_tools/check_dataset.py \\
        --ann-file data/icdar2015/textspotting_train.json --img-root data/icdar2015

Every image must decode fully (not truncated: OpenCV decodes a truncated JPEG grey without an
error), with the size the annotation gives; every polygon must have at least 3 points, an even
number of finite coordinates, a non-zero area and no self-intersection; every transcription of a
care instance must be non-empty, no longer than the recogniser's ``max_seq_len`` and spelt with
its dictionary (the config's ``FilterSpottingInstances`` or recognition head, else
``--dict-file``, else printable ASCII). Prints the number of images and instances, the count of
each problem and the first offenders by file and instance index; the exit code is 1 when a
problem was found, 0 otherwise.
"""
import argparse
import math
import os.path as osp
import sys
from collections import Counter
from typing import Any, Dict, Iterable, List, Optional, Tuple

import mmcv
import mmengine.fileio as fileio
import numpy as np

#: Problem kinds, in the order of the summary.
PROBLEMS = {
    'annotation_file': 'annotation file cannot be read',
    'image_unreadable': 'image file missing or unreadable',
    'image_truncated': 'image truncated or corrupt',
    'image_undecodable': 'image cannot be decoded',
    'image_size': 'image size differs from the annotation',
    'polygon_malformed': 'polygon missing, odd or non-finite coordinates',
    'polygon_few_points': 'polygon with fewer than 3 points',
    'polygon_zero_area': 'polygon of zero area',
    'polygon_self_intersecting': 'polygon self-intersecting (not shapely-valid)',
    'text_empty': 'empty transcription',
    'text_out_of_dictionary': 'characters outside the dictionary',
    'text_too_long': 'transcription longer than max_seq_len',
}
DONT_CARE_TEXT = '###'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='check images, polygons and transcriptions of a text-spotting data set')
    parser.add_argument('config', nargs='?', help='a config whose data sets are checked')
    parser.add_argument('--split', nargs='+', default=['train', 'test'],
                        choices=['train', 'val', 'test'],
                        help="the config's dataloaders to check (default: train test)")
    parser.add_argument('--ann-file', help='an MMOCR textspotting JSON, instead of a config')
    parser.add_argument('--img-root', default=None,
                        help="folder the JSON's img_path are relative to (default: its folder)")
    parser.add_argument('--dict-file', default=None,
                        help="the recogniser's dictionary file (one character per line); "
                        'default: the config\'s, else printable ASCII')
    parser.add_argument('--max-seq-len', type=int, default=None,
                        help="the recogniser's longest text (default: the config's, else none)")
    parser.add_argument('--max-offenders', type=int, default=20,
                        help='offenders listed (the summary counts all)')
    args = parser.parse_args(argv)
    if (args.config is None) == (args.ann_file is None):
        parser.error('give either a config or --ann-file')
    return args


def _find(node: Any, match) -> Optional[dict]:
    """The first dict of a nested config for which ``match(dict)`` is true (depth first)."""
    if isinstance(node, dict):
        if match(node):
            return node
        children: Iterable = node.values()
    elif isinstance(node, (list, tuple)):
        children = node
    else:
        return None
    for child in children:
        found = _find(child, match)
        if found is not None:
            return found
    return None


def recogniser_vocabulary(cfg: Optional[dict], dict_file: Optional[str],
                          max_seq_len: Optional[int]) -> Tuple[Any, Optional[int]]:
    """The dictionary and ``max_seq_len`` the transcriptions are checked against.

    The config's ``FilterSpottingInstances`` (the training pipeline's check), else its
    recognition head; ``dict_file`` and ``max_seq_len`` override either.
    """
    from mmdld.datasets.transforms.filter_instances import build_dictionary
    dict_cfg: Dict[str, Any] = dict(type='mmocr.Dictionary')
    seq_len = None
    if cfg is not None:
        source = _find(cfg, lambda d: str(d.get('type', '')).endswith('FilterSpottingInstances'))
        if source is None:
            source = _find(cfg, lambda d: isinstance(d.get('rec_head'), dict))
            source = source['rec_head'] if source is not None else None
        if source is not None:
            dict_cfg = dict(source.get('dictionary') or dict_cfg)
            seq_len = source.get('max_seq_len')
    if dict_file is not None:
        dict_cfg['dict_file'] = dict_file
    return build_dictionary(dict_cfg), (max_seq_len if max_seq_len is not None else seq_len)


class Report:
    """Problem counts and the first offenders."""

    def __init__(self, max_offenders: int) -> None:
        self.counts: Counter = Counter()
        self.offenders: List[str] = []
        self.max_offenders = max_offenders
        self.images = self.instances = self.dont_care = 0

    def add(self, kind: str, where: str, detail: str) -> None:
        self.counts[kind] += 1
        if len(self.offenders) < self.max_offenders:
            self.offenders.append(f'{where}: {PROBLEMS[kind]}: {detail}')


def check_image(info: dict, report: Report) -> None:
    """Read and fully decode one sample's image."""
    from mmdld.datasets.transforms.loading import image_defect
    path = info['img_path']
    try:
        img_bytes = fileio.get(path)
    except Exception as err:
        report.add('image_unreadable', path, f'{type(err).__name__}: {err}')
        return
    defect = image_defect(img_bytes)
    if defect is not None:
        report.add('image_truncated', path, f'the image {defect}')
        return
    try:
        img = mmcv.imfrombytes(img_bytes, flag='color_ignore_orientation')
    except Exception as err:
        img, reason = None, f'{type(err).__name__}: {err}'
    else:
        reason = 'the decoder returned nothing'
    if img is None:
        report.add('image_undecodable', path, reason)
        return
    height, width = info.get('height'), info.get('width')
    if height is not None and width is not None and img.shape[:2] != (height, width):
        report.add('image_size', path, f'{img.shape[1]} x {img.shape[0]} px, the annotation '
                   f'says {width} x {height}')


def check_polygon(polygon: Any, where: str, report: Report) -> None:
    """Check one instance's polygon."""
    from mmdld.datasets.transforms.filter_instances import polygon_area
    try:
        coords = np.asarray(polygon, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as err:
        report.add('polygon_malformed', where, f'not a list of numbers ({err})')
        return
    if coords.size % 2 or not np.isfinite(coords).all():
        report.add('polygon_malformed', where, f'{coords.size} coordinates {coords.tolist()}')
        return
    if coords.size < 6:
        report.add('polygon_few_points', where, f'{coords.size // 2} point(s) {coords.tolist()}')
        return
    area = polygon_area(coords)
    if area <= 0 or math.isnan(area):
        report.add('polygon_zero_area', where, f'{coords.tolist()}')
        return
    import shapely
    if not shapely.Polygon(coords.reshape(-1, 2)).is_valid:
        report.add('polygon_self_intersecting', where,
                   shapely.is_valid_reason(shapely.Polygon(coords.reshape(-1, 2))))


def check_text(text: Any, where: str, dictionary: Any, max_seq_len: Optional[int],
               report: Report) -> None:
    """Check one care instance's transcription."""
    text = '' if text is None else str(text)
    if not text.strip():
        report.add('text_empty', where, "don't-care in training and evaluation")
        return
    missing = sorted({c for c in text if dictionary.char2idx(c, strict=False) is None})
    if missing:
        report.add('text_out_of_dictionary', where, f'{text!r} has {missing}')
    if max_seq_len is not None and len(text) > max_seq_len:
        report.add('text_too_long', where, f'{text!r} has {len(text)} > {max_seq_len} characters')


def check_samples(data_list: List[dict], dictionary: Any, max_seq_len: Optional[int],
                  report: Report) -> None:
    """Check every sample of a parsed annotation file."""
    for info in data_list:
        report.images += 1
        check_image(info, report)
        for index, instance in enumerate(info.get('instances', [])):
            report.instances += 1
            where = f'{info["img_path"]} instance {index}'
            if 'polygon' not in instance:
                report.add('polygon_malformed', where, 'no "polygon"')
            else:
                check_polygon(instance['polygon'], where, report)
            text = instance.get('text')
            blank = text is None or not str(text).strip()
            if instance.get('ignore', False) and not blank:
                report.dont_care += 1
                continue
            if text == DONT_CARE_TEXT:
                report.dont_care += 1
                continue
            check_text(text, where, dictionary, max_seq_len, report)


def dataset_cfgs(cfg: Any, splits: List[str]) -> List[Tuple[str, dict]]:
    """``(split, leaf dataset config)`` of each split (``ConcatDataset`` members apart)."""
    found = []
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        if not loader:
            raise SystemExit(f'the config has no {split}_dataloader')
        pending = [loader['dataset']]
        while pending:
            ds = pending.pop(0)
            if 'datasets' in ds:
                pending.extend(ds['datasets'])
            elif 'dataset' in ds:  # RepeatDataset, ClassBalancedDataset
                pending.append(ds['dataset'])
            else:
                found.append((split, ds))
    return found


def load_data_list(ds_cfg: dict) -> List[dict]:
    """The parsed samples of a data set config (no pipeline; synthetic data is generated)."""
    from mmdld.registry import DATASETS
    ds_cfg = dict(ds_cfg, pipeline=[], lazy_init=False)
    ds_cfg.pop('indices', None)
    dataset = DATASETS.build(ds_cfg)
    return [dataset.get_data_info(i) for i in range(len(dataset))]


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    from mmengine.registry import init_default_scope

    import mmdld  # noqa: F401  (registers mmdld's modules)
    report = Report(args.max_offenders)
    if args.config is not None:
        from mmengine.config import Config
        cfg = Config.fromfile(args.config)
        init_default_scope(cfg.get('default_scope', 'mmdld'))
        targets = dataset_cfgs(cfg, args.split)
        dictionary, max_seq_len = recogniser_vocabulary(cfg.to_dict(), args.dict_file,
                                                        args.max_seq_len)
    else:
        init_default_scope('mmdld')
        img_root = args.img_root if args.img_root is not None else osp.dirname(args.ann_file)
        targets = [('file', dict(type='SpottingDataset', ann_file=osp.abspath(args.ann_file),
                                 data_prefix=dict(img_path=img_root)))]
        dictionary, max_seq_len = recogniser_vocabulary(None, args.dict_file, args.max_seq_len)
    checked = set()
    for split, ds_cfg in targets:
        key = (ds_cfg.get('data_root'), ds_cfg.get('ann_file'))
        if key in checked:  # val and test are often the same set
            continue
        checked.add(key)
        name = osp.join(ds_cfg.get('data_root') or '', ds_cfg.get('ann_file', ''))
        try:
            data_list = load_data_list(ds_cfg)
        except Exception as err:
            report.add('annotation_file', name, f'{type(err).__name__}: {err}')
            continue
        print(f'{split}: {name}: {len(data_list)} images')
        check_samples(data_list, dictionary, max_seq_len, report)
    print(f'Checked {report.images} images, {report.instances} instances '
          f"({report.dont_care} don't-care); dictionary of {dictionary.num_classes} classes, "
          f'max_seq_len {max_seq_len}')
    if not report.counts:
        print('No problems found.')
        return 0
    print(f'{sum(report.counts.values())} problem(s):')
    for kind, label in PROBLEMS.items():
        if report.counts[kind]:
            print(f'  {kind}: {report.counts[kind]} ({label})')
    print(f'First {len(report.offenders)} offender(s):')
    for line in report.offenders:
        print(f'  {line}')
    return 1


if __name__ == '__main__':
    sys.exit(main())
