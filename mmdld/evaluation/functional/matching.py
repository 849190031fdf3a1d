"""Per-image matching of the RRC end-to-end protocol.

Ours because MMOCR's ``HmeanIOUMetric`` matches no text and sweeps score thresholds.

The RRC script's matching:

1. GT whose text is ``###`` (or flagged ignored) is don't-care. A prediction is dropped
   (neither true nor false positive) when its intersection with one don't-care GT covers more
   than ``dont_care_area_thr`` of the prediction's own area.
2. GT are visited in order; each takes the first unmatched, not-dropped prediction (in
   prediction order) whose IoU with it is strictly above ``iou_thr``. Matching is one-to-one and
   purely geometric: a matched pair is consumed even when the texts disagree.
3. A matched pair counts as correct when the texts agree (end-to-end rule, or exact
   case-insensitive equality with the normalised GT for word spotting).

Counts per image are ``[hits, care GT, care predictions, don't-care GT, dropped predictions]``
(:data:`COUNT_FIELDS`); precision and recall are computed from their sums over the dataset (see
:mod:`.summary`), so the result does not depend on the order of the images. Care and dropped
predictions add up to all predictions.

Areas follow the RRC scripts, see :mod:`.polygons`: a self-intersecting polygon's own area is its
outline's shoelace area, only the intersections use the repaired geometry.
"""
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .lexicon import Lexicon
from .polygons import coverage_matrix, iou_matrix, outline_areas, to_geometries
from .text_rules import (DONT_CARE_TEXT, MIN_WORD_SPOTTING_LENGTH,
                         is_word_spotting_care, normalize_word_spotting,
                         texts_match)

#: Name of the lexicon-free setting.
NO_LEXICON = 'none'
#: Names of the per-image counts of :func:`evaluate_image`, in order.
COUNT_FIELDS = ('num_matched', 'num_gt', 'num_det', 'num_gt_dont_care', 'num_det_dont_care')
#: A matched ``(gt_index, pred_index)`` pair.
Pair = Tuple[int, int]


def greedy_match(iou: np.ndarray, gt_care: np.ndarray, pred_care: np.ndarray,
                 iou_thr: float) -> List[tuple]:
    """One-to-one greedy matching in the RRC order.

    Args:
        iou (np.ndarray): ``(G, P)`` IoU matrix.
        gt_care (np.ndarray): ``(G,)`` bool, GT that take part.
        pred_care (np.ndarray): ``(P,)`` bool, predictions that take part.
        iou_thr (float): A pair matches only when its IoU is strictly above this.

    Returns:
        list[tuple]: ``(gt_index, pred_index)`` pairs, in GT order.
    """
    free = pred_care.copy()
    pairs = []
    for g in np.flatnonzero(gt_care):
        candidates = np.flatnonzero(free & (iou[g] > iou_thr))
        if candidates.size:
            p = int(candidates[0])
            free[p] = False
            pairs.append((int(g), p))
    return pairs


def _dropped_predictions(coverage: np.ndarray, gt_dont_care: np.ndarray,
                         area_thr: float) -> np.ndarray:
    """Predictions that fall on a don't-care GT (coverage above ``area_thr`` of one of them)."""
    if not gt_dont_care.any():
        return np.zeros(coverage.shape[0], dtype=bool)
    return (coverage[:, gt_dont_care] > area_thr).any(axis=1)


def evaluate_image(gt_polygons: Sequence[Any],
                   gt_texts: Sequence[str],
                   gt_ignored: Sequence[bool],
                   pred_polygons: Sequence[Any],
                   pred_texts: Sequence[str],
                   lexicons: Optional[Mapping[str, Lexicon]] = None,
                   *,
                   iou_thr: float = 0.5,
                   dont_care_area_thr: float = 0.5,
                   word_spotting: bool = True,
                   max_lexicon_dist: Optional[int] = None,
                   lexicon_min_length: int = MIN_WORD_SPOTTING_LENGTH,
                   name: str = '') -> Dict[str, List[int]]:
    """Count detection, end-to-end and word-spotting hits of one image.

    The counts of :func:`evaluate_image_matches`, which documents the arguments.

    Returns:
        dict[str, list[int]]: ``[hits, care GT, care predictions, don't-care GT, dropped
        predictions]`` (:data:`COUNT_FIELDS`) under ``'det'``, ``'e2e/<lexicon>'`` and (with
        ``word_spotting``) ``'ws/<lexicon>'``; for ``'det'`` the hits are the matched pairs,
        for the others the matched pairs whose texts agree.
    """
    counts, _ = evaluate_image_matches(
        gt_polygons, gt_texts, gt_ignored, pred_polygons, pred_texts, lexicons,
        iou_thr=iou_thr, dont_care_area_thr=dont_care_area_thr, word_spotting=word_spotting,
        max_lexicon_dist=max_lexicon_dist, lexicon_min_length=lexicon_min_length, name=name)
    return counts


