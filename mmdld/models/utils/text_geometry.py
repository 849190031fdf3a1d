"""Polygon and polyline geometry of text instances (Text Perceptron's targets, MANGO's grid).

A text polygon (MMOCR's textspotting format, Total-Text convention) lists its top side left to
right, then its bottom side right to left; a quad is ``TL, TR, BR, BL``. Its *sides* here are
the top side and the bottom side, both left to right, each a polyline ``[n, 2]``.

Coordinate convention (the one of ``shape_transform.py``): input-image pixel ``(i, j)`` covers
``[j, j + 1) x [i, i + 1)``; feature-map pixel ``(i, j)`` of a map of stride ``s`` covers
``[s j, s (j + 1)) x [s i, s (i + 1))`` of the image. Feature-map coordinates here put the
*centre* of feature pixel ``(i, j)`` at ``(j, i)``, so that a pixel's position is its index:
``x_f = x / s - 0.5``.
"""
from typing import Tuple, Union

import numpy as np

#: Polygons and point sets come as flat ``[2P]`` or ``[P, 2]`` arrays (or lists).
PolygonLike = Union[np.ndarray, list, tuple]


def _describe(points: np.ndarray) -> str:
    """A short, readable rendering of a polygon's coordinates for error messages."""
    return str(np.round(np.asarray(points, dtype=np.float64).reshape(-1), 2).tolist())


def polygon_area(points: np.ndarray) -> float:
    """Unsigned shoelace area of a closed polygon ``[P, 2]``."""
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def as_text_polygon(polygon: PolygonLike, name: str) -> np.ndarray:
    """Checks a text polygon and returns it as a float64 ``[P, 2]`` array.

    Args:
        polygon (array-like): Flat ``[2P]`` or ``[P, 2]`` coordinates.
        name (str): What to call the polygon in an error (e.g. ``'polygon 2 of image 0'``).

    Returns:
        np.ndarray: ``[P, 2]`` float64, ``P >= 4`` and even.

    Raises:
        ValueError: The coordinates are not finite, do not pair up into points, there are
            fewer than 4 points or an odd number of them (no top and bottom side of equal
            length), or the polygon has zero area.
    """
    coords = np.asarray(polygon, dtype=np.float64)
    if coords.ndim == 2 and coords.shape[1] == 2:
        points = coords
    elif coords.ndim == 1 and coords.size % 2 == 0:
        points = coords.reshape(-1, 2)
    else:
        raise ValueError(f'{name}: expected flat [x1, y1, x2, y2, ...] or [P, 2] coordinates, '
                         f'got shape {coords.shape}: {_describe(coords)}')
    if not np.isfinite(points).all():
        raise ValueError(f'{name}: coordinates must be finite, got {_describe(points)}')
    num_points = len(points)
    if num_points < 4 or num_points % 2:
        raise ValueError(f'{name}: a text polygon needs an even number of at least 4 points '
                         f'(top side, then bottom side), got {num_points}: {_describe(points)}')
    if polygon_area(points) <= 1e-6:
        raise ValueError(f'{name}: the polygon has zero area: {_describe(points)}')
    return points


def split_sides(points: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """The top and bottom sides of a checked polygon ``[P, 2]``, both left to right.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``top`` (the first half) and ``bottom`` (the second
        half reversed), each ``[P / 2, 2]``.
    """
    half = len(points) // 2
    return points[:half], points[half:][::-1]


def cumulative_lengths(polyline: np.ndarray) -> np.ndarray:
    """Arc length from the start to every vertex of ``polyline`` ``[n, 2]`` (``[n]``)."""
    steps = np.linalg.norm(np.diff(polyline, axis=0), axis=1)
    return np.concatenate([[0.0], np.cumsum(steps)])


def points_at_lengths(polyline: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The points of ``polyline`` at the given arc lengths from its start (clipped to it).

    Args:
        polyline (np.ndarray): ``[n, 2]``, ``n >= 1``.
        lengths (np.ndarray): ``[m]`` arc lengths.

    Returns:
        np.ndarray: ``[m, 2]``.
    """
    cum = cumulative_lengths(polyline)
    if cum[-1] <= 0:
        # A side collapsed to one point: every arc length is that point.
        return np.repeat(polyline[:1], len(lengths), axis=0)
    lengths = np.clip(np.asarray(lengths, dtype=np.float64), 0.0, cum[-1])
    x = np.interp(lengths, cum, polyline[:, 0])
    y = np.interp(lengths, cum, polyline[:, 1])
    return np.stack([x, y], axis=1)


def resample_polyline(polyline: np.ndarray, num: int) -> np.ndarray:
    """``num`` points evenly spaced by arc length along ``polyline``, both ends included.

    Args:
        polyline (np.ndarray): ``[n, 2]``.
        num (int): Number of points, at least 2.

    Returns:
        np.ndarray: ``[num, 2]`` float64; the first is the start, the last the end.
    """
    if num < 2:
        raise ValueError(f'resample_polyline: need at least 2 points, got {num}')
    total = cumulative_lengths(polyline)[-1]
    return points_at_lengths(polyline, np.linspace(0.0, total, num))


def sub_polyline(polyline: np.ndarray, start: float, end: float) -> np.ndarray:
    """The part of ``polyline`` between arc lengths ``start < end``, with its vertices."""
    cum = cumulative_lengths(polyline)
    inner = polyline[(cum > start) & (cum < end)]
    ends = points_at_lengths(polyline, np.array([start, end]))
    return np.concatenate([ends[:1], inner, ends[1:]])


def nearest_points_on_polyline(query: np.ndarray, polyline: np.ndarray) -> np.ndarray:
    """For every query point, the nearest point of ``polyline``.

    Args:
        query (np.ndarray): ``[m, 2]``.
        polyline (np.ndarray): ``[n, 2]``, ``n >= 2``.

    Returns:
        np.ndarray: ``[m, 2]``.
    """
    starts, ends = polyline[:-1], polyline[1:]  # [S, 2]
    direction = ends - starts
    sq_len = np.maximum((direction**2).sum(1), 1e-12)
    # Projection parameter of every query on every segment, clamped to the segment.
    t = ((query[:, None, :] - starts[None]) * direction[None]).sum(-1) / sq_len[None]
    t = np.clip(t, 0.0, 1.0)
    candidates = starts[None] + t[..., None] * direction[None]  # [m, S, 2]
    sq_dist = ((candidates - query[:, None, :])**2).sum(-1)
    best = sq_dist.argmin(1)
    return candidates[np.arange(len(query)), best]


def image_to_feature(points: np.ndarray, stride: int) -> np.ndarray:
    """Input-image pixel coordinates to feature-map coordinates (module docstring)."""
    return np.asarray(points, dtype=np.float64) / stride - 0.5


def feature_to_image(points: np.ndarray, stride: int) -> np.ndarray:
    """Feature-map coordinates to input-image pixel coordinates (module docstring)."""
    return (np.asarray(points, dtype=np.float64) + 0.5) * stride
