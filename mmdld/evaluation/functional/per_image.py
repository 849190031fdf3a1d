"""Per-image records of an evaluation (``per_image.json``), kept next to the predictions.

A record holds what one image contributed to every figure: its RRC counts per task and lexicon
(the exact output of :func:`~.matching.evaluate_image`), the texts behind them, the DLD scale
and FLOPs. Dataset figures, intervals (:mod:`.bootstrap`) and comparisons between runs are
recomputed from these files without running a model again. Ours because MMEngine's metrics
keep only dataset-level numbers.

The file::

    {"format": "mmdld.per_image/1", "iou_thr": 0.5, "score_thr": 0.0, "num_images": 2,
     "images": [{"name": "img_1", ...}, {"name": "img_2", ...}]}

with, per image (:data:`RECORD_KEYS`):

- ``name`` (image file stem), ``img_path``;
- ``scale`` (DLD chosen scale factor) and ``gflops`` (GFLOPs of the image), ``None`` when the
  model does not report them;
- ``gt_texts`` (care GT texts), ``num_gt_dont_care``;
- ``det_texts`` (predictions kept after ``score_thr``, in prediction order) and
  ``det_scores`` (their scores, ``None`` when the predictions carry none);
- ``matched_texts``: the GT texts matched end-to-end with the right text, lexicon-free
  (``'e2e/none'``), in GT order;
- ``counts``: key (``'det'``, ``'e2e/<lexicon>'``, ``'ws/<lexicon>'``) -> ``[num_matched,
  num_gt, num_det, num_gt_dont_care, num_det_dont_care]``
  (:data:`~.matching.COUNT_FIELDS`);
- ``rec``: ``[correct, total]`` of the recognition of GT boxes, or ``None``.
"""
import json
import os
import os.path as osp
from typing import Any, Dict, Mapping, Sequence

import numpy as np

from .matching import COUNT_FIELDS

#: File name of the records in an evaluation's output folder.
PER_IMAGE_FILE = 'per_image.json'
#: Value of the file's ``format`` key; a change of the record layout changes the version.
PER_IMAGE_FORMAT = 'mmdld.per_image/1'
#: Keys every record has.
RECORD_KEYS = ('name', 'img_path', 'scale', 'gflops', 'gt_texts', 'num_gt_dont_care',
               'det_texts', 'det_scores', 'matched_texts', 'counts', 'rec')
#: Keys of the file that are not metadata.
_RESERVED_KEYS = ('format', 'images')


def write_per_image(path: str, records: Sequence[Mapping[str, Any]], **meta: Any) -> None:
    """Write per-image records as ``per_image.json``.

    One record per line, so that the file stays readable and diffs show the images that
    changed.

    Args:
        path (str): Output file (its folder is created).
        records (Sequence[Mapping]): One record per image, with the keys of
            :data:`RECORD_KEYS`.
        **meta: JSON-serialisable evaluation settings stored before the images (``iou_thr``,
            ``score_thr``...). ``num_images`` is written as ``len(records)``.

    Raises:
        ValueError: If a record lacks a key, ``meta`` uses a reserved key (``format``,
            ``images``) or gives a ``num_images`` other than ``len(records)``.
    """
    for key in _RESERVED_KEYS:
        if key in meta:
            raise ValueError(f'write_per_image({path}): {key!r} is not a metadata key')
    if meta.setdefault('num_images', len(records)) != len(records):
        raise ValueError(f'write_per_image({path}): num_images={meta["num_images"]} but '
                         f'{len(records)} records')
    for index, record in enumerate(records):
        missing = [key for key in RECORD_KEYS if key not in record]
        if missing:
            raise ValueError(f'write_per_image({path}): record {index} '
                             f'({record.get("name", "?")}) has no {missing}')
    header = dict(format=PER_IMAGE_FORMAT, **meta)
    lines = [json.dumps(dict(record), ensure_ascii=False) for record in records]
    text = json.dumps(header, ensure_ascii=False)[:-1]  # reopen the object for "images"
    text += ', "images": [\n' + ',\n'.join(lines) + '\n]}\n'
    folder = osp.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)


def load_per_image(path: str) -> Dict[str, Any]:
    """Read and check a ``per_image.json``.

    Args:
        path (str): File written by :func:`write_per_image`.

    Returns:
        dict: The file's object: ``format``, the metadata and ``images`` (the records).

    Raises:
        ValueError: If the file is not JSON, not of :data:`PER_IMAGE_FORMAT`, or a record lacks
            a key or has malformed counts; the message names the file (and the image).
    """
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except json.JSONDecodeError as error:
        raise ValueError(f'{path}: not valid JSON ({error})') from error
    if not isinstance(data, dict):
        raise ValueError(f'{path}: expected a JSON object, got {type(data).__name__}')
    if data.get('format') != PER_IMAGE_FORMAT:
        raise ValueError(f'{path}: format is {data.get("format")!r}, expected '
                         f'{PER_IMAGE_FORMAT!r} (a per-image record file of E2ESpottingMetric)')
    if not isinstance(data.get('images'), list):
        raise ValueError(f"{path}: no 'images' list")
    for index, record in enumerate(data['images']):
        name = record.get('name', f'#{index}') if isinstance(record, dict) else f'#{index}'
        if not isinstance(record, dict):
            raise ValueError(f'{path}: image {name} is not an object')
        for key in RECORD_KEYS:
            if key not in record:
                raise ValueError(f'{path}: image {name} has no {key!r}')
        for key, values in record['counts'].items():
            if len(values) != len(COUNT_FIELDS):
                raise ValueError(f'{path}: image {name}: counts[{key!r}] has {len(values)} '
                                 f'values, expected {len(COUNT_FIELDS)} {COUNT_FIELDS}')
    return data


def counts_array(images: Sequence[Mapping[str, Any]], key: str = 'e2e/none') -> np.ndarray:
    """Counts of one task and lexicon, image by image.

    Args:
        images (Sequence[Mapping]): Records (the ``images`` of :func:`load_per_image`).
        key (str): Count key, e.g. ``'e2e/none'``, ``'det'``, ``'ws/strong'``.

    Returns:
        np.ndarray: ``[N, 5]`` int64, the :data:`~.matching.COUNT_FIELDS` of each image in
        record order.

    Raises:
        ValueError: If an image has no counts under ``key`` (names the image and the keys it
            has).
    """
    rows = []
    for record in images:
        counts = record['counts']
        if key not in counts:
            raise ValueError(f'image {record["name"]} has no counts {key!r} (it has '
                           f'{sorted(counts)})')
        rows.append(counts[key])
    return np.asarray(rows, dtype=np.int64).reshape(len(rows), len(COUNT_FIELDS))