def evaluate_image_matches(gt_polygons: Sequence[Any],
                           gt_texts: Sequence[str],
                           gt_ignored: Sequence[bool],
                           pred_polygons: Sequence[Any],
                           pred_texts: Sequence[str],
                           lexicons: Optional[Mapping[str, Lexicon]] = None,
                           *,
                           iou_thr: float = 0.5,
                           dont_care_area_thr: float = 0.5,
                           word_spotting: bool = True,
                           max_lexicon_dist: Optional[int] = None,
                           lexicon_min_length: int = MIN_WORD_SPOTTING_LENGTH,
                           name: str = '') -> Tuple[Dict[str, List[int]], Dict[str, List[Pair]]]:
    """Count detection, end-to-end and word-spotting hits of one image, and say which pairs hit.

    Args:
        gt_polygons (Sequence): GT polygons (care and don't-care), ``[x1, y1, ...]`` each.
        gt_texts (Sequence[str]): GT transcriptions; ``'###'`` marks don't-care.
        gt_ignored (Sequence[bool]): GT don't-care flags (``ignore=True``).
        pred_polygons (Sequence): Predicted polygons, in the order the RRC matching visits them.
        pred_texts (Sequence[str]): Predicted transcriptions.
        lexicons (Mapping[str, Lexicon], optional): Lexicons of this image by setting name
            (``'strong'``, ``'weak'``, ``'generic'``, ``'full'``...). The lexicon-free setting
            ``'none'`` is always evaluated.
        iou_thr (float): IoU a match must exceed (0.5; 0.1 for one-stage spotters).
        dont_care_area_thr (float): Fraction of a prediction's area on a don't-care GT above
            which the prediction is dropped.
        word_spotting (bool): Also count word-spotting hits.
        max_lexicon_dist (int, optional): See :meth:`Lexicon.correct`.
        lexicon_min_length (int): See :meth:`Lexicon.correct`.
        name (str): Image name for error messages.

    Returns:
        tuple[dict, dict]: The counts and the hits. Counts: ``[hits, care GT, care
        predictions, don't-care GT, dropped predictions]`` (:data:`COUNT_FIELDS`) under
        ``'det'``, ``'e2e/<lexicon>'`` and (with ``word_spotting``) ``'ws/<lexicon>'``; for
        ``'det'`` the hits are the matched pairs, for the others the matched pairs whose texts
        agree. Hits: under the same keys, the ``(gt_index, pred_index)`` pairs that count as
        hits (indices into ``gt_polygons`` and ``pred_polygons``, in GT order), so that
        ``len(hits[key]) == counts[key][0]``.

    Raises:
        ValueError: If the lengths of the inputs disagree, a lexicon is named ``'none'``, or a
            polygon is malformed (the message names the image and the instance).
    """
    lexicons = dict(lexicons or {})
    if NO_LEXICON in lexicons:
        raise ValueError(f"'{NO_LEXICON}' is the lexicon-free setting, not a lexicon name")
    if not len(gt_polygons) == len(gt_texts) == len(gt_ignored):
        raise ValueError(f'{name}: {len(gt_polygons)} GT polygons, {len(gt_texts)} texts and '
                         f'{len(gt_ignored)} ignore flags')
    if len(pred_polygons) != len(pred_texts):
        raise ValueError(f'{name}: {len(pred_polygons)} predicted polygons but '
                         f'{len(pred_texts)} texts')
    gt_geoms = to_geometries(gt_polygons, f'{name}: GT')
    pred_geoms = to_geometries(pred_polygons, f'{name}: prediction')
    gt_areas = outline_areas(gt_polygons, f'{name}: GT')
    pred_areas = outline_areas(pred_polygons, f'{name}: prediction')
    iou = iou_matrix(gt_geoms, pred_geoms, gt_areas, pred_areas)
    coverage = coverage_matrix(pred_geoms, gt_geoms, pred_areas)
    gt_texts = [str(text) for text in gt_texts]
    pred_texts = [str(text) for text in pred_texts]

    settings = {NO_LEXICON: pred_texts}
    for lex_name, lexicon in lexicons.items():
        settings[lex_name] = lexicon.correct(
            pred_texts, max_dist=max_lexicon_dist, min_length=lexicon_min_length)

    counts, hits = {}, {}
    gt_dc = np.array([bool(flag) or text == DONT_CARE_TEXT
                      for flag, text in zip(gt_ignored, gt_texts)], dtype=bool)
    pred_dc = _dropped_predictions(coverage, gt_dc, dont_care_area_thr)
    pairs = greedy_match(iou, ~gt_dc, ~pred_dc, iou_thr)
    sizes = _care_sizes(gt_dc, pred_dc)
    counts['det'], hits['det'] = [len(pairs), *sizes], pairs
    for setting, texts in settings.items():
        right = [(g, p) for g, p in pairs if texts_match(gt_texts[g], texts[p])]
        counts[f'e2e/{setting}'], hits[f'e2e/{setting}'] = [len(right), *sizes], right

    if word_spotting:
        ws_dc = gt_dc | np.array([not is_word_spotting_care(text) for text in gt_texts],
                                 dtype=bool)
        ws_gt = [normalize_word_spotting(text).upper() for text in gt_texts]
        ws_pred_dc = _dropped_predictions(coverage, ws_dc, dont_care_area_thr)
        ws_pairs = greedy_match(iou, ~ws_dc, ~ws_pred_dc, iou_thr)
        sizes = _care_sizes(ws_dc, ws_pred_dc)
        for setting, texts in settings.items():
            right = [(g, p) for g, p in ws_pairs if ws_gt[g] == texts[p].upper()]
            counts[f'ws/{setting}'], hits[f'ws/{setting}'] = [len(right), *sizes], right
    return counts, hits


def _care_sizes(gt_dont_care: np.ndarray, pred_dropped: np.ndarray) -> List[int]:
    """``[care GT, care predictions, don't-care GT, dropped predictions]``."""
    return [int((~gt_dont_care).sum()), int((~pred_dropped).sum()),
            int(gt_dont_care.sum()), int(pred_dropped.sum())]
