"""Text size of annotated words: the line height of a word polygon, per-image summaries, ranks.

The height of a word is the height of its text line as the polygon draws it, in pixels:

* a quadrilateral (ICDAR 2015 quads, rotated boxes): the short side of its minimum rotated
  rectangle;
* a polygon of ``2k >= 6`` points in the Total-Text / CTW-1500 layout (``k`` points along the
  top edge from the text's start to its end, then ``k`` along the bottom edge back): the mean
  distance between corresponding top and bottom points (top point ``i`` with bottom point
  ``2k - 1 - i``), which follows a curved line where a rotated rectangle would not;
* any other polygon (an odd number of points): the short side of the rectangle with the same
  area and perimeter, exact for rectangles and for bands of constant height along a circular
  arc; the short side of the minimum rotated rectangle when no such rectangle exists (compact,
  blob-like outlines).

A word's char height is taken to be its word height: the difference between x-height, cap
height and the ascender-to-descender span of a word is ignored, and so is the margin an
annotation leaves around the ink. Vertical (top-to-bottom) writing is measured across its
column, i.e. by the width of its characters.

Per image, :func:`image_text_sizes` summarises the care words at a resize factor: the same
numbers for an annotation file (original pixels times the test pipeline's resize) and for a
packed test sample (``gt_instances.polygons`` and ``.texts`` are in the original image's frame;
pass the sample's ``metainfo['scale_factor']``, ``(w_scale, h_scale)``, as ``scale``).
:func:`spearman` rank-correlates, e.g., the smallest word per image with the scale a resolution
selector chose for it.
"""
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np
import shapely

from .polygons import as_flat_coords, shoelace_area
from .text_rules import DONT_CARE_TEXT

#: A resize factor: one for both axes, or ``(w_scale, h_scale)``.
Scale = Union[float, Tuple[float, float], Sequence[float]]


def _min_rect_short_side(points: np.ndarray) -> float:
    """Short side of the minimum rotated rectangle around ``points`` ``(N, 2)``."""
    rectangle = shapely.oriented_envelope(shapely.MultiPoint(points))
    if not isinstance(rectangle, shapely.Polygon):  # all points on a line or one point
        return 0.0
    corners = np.asarray(rectangle.exterior.coords)[:4]
    sides = np.linalg.norm(corners - np.roll(corners, -1, axis=0), axis=1)
    return float(sides.min())


def _paired_edge_distance(points: np.ndarray) -> float:
    """Mean distance between top point ``i`` and bottom point ``2k - 1 - i``."""
    half = len(points) // 2
    top, bottom = points[:half], points[half:][::-1]
    return float(np.linalg.norm(top - bottom, axis=1).mean())


def _equivalent_rectangle_short_side(points: np.ndarray) -> float:
    """Short side of the rectangle with the outline's area and perimeter, if there is one."""
    area = shoelace_area(points)
    half_perimeter = 0.5 * float(np.linalg.norm(points - np.roll(points, -1, axis=0),
                                                axis=1).sum())
    # Sides a, b with a + b = P / 2 and a * b = A are the roots of t^2 - (P / 2) t + A.
    discriminant = half_perimeter**2 - 4.0 * area
    if discriminant < 0:
        return _min_rect_short_side(points)
    return 0.5 * (half_perimeter - float(np.sqrt(discriminant)))


def word_height(polygon: Any, where: str = 'polygon') -> float:
    """Text line height of a word polygon, in the polygon's pixels (see the module docstring).

    Args:
        polygon (Any): ``[x1, y1, x2, y2, ...]`` or ``[[x1, y1], ...]`` (tensor, array or list).
        where (str): Description of the polygon's origin for error messages, e.g.
            ``'data/x/textspotting_test.json: imgs/test/000003.jpg: instance 2'``.

    Returns:
        float: The height; 0 for an outline without area.

    Raises:
        ValueError: If the coordinates are not finite numbers, are odd in number, or describe
            fewer than 3 points (the message starts with ``where``).
    """
    points = as_flat_coords(polygon, where).reshape(-1, 2)
    if len(points) == 4:
        return _min_rect_short_side(points)
    if len(points) % 2 == 0:
        return _paired_edge_distance(points)
    return _equivalent_rectangle_short_side(points)


