"""Fiducial-point generation of Text Perceptron: from the predicted maps to ``2K`` points.

The inverse of ``tp_targets`` for one image (feature-map coordinates, ``text_geometry``):

1. every 4-connected component of the centre region (``p_centre > centre_thr``, ``cv2``) of at
   least ``min_centre_area`` pixels is one instance candidate;
2. its head is the connected head region (``p_head > end_thr``) that touches it most (within
   one pixel, 8-neighbourhood), its tail the same for the tail region; a candidate without
   either is dropped (the order-aware labels are what tells its reading direction);
3. the corners are the head pixels' regressed ``TL``/``BL`` and the tail pixels' ``TR``/``BR``
   (``pixel + offset``), averaged with the pixels' head (tail) probabilities as weights;
4. each side is traced from the centre pixels' regressed nearest side points: ordered by their
   projection on the corner chord (``TL -> TR`` for the top side), averaged in bins along it of
   ``bin_ratio`` times the text height (the mean of ``|TL - BL|`` and ``|TR - BR|``, at least
   one feature pixel), and joined as the polyline ``TL, bin means..., TR``;
5. ``K`` points are spaced evenly by arc length along each traced side, as
   ``gt_fiducial_points`` spaces them along the GT side.

The bins average out the regression noise, which would otherwise zigzag the traced side and
stretch its arc length (shifting the middle points along it); their size follows the text, so
that small and large words get as many bins. Their price is that a bin straddling a vertex of a
curved polygon cuts that vertex, which shortens the side a little.

Ordering by the chord projection assumes a side turns by less than 90 degrees from its chord
(Total-Text and CTW-1500 curves do); a side that curls further would be traced out of order.
"""
from typing import Optional, Tuple

import cv2
import numpy as np

from mmdld.models.utils.text_geometry import resample_polyline
from .tp_targets import CENTRE, HEAD, HEAD_CHANNELS, SIDE_CHANNELS, TAIL, TAIL_CHANNELS

_NEIGHBOURHOOD = np.ones((3, 3), dtype=np.uint8)


def _touching_region(around: np.ndarray, region_labels: np.ndarray) -> Optional[np.ndarray]:
    """The mask of the labelled region with the most pixels in ``around`` (None if none)."""
    touching = region_labels[around]
    touching = touching[touching > 0]
    if touching.size == 0:
        return None
    return region_labels == np.bincount(touching).argmax()


def _regressed_points(mask: np.ndarray, offsets: np.ndarray,
                      weights: Optional[np.ndarray] = None) -> np.ndarray:
    """``pixel + offset`` for the pixels of ``mask``; with ``weights``, their weighted mean.

    Args:
        mask (np.ndarray): ``[H, W]`` bool.
        offsets (np.ndarray): ``[2 m, H, W]``: ``m`` (dx, dy) offsets per pixel.
        weights (np.ndarray, optional): ``[H, W]``.

    Returns:
        np.ndarray: ``[m, 2]`` weighted means, or ``[N, m, 2]`` points of the N pixels.
    """
    ys, xs = np.nonzero(mask)
    pixels = np.stack([xs, ys], axis=1).astype(np.float64)
    points = pixels[:, None, :] + offsets[:, ys, xs].T.reshape(len(ys), -1, 2)
    if weights is None:
        return points
    w = weights[ys, xs].astype(np.float64)
    return (points * w[:, None, None]).sum(0) / max(w.sum(), 1e-12)


