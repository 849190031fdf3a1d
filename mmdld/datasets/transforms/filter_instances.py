"""Decide, right after loading, which text instances a spotter can learn from.

MMOCR's ``LoadOCRAnnotations`` loads every instance as it is on disk. A spotter cannot learn
from a polygon without area or from a word its recogniser cannot spell (a character outside the
dictionary, or more characters than the decoder's maximum length). Such instances are turned into
don't-care ones (``gt_ignored=True``): they stay in the sample (the metric still sees them in
``ignored_instances``) but never reach a loss.

Ours because MMOCR's ``RemoveIgnored`` deletes instances instead of marking them don't-care.
"""
import math
from typing import Dict, Optional, Set, Union

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.logging import print_log

from mmdld.evaluation.functional.polygons import shoelace_area
from mmdld.registry import TASK_UTILS, TRANSFORMS


def build_dictionary(cfg: dict) -> object:
    """Build an MMOCR ``Dictionary`` from its config.

    Args:
        cfg (dict): ``dict(type='mmocr.Dictionary', dict_file=..., ...)``; an unscoped
            ``type='Dictionary'`` is read as MMOCR's, and a missing ``dict_file`` is the
            recogniser's default (printable ASCII), as in ``BiLSTMAttnHead``.

    Returns:
        Dictionary: The built dictionary.
    """
    cfg = dict(cfg)
    if 'dict_file' not in cfg:
        # The recogniser's default character set (BiLSTMAttnHead's DEFAULT_DICT_FILE).
        from mmdld.models.rec_heads import DEFAULT_DICT_FILE
        cfg['dict_file'] = DEFAULT_DICT_FILE
    if cfg.get('type', 'Dictionary') == 'Dictionary':
        # The mmdld scope does not see MMOCR's registries without the prefix.
        cfg['type'] = 'mmocr.Dictionary'
    return TASK_UTILS.build(cfg)


def polygon_area(polygon: np.ndarray) -> float:
    """Absolute area of a flat ``[x1, y1, x2, y2, ...]`` polygon (shoelace formula).

    Args:
        polygon (np.ndarray): Flat coordinates, an even number of them.

    Returns:
        float: The area; 0 for fewer than three points.
    """
    pts = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    if len(pts) < 3:
        return 0.0
    return shoelace_area(pts)


def check_polygon(polygon: np.ndarray, sample: str, index: int) -> np.ndarray:
    """Validate one polygon read from an annotation file.

    Args:
        polygon (np.ndarray): The flat polygon as loaded.
        sample (str): Name of the sample (its image path), for the error message.
        index (int): Index of the instance in the sample, for the error message.

    Returns:
        np.ndarray: The polygon as a flat float32 array.

    Raises:
        ValueError: If the coordinates are not an even number of finite values.
    """
    arr = np.asarray(polygon, dtype=np.float32).reshape(-1)
    if arr.size % 2 != 0:
        raise ValueError(f'{sample}: instance {index} has a polygon with an odd number '
                         f'of coordinates ({arr.size}); expected [x1, y1, x2, y2, ...]')
    if not np.all(np.isfinite(arr)):
        raise ValueError(f'{sample}: instance {index} has a polygon with non-finite '
                         f'coordinates: {arr.tolist()}')
    return arr


def points_box_outline(polygon: np.ndarray) -> np.ndarray:
    """The 4-point outline of the bounding box of a polygon's points.

    Args:
        polygon (np.ndarray): Flat coordinates, an even number of them (none: the origin).

    Returns:
        np.ndarray: ``[x1, y1, x2, y1, x2, y2, x1, y2]`` as float32.
    """
    pts = np.asarray(polygon, dtype=np.float32).reshape(-1, 2)
    if len(pts) == 0:
        pts = np.zeros((1, 2), np.float32)
    (x1, y1), (x2, y2) = pts.min(0), pts.max(0)
    return np.array([x1, y1, x2, y1, x2, y2, x1, y2], dtype=np.float32)


