"""Training targets of Text Perceptron's detector: order-aware labels and boundary offsets.

Text Perceptron (Qiao et al., AAAI 2020) segments every text instance into four order-aware
regions and regresses, per pixel, where the instance's boundary is. For a polygon whose top side
runs left to right from ``TL`` to ``TR`` and whose bottom side runs from ``BL`` to ``BR``
(``text_geometry``'s convention), on the stride-``s`` feature map the labels are

- 0 ``BACKGROUND``: pixels outside every polygon;
- 1 ``CENTRE``: the polygon shrunk by the three regions below;
- 4 ``BOUNDARY``: the bands along the top and the bottom side. A band's inner edge joins
  ``t + boundary_ratio * (b - t)`` (resp. ``b + boundary_ratio * (t - b)``) for points ``t``,
  ``b`` at equal arc fractions of the two sides: its width is ``boundary_ratio`` of the local
  text height;
- 2 ``HEAD``: the end by ``TL``-``BL``, the part of the polygon within arc length ``w`` of the
  sides' starts, ``w = head_ratio * |TL - BL|`` (at least ``min_end_width`` feature pixels, at
  most a third of the shorter side);
- 3 ``TAIL``: the same at the ``TR``-``BR`` end, with ``|TR - BR|``.

A pixel belongs to a region when its centre lies inside it; the regions are drawn in the order
above, so head and tail override the bands and span the full height: each touches the centre
region it ends, which is how the point generation (``tp_points``) pairs them.

Regression targets (``NUM_REG_CHANNELS`` = 12 channels, feature-map pixels, each an offset from
the pixel's centre to a point, so that ``point = pixel + offset``):

- channels 0-3, at ``HEAD`` pixels: ``TL - p`` (x, y), ``BL - p`` (x, y);
- channels 4-7, at ``TAIL`` pixels: ``TR - p``, ``BR - p``;
- channels 8-11, at ``CENTRE`` pixels: ``q_top - p``, ``q_bottom - p`` with ``q_top`` the
  nearest point of the top side and ``q_bottom`` of the bottom side.

``reg_weight`` is 1 on those channels at those pixels and 0 elsewhere. The corner channels follow
the paper and DAVAR-Lab-OCR (offsets of head/tail pixels to their two corners). For centre pixels
DAVAR regresses vertical distances to the top and bottom sides (and horizontal ones to the left
and right sides); we regress the 2-D offset to the nearest side point instead, which is defined
for any orientation and lies on the side itself, so that the point generation can trace each
side from the centre region without knowing whether the text is horizontal.
"""
from typing import Dict, Sequence, Tuple

import numpy as np

from mmdld.models.utils.text_geometry import (PolygonLike, as_text_polygon, cumulative_lengths,
                                              image_to_feature, nearest_points_on_polyline,
                                              resample_polyline, split_sides, sub_polyline)

BACKGROUND, CENTRE, HEAD, TAIL, BOUNDARY = 0, 1, 2, 3, 4
#: Segmentation classes: background, centre, head, tail, top/bottom boundary.
NUM_SEG_CLASSES = 5
#: Regression channels: head corners (4), tail corners (4), nearest top/bottom points (4).
NUM_REG_CHANNELS = 12
HEAD_CHANNELS = slice(0, 4)
TAIL_CHANNELS = slice(4, 8)
SIDE_CHANNELS = slice(8, 12)

#: Samples per side for the inner edges of the boundary bands (their outer edges are the sides).
_BAND_SAMPLES = 32


def gt_fiducial_points(polygon: PolygonLike, num_points_per_side: int) -> np.ndarray:
    """The ``2K`` fiducial points of a GT text polygon.

    Args:
        polygon (array-like): Flat ``[2P]`` or ``[P, 2]``: the top side left to right, then the
            bottom side right to left (a quad: ``TL, TR, BR, BL``).
        num_points_per_side (int): ``K``, at least 2.

    Returns:
        np.ndarray: ``[2K, 2]`` float32 (x, y): ``K`` points evenly spaced by arc length along
        the top side from ``TL`` to ``TR``, then ``K`` along the bottom side from ``BL`` to
        ``BR``, in the polygon's frame.

    Raises:
        ValueError: Fewer than 4 points, an odd number of points, or zero area; the message
            gives the polygon.
    """
    points = as_text_polygon(polygon, 'gt_fiducial_points')
    top, bottom = split_sides(points)
    return np.concatenate([resample_polyline(top, num_points_per_side),
                           resample_polyline(bottom, num_points_per_side)]).astype(np.float32)


