"""Polygon geometry for the RRC protocol, on shapely 2.

Shapely, not the RRC scripts' ``Polygon3`` (it aborts Python 3.11 at exit): same areas, vectorised.

Invalid polygons: a polygon whose outline intersects itself (e.g. a "bow-tie" from a badly
ordered quad) is repaired with :func:`shapely.make_valid`, which keeps every lobe, so its area is
the area of the region the outline encloses (the two triangles of a bow-tie). Only the polygonal
parts of the repair are kept; an outline that encloses nothing (all points on a line) becomes an
empty geometry with area 0, which never matches anything (IoU 0), and, as in the RRC script, a
zero-area prediction is never dropped as don't-care, so it counts as a false positive.
"""
from typing import Any, Sequence

import numpy as np
import shapely
from shapely.errors import GEOSException
from shapely.geometry.base import BaseGeometry

# Grid (in pixels) of the fallback overlay of intersection_areas.
_SNAP_GRID = 1e-6


def as_flat_coords(polygon: Any, where: str) -> np.ndarray:
    """Convert a polygon given as a tensor, array or list to a flat float64 array.

    Args:
        polygon (Any): ``[x1, y1, x2, y2, ...]`` or ``[[x1, y1], ...]`` as a torch tensor, a numpy
            array or a (nested) list.
        where (str): Description of the polygon's origin for error messages, e.g.
            ``'img_1.jpg: prediction 3'``.

    Returns:
        np.ndarray: ``(2 * num_points,)`` float64 coordinates.

    Raises:
        ValueError: If the coordinates are not finite numbers, are odd in number, or describe
            fewer than 3 points.
    """
    if hasattr(polygon, 'detach'):  # a torch tensor, without importing torch here
        polygon = polygon.detach().cpu().numpy()
    try:
        coords = np.asarray(polygon, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as err:
        raise ValueError(f'{where}: polygon is not a sequence of numbers '
                         f'({err})') from err
    if coords.size % 2:
        raise ValueError(f'{where}: polygon has an odd number of coordinates '
                         f'({coords.size})')
    if coords.size < 6:
        raise ValueError(f'{where}: polygon needs at least 3 points, got '
                         f'{coords.size // 2}')
    if not np.isfinite(coords).all():
        raise ValueError(f'{where}: polygon has non-finite coordinates')
    return coords


def to_geometry(polygon: Any, where: str) -> BaseGeometry:
    """Build a valid shapely geometry from one polygon.

    Args:
        polygon (Any): Polygon coordinates, see :func:`as_flat_coords`.
        where (str): Description of the polygon's origin for error messages.

    Returns:
        BaseGeometry: A valid ``Polygon``/``MultiPolygon``, or an empty polygon when the
        outline encloses no area.
    """
    coords = as_flat_coords(polygon, where).reshape(-1, 2)
    geometry = shapely.Polygon(coords)
    if geometry.is_valid:
        return geometry
    repaired = shapely.make_valid(geometry)
    # make_valid may return lines or points next to polygons (collapsed parts): keep the area.
    parts = [
        part for part in shapely.get_parts(repaired)
        if isinstance(part, (shapely.Polygon, shapely.MultiPolygon))
    ]
    if not parts:
        return shapely.Polygon()
    return shapely.union_all(parts)


def to_geometries(polygons: Sequence[Any], where: str) -> np.ndarray:
    """Build an object array of geometries, see :func:`to_geometry`.

    Args:
        polygons (Sequence[Any]): Polygons.
        where (str): Prefix for error messages; the polygon's index is appended.

    Returns:
        np.ndarray: ``(N,)`` object array of shapely geometries.
    """
    geometries = np.empty(len(polygons), dtype=object)
    for i, polygon in enumerate(polygons):
        geometries[i] = to_geometry(polygon, f'{where} {i}')
    return geometries


def intersection_areas(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Pairwise intersection areas of two arrays of geometries.

    Args:
        first (np.ndarray): ``(N,)`` geometries.
        second (np.ndarray): ``(M,)`` geometries.

    Returns:
        np.ndarray: ``(N, M)`` float64 intersection areas.
    """
    if len(first) == 0 or len(second) == 0:
        return np.zeros((len(first), len(second)))
    try:
        return shapely.area(shapely.intersection(first[:, None], second[None, :]))
    except GEOSException:
        # Valid but nearly degenerate inputs can still defeat GEOS's floating-point overlay;
        # snapping to a 1e-6 pixel grid is exact enough for areas and always succeeds.
        return shapely.area(
            shapely.intersection(first[:, None], second[None, :], grid_size=_SNAP_GRID))


def iou_matrix(gts: np.ndarray, preds: np.ndarray) -> np.ndarray:
    """Pairwise intersection over union.

    Args:
        gts (np.ndarray): ``(G,)`` GT geometries.
        preds (np.ndarray): ``(P,)`` predicted geometries.

    Returns:
        np.ndarray: ``(G, P)`` IoU; 0 where the union has no area.
    """
    inter = intersection_areas(gts, preds)
    union = shapely.area(gts)[:, None] + shapely.area(preds)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def coverage_matrix(preds: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """Fraction of each prediction's own area that lies inside each region.

    This is the RRC "area precision" used to drop predictions that fall on don't-care GT.

    Args:
        preds (np.ndarray): ``(P,)`` predicted geometries.
        regions (np.ndarray): ``(R,)`` region geometries (don't-care GT).

    Returns:
        np.ndarray: ``(P, R)`` intersection area over prediction area; 0 for a prediction
        without area.
    """
    inter = intersection_areas(preds, regions)
    area = np.broadcast_to(shapely.area(preds)[:, None], inter.shape)
    return np.divide(inter, area, out=np.zeros_like(inter), where=area > 0)