@TRANSFORMS.register_module()
class FilterSpottingInstances(BaseTransform):
    """Turn instances that a spotter cannot learn from into don't-care ones.

    An instance becomes don't-care (``gt_ignored[i] = True``) when its polygon has fewer than
    three points (the polygon is then replaced by its points' bounding box, so that the
    geometric transforms after this one can handle it) or an area below ``min_poly_area``,
    or, if a ``dictionary`` is given, when its text has a character the dictionary cannot
    encode or is longer than ``max_seq_len``. A warning naming the sample and listing its
    don't-care instances is logged once per sample (per dataloader worker). Malformed
    polygons (an odd number of coordinates, NaN or inf) are data errors and raise
    ``ValueError`` naming the sample.

    Required keys: ``gt_polygons``, ``gt_ignored``, ``gt_texts`` (when ``dictionary`` is set),
    ``img_path`` (for messages). Modified keys: ``gt_polygons`` (float32; a box outline for
    fewer than 3 points), ``gt_ignored``.

    Args:
        dictionary (dict or Dictionary, optional): The recogniser's dictionary, an MMOCR
            ``Dictionary`` or its config (e.g. ``dict(type='mmocr.Dictionary', dict_file=...)``).
            When None, texts are not checked.
        max_seq_len (int, optional): Longest readable text. None means no limit.
        min_poly_area (float): Smallest polygon area, in pixels, that is kept for training.
    """

    def __init__(self,
                 dictionary: Optional[Union[dict, object]] = None,
                 max_seq_len: Optional[int] = None,
                 min_poly_area: float = 1.0) -> None:
        if isinstance(dictionary, dict):
            dictionary = build_dictionary(dictionary)
        if max_seq_len is not None and max_seq_len < 1:
            raise ValueError(f'max_seq_len must be >= 1, got {max_seq_len}')
        self.dictionary = dictionary
        self.max_seq_len = max_seq_len
        self.min_poly_area = float(min_poly_area)
        # Samples already reported: one warning per sample, not one per epoch.
        self._warned: Set[str] = set()

    def _warn_once(self, sample: str, problems: list) -> None:
        if not problems or sample in self._warned:
            return
        self._warned.add(sample)
        print_log(f'{sample}: ' + '; '.join(problems) + ". Treated as don't-care (kept for "
                  'the metrics, left out of the losses).', logger='current', level=30)

    def unreadable_reason(self, text: str) -> Optional[str]:
        """Why the recogniser cannot learn ``text``, or None if it can.

        Args:
            text (str): The transcription.

        Returns:
            str or None: A short reason, e.g. ``"is longer than max_seq_len=25"``.
        """
        if self.max_seq_len is not None and len(text) > self.max_seq_len:
            return f'is longer than max_seq_len={self.max_seq_len}'
        if self.dictionary is not None:
            missing = sorted({c for c in text if self.dictionary.char2idx(c, strict=False) is None})
            if missing:
                return f'has characters {missing} outside the dictionary'
        if len(text) == 0:
            return 'is empty'
        return None

    def transform(self, results: Dict) -> Dict:
        """Mark the unusable instances of one sample as ignored.

        Args:
            results (dict): The sample after ``LoadOCRAnnotations``.

        Returns:
            dict: The same dict, with ``gt_ignored`` updated.
        """
        sample = str(results.get('img_path', results.get('img_id', '<unknown sample>')))
        polygons = results.get('gt_polygons', [])
        ignored = np.array(results.get('gt_ignored', np.zeros(len(polygons), bool)), dtype=bool)
        texts = results.get('gt_texts')
        if len(ignored) != len(polygons):
            raise ValueError(f'{sample}: {len(polygons)} polygons but {len(ignored)} ignore flags')
        if texts is not None and len(texts) != len(polygons):
            raise ValueError(f'{sample}: {len(polygons)} polygons but {len(texts)} texts')
        checked, problems = [], []
        for i, poly in enumerate(polygons):
            poly = check_polygon(poly, sample, i)
            if len(poly) < 6:
                num_points = len(poly) // 2
                # MMOCR's geometric transforms (Resize, RandomCrop) build a shapely polygon
                # of every instance, don't-care ones too, and assert 3 points: the points'
                # bounding box (possibly of zero area) stands in as the don't-care region.
                poly = points_box_outline(poly)
                ignored[i] = True
                problems.append(f'instance {i} has a polygon of {num_points} '
                                "point(s) (at least 3 are needed); its points' bounding box is "
                                'kept as its region')
                checked.append(poly)
                continue
            checked.append(poly)
            if ignored[i]:
                continue
            area = polygon_area(poly)
            if area < self.min_poly_area or math.isnan(area):
                ignored[i] = True
                problems.append(f'instance {i} has a degenerate polygon (area {area:.2f} px)')
                continue
            if texts is not None and (self.dictionary is not None or self.max_seq_len):
                reason = self.unreadable_reason(texts[i])
                if reason is not None:
                    ignored[i] = True
                    problems.append(f'text {texts[i]!r} of instance {i} {reason}')
        self._warn_once(sample, problems)
        results['gt_polygons'] = checked
        results['gt_ignored'] = ignored
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(max_seq_len={self.max_seq_len}, '
                f'min_poly_area={self.min_poly_area}, '
                f'dictionary={"set" if self.dictionary is not None else None})')