def pixels_inside(polygon: np.ndarray, shape: Tuple[int, int]) -> np.ndarray:
    """The feature pixels whose centres lie inside ``polygon`` (feature coordinates).

    Ours because ``cv2.fillPoly`` rounds the vertices to whole pixels and fills the outline, so
    that a region gains pixels whose centres lie outside it; here the even-odd rule is evaluated
    at the centres exactly.

    Args:
        polygon (np.ndarray): ``[n, 2]``, in feature-map coordinates.
        shape (tuple[int, int]): ``(H, W)`` of the map.

    Returns:
        np.ndarray: ``[H, W]`` bool.
    """
    height, width = shape
    mask = np.zeros((height, width), dtype=bool)
    x0 = max(int(np.ceil(polygon[:, 0].min())), 0)
    x1 = min(int(np.floor(polygon[:, 0].max())), width - 1)
    y0 = max(int(np.ceil(polygon[:, 1].min())), 0)
    y1 = min(int(np.floor(polygon[:, 1].max())), height - 1)
    if x0 > x1 or y0 > y1:
        return mask
    ys, xs = np.mgrid[y0:y1 + 1, x0:x1 + 1]
    px, py = xs.ravel()[None].astype(np.float64), ys.ravel()[None].astype(np.float64)
    a = polygon[:, None, :]
    b = np.roll(polygon, -1, axis=0)[:, None, :]
    # An edge counts when it spans the pixel's row (half-open in y) and lies right of the pixel.
    spans = (a[..., 1] > py) != (b[..., 1] > py)
    dy = np.where(spans, b[..., 1] - a[..., 1], 1.0)
    x_cross = a[..., 0] + (py - a[..., 1]) * (b[..., 0] - a[..., 0]) / dy
    inside = np.logical_xor.reduce(spans & (px < x_cross), axis=0)
    mask[y0:y1 + 1, x0:x1 + 1] = inside.reshape(ys.shape)
    return mask


def _instance_labels(polygon: np.ndarray, shape: Tuple[int, int], head_ratio: float,
                     boundary_ratio: float, min_end_width: float) -> np.ndarray:
    """The ``[H, W]`` int64 labels of one polygon (feature coordinates), 0 outside it."""
    top, bottom = split_sides(polygon)
    inside = pixels_inside(polygon, shape)
    labels = np.where(inside, CENTRE, BACKGROUND).astype(np.int64)
    if not inside.any():
        return labels

    top_samples = resample_polyline(top, _BAND_SAMPLES)
    bottom_samples = resample_polyline(bottom, _BAND_SAMPLES)
    top_inner = top_samples + boundary_ratio * (bottom_samples - top_samples)
    bottom_inner = bottom_samples + boundary_ratio * (top_samples - bottom_samples)
    bands = (pixels_inside(np.concatenate([top, top_inner[::-1]]), shape)
             | pixels_inside(np.concatenate([bottom, bottom_inner[::-1]]), shape))
    labels[inside & bands] = BOUNDARY

    top_len, bottom_len = cumulative_lengths(top)[-1], cumulative_lengths(bottom)[-1]
    # A third of the shorter side at most, so that a short word keeps a centre region.
    max_width = min(top_len, bottom_len) / 3.0

    def end_width(height: float) -> float:
        return min(max(head_ratio * height, min_end_width), max_width)

    head_w = end_width(np.linalg.norm(top[0] - bottom[0]))
    tail_w = end_width(np.linalg.norm(top[-1] - bottom[-1]))
    head = np.concatenate([sub_polyline(top, 0.0, head_w),
                           sub_polyline(bottom, 0.0, head_w)[::-1]])
    tail = np.concatenate([sub_polyline(top, top_len - tail_w, top_len),
                           sub_polyline(bottom, bottom_len - tail_w, bottom_len)[::-1]])
    labels[inside & pixels_inside(head, shape)] = HEAD
    labels[inside & pixels_inside(tail, shape)] = TAIL
    return labels