def _trace_side(start: np.ndarray, end: np.ndarray, side_points: np.ndarray,
                bin_size: float) -> Optional[np.ndarray]:
    """The polyline ``start, binned side points..., end`` of one side, or None if degenerate.

    Args:
        start (np.ndarray): ``[2]``, the side's first corner.
        end (np.ndarray): ``[2]``, its last corner.
        side_points (np.ndarray): ``[N, 2]`` regressed points on the side, in any order.
        bin_size (float): Bin width along the chord, in feature pixels.
    """
    chord = end - start
    length = float(np.linalg.norm(chord))
    if not np.isfinite(length) or length < 1e-6:
        return None
    along = (side_points - start) @ (chord / length)
    keep = (along > 0) & (along < length)
    if not keep.any():
        return np.stack([start, end])
    bins = np.floor(along[keep] / bin_size).astype(np.int64)
    counts = np.bincount(bins)
    filled = np.nonzero(counts)[0]
    means = np.stack([np.bincount(bins, weights=side_points[keep, axis])[filled]
                      for axis in (0, 1)], axis=1) / counts[filled, None]
    return np.concatenate([start[None], means, end[None]])


def generate_fiducial_points(probs: np.ndarray,
                             reg: np.ndarray,
                             num_points_per_side: int,
                             centre_thr: float = 0.5,
                             end_thr: float = 0.5,
                             min_centre_area: int = 2,
                             bin_ratio: float = 0.5) -> Tuple[np.ndarray, np.ndarray]:
    """The fiducial points of every instance found in one image's maps.

    Args:
        probs (np.ndarray): ``[5, H, W]`` class probabilities (``tp_targets`` labels).
        reg (np.ndarray): ``[NUM_REG_CHANNELS, H, W]`` regressed offsets, feature pixels.
        num_points_per_side (int): ``K``.
        centre_thr (float): Least centre probability of a centre pixel. Defaults to 0.5.
        end_thr (float): Least head (tail) probability of a head (tail) pixel.
            Defaults to 0.5.
        min_centre_area (int): Least pixels of a centre component. Defaults to 2.
        bin_ratio (float): Width of the bins in which the regressed side points are
            averaged, as a fraction of the text height (at least one feature pixel).
            Defaults to 0.5.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``points`` ``[n, 2K, 2]`` float32 in feature-map
        coordinates (``K`` top points left to right, then ``K`` bottom points left to right)
        and ``scores`` ``[n]`` float32 (the mean centre probability of the component), in the
        raster order of the components. Candidates that cannot form points are left out.
    """
    num_points = 2 * num_points_per_side
    points_out, scores_out = [], []
    centre = (probs[CENTRE] > centre_thr).astype(np.uint8)
    num_components, components = cv2.connectedComponents(centre, connectivity=4)
    _, heads = cv2.connectedComponents((probs[HEAD] > end_thr).astype(np.uint8), connectivity=8)
    _, tails = cv2.connectedComponents((probs[TAIL] > end_thr).astype(np.uint8), connectivity=8)
    for index in range(1, num_components):
        component = components == index
        if component.sum() < min_centre_area:
            continue
        around = cv2.dilate(component.astype(np.uint8), _NEIGHBOURHOOD).astype(bool)
        head, tail = _touching_region(around, heads), _touching_region(around, tails)
        if head is None or tail is None:
            continue
        top_left, bottom_left = _regressed_points(head, reg[HEAD_CHANNELS], probs[HEAD])
        top_right, bottom_right = _regressed_points(tail, reg[TAIL_CHANNELS], probs[TAIL])
        side_points = _regressed_points(component, reg[SIDE_CHANNELS])  # [N, 2, 2]
        height = 0.5 * (np.linalg.norm(top_left - bottom_left)
                        + np.linalg.norm(top_right - bottom_right))
        bin_size = max(bin_ratio * height, 1.0)
        top = _trace_side(top_left, top_right, side_points[:, 0], bin_size)
        bottom = _trace_side(bottom_left, bottom_right, side_points[:, 1], bin_size)
        if top is None or bottom is None:
            continue
        points = np.concatenate([resample_polyline(top, num_points_per_side),
                                 resample_polyline(bottom, num_points_per_side)])
        if not np.isfinite(points).all():
            continue
        points_out.append(points)
        scores_out.append(probs[CENTRE][component].mean())
    if not points_out:
        return np.zeros((0, num_points, 2), np.float32), np.zeros((0, ), np.float32)
    return np.stack(points_out).astype(np.float32), np.asarray(scores_out, np.float32)