#: The char height of a word is its word height (see the module docstring).
char_height = word_height


def _scale_pair(scale: Scale) -> Tuple[float, float]:
    if np.ndim(scale) == 0:
        pair = (float(scale), float(scale))
    else:
        values = [float(v) for v in scale]
        if len(values) != 2:
            raise ValueError(f'scale must be a number or (w_scale, h_scale), got {scale!r}')
        pair = (values[0], values[1])
    if not all(np.isfinite(v) and v > 0 for v in pair):
        raise ValueError(f'scale must be positive, got {scale!r}')
    return pair


def is_care_text(text: Optional[str]) -> bool:
    """Whether a transcription marks a word to read: not ``'###'``, not empty, not None."""
    return bool(text) and text != DONT_CARE_TEXT


def image_text_sizes(polygons: Sequence[Any],
                     texts: Sequence[Optional[str]],
                     scale: Scale = 1.0,
                     ignore_dont_care: bool = True,
                     min_length: int = 1,
                     where: str = 'image') -> Dict[str, Any]:
    """Word heights of one image after resizing it by ``scale``.

    Args:
        polygons (Sequence[Any]): Word polygons in the image's pixels, see :func:`word_height`.
        texts (Sequence[str | None]): Their transcriptions; ``'###'``, empty and None mark
            don't-care words.
        scale (float | tuple[float, float]): Resize factor of the image, or
            ``(w_scale, h_scale)`` (a packed sample's ``metainfo['scale_factor']``).
        ignore_dont_care (bool): Leave don't-care words out. Defaults to True.
        min_length (int): Leave out care words of fewer characters. Defaults to 1 (every care
            word).
        where (str): Description of the image for error messages (file and image).

    Returns:
        dict: ``min`` and ``median`` height in px at ``scale`` (None when no word counts),
        ``n`` the number of words counted and ``heights`` their heights (in input order).
        Outlines without area (heights of 0) are not words and are never counted.

    Raises:
        ValueError: If ``polygons`` and ``texts`` differ in length, ``scale`` is not positive,
            or a polygon is malformed (the message names ``where`` and the instance).
    """
    if len(polygons) != len(texts):
        raise ValueError(f'{where}: {len(polygons)} polygons but {len(texts)} texts')
    w_scale, h_scale = _scale_pair(scale)
    heights = []
    for index, (polygon, text) in enumerate(zip(polygons, texts)):
        instance = f'{where}: instance {index}'
        if is_care_text(text):
            if len(text) < min_length:
                continue
        elif ignore_dont_care:
            continue
        points = as_flat_coords(polygon, instance).reshape(-1, 2) * (w_scale, h_scale)
        height = word_height(points, instance)
        if height > 0:
            heights.append(height)
    if not heights:
        return dict(min=None, median=None, n=0, heights=[])
    return dict(min=float(min(heights)), median=float(np.median(heights)), n=len(heights),
                heights=heights)


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation of paired values, ties given their average rank.

    Args:
        x (Sequence[float]): First values, e.g. the smallest word height of each image.
        y (Sequence[float]): Second values of the same items, e.g. the chosen scale.

    Returns:
        float: The correlation in [-1, 1]; NaN when either side is constant (no ranking).

    Raises:
        ValueError: If the sequences differ in length, hold fewer than 2 pairs or non-finite
            values.
    """
    from scipy.stats import spearmanr
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if len(x) != len(y):
        raise ValueError(f'spearman: {len(x)} x values but {len(y)} y values')
    if len(x) < 2:
        raise ValueError(f'spearman: needs at least 2 pairs, got {len(x)}')
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError('spearman: values must be finite (leave images without words out)')
    # scipy warns and returns NaN for constant input; say NaN without the warning.
    if np.all(x == x[0]) or np.all(y == y[0]):
        return float('nan')
    return float(spearmanr(x, y).statistic)