def text_perceptron_targets(polygons: Sequence[PolygonLike],
                            feat_shape: Tuple[int, int],
                            stride: int,
                            head_ratio: float = 0.3,
                            boundary_ratio: float = 0.2,
                            min_end_width: float = 1.0) -> Dict[str, np.ndarray]:
    """Segmentation labels and boundary-offset regression targets of one image.

    See the module docstring for the regions and the channels.

    Args:
        polygons (Sequence[array-like]): GT text polygons in input-image pixels, flat ``[2P]``
            or ``[P, 2]`` (top side left to right, bottom side right to left). Where polygons
            overlap, the later one owns the pixels.
        feat_shape (tuple[int, int]): ``(H, W)`` of the feature map.
        stride (int): Input-image pixels per feature pixel.
        head_ratio (float): Head/tail width as a fraction of the height at that end.
            Defaults to 0.3.
        boundary_ratio (float): Top/bottom band width as a fraction of the local text height.
            Defaults to 0.2.
        min_end_width (float): Least head/tail width in feature pixels, so that small text
            keeps its ends at stride ``s``. Defaults to 1.0.

    Returns:
        dict[str, np.ndarray]: ``seg`` ``[H, W]`` int64 (labels 0-4), ``reg`` and
        ``reg_weight`` ``[NUM_REG_CHANNELS, H, W]`` float32, in feature-map pixels.

    Raises:
        ValueError: A polygon with fewer than 4 points, an odd number of points or zero area
            (the message gives its index and coordinates), or a bad ``stride``/``feat_shape``.
    """
    if not (isinstance(stride, (int, np.integer)) and stride > 0):
        raise ValueError(f'text_perceptron_targets: stride must be a positive int, got {stride!r}')
    height, width = (int(v) for v in feat_shape)
    if height <= 0 or width <= 0:
        raise ValueError(f'text_perceptron_targets: feat_shape must be positive, got {feat_shape}')
    seg = np.zeros((height, width), dtype=np.int64)
    reg = np.zeros((NUM_REG_CHANNELS, height, width), dtype=np.float32)
    reg_weight = np.zeros_like(reg)

    for index, polygon in enumerate(polygons):
        name = f'text_perceptron_targets: polygon {index} of {len(polygons)}'
        points = image_to_feature(as_text_polygon(polygon, name), stride)
        labels = _instance_labels(points, (height, width), head_ratio, boundary_ratio,
                                  min_end_width)
        owned = labels != BACKGROUND
        seg[owned] = labels[owned]
        # Pixels taken over from an earlier polygon lose that polygon's targets.
        reg[:, owned] = 0.0
        reg_weight[:, owned] = 0.0

        top, bottom = split_sides(points)
        for label, channels, corners in ((HEAD, HEAD_CHANNELS, (top[0], bottom[0])),
                                         (TAIL, TAIL_CHANNELS, (top[-1], bottom[-1]))):
            ys, xs = np.nonzero(labels == label)
            pixels = np.stack([xs, ys], axis=1).astype(np.float64)
            offsets = np.concatenate([corner[None] - pixels for corner in corners], axis=1)
            reg[channels, ys, xs] = offsets.T
            reg_weight[channels, ys, xs] = 1.0

        ys, xs = np.nonzero(labels == CENTRE)
        if len(ys):
            pixels = np.stack([xs, ys], axis=1).astype(np.float64)
            offsets = np.concatenate([nearest_points_on_polyline(pixels, top) - pixels,
                                      nearest_points_on_polyline(pixels, bottom) - pixels],
                                     axis=1)
            reg[SIDE_CHANNELS, ys, xs] = offsets.T
            reg_weight[SIDE_CHANNELS, ys, xs] = 1.0
    return dict(seg=seg, reg=reg, reg_weight=reg_weight)
