"""Polygon geometry for the RRC protocol, on shapely 2.

Shapely, not the RRC scripts' ``Polygon3`` (it aborts Python 3.11 at exit): same areas, vectorised.

Areas follow the RRC scripts, which matters only for polygons whose outline crosses itself (a
"bow-tie" from a badly ordered quad):

* a polygon's own area (in the IoU union and as the denominator of the don't-care coverage) is
  the area of its raw outline by the shoelace formula, as ``Polygon3``'s ``area()`` computes it:
  the lobes of a bow-tie wind in opposite directions and their areas subtract;
* the intersection of two polygons is the area shared by the regions their outlines enclose
  (:func:`to_geometry` repairs an outline with :func:`shapely.make_valid`, which keeps every
  lobe, as the scripts' clipping does).

For a simple outline both are the usual areas. For a bow-tie the IoU can exceed 1, and the union
can be zero or negative: the IoU is then 0 (the scripts get 0 or a negative value, which never
matches either). A polygon whose outline has no area has a coverage of 0, so, as in the RRC
script, a prediction of that kind is never dropped as don't-care and counts as a false positive;
an outline that encloses nothing (all points on a line) never matches anything.
"""
from typing import Any, Optional, Sequence

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


def outline_area(polygon: Any, where: str) -> float:
    """Area of a polygon's raw outline by the shoelace formula, as the RRC scripts compute it.

    Args:
        polygon (Any): Polygon coordinates, see :func:`as_flat_coords`.
        where (str): Description of the polygon's origin for error messages.

    Returns:
        float: Absolute value of the signed area of the closed outline; for a self-intersecting
        outline, lobes of opposite orientation subtract (a symmetric bow-tie has area 0).
    """
    return shoelace_area(as_flat_coords(polygon, where).reshape(-1, 2))


def shoelace_area(points: np.ndarray) -> float:
    """Absolute area of the closed outline through ``points`` ``(N, 2)`` (shoelace formula).

    Args:
        points (np.ndarray): ``(N, 2)`` vertices, ``N >= 1``.

    Returns:
        float: The area; lobes of opposite orientation subtract.
    """
    points = np.asarray(points, dtype=np.float64)
    # Relative to the first point: the same area with less cancellation for large coordinates.
    x, y = (points - points[0]).T
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y)))


def outline_areas(polygons: Sequence[Any], where: str) -> np.ndarray:
    """Raw outline areas of several polygons, see :func:`outline_area`.

    Args:
        polygons (Sequence[Any]): Polygons.
        where (str): Prefix for error messages; the polygon's index is appended.

    Returns:
        np.ndarray: ``(N,)`` float64 areas.
    """
    return np.array([outline_area(polygon, f'{where} {i}') for i, polygon in enumerate(polygons)],
                    dtype=np.float64)


def to_geometry(polygon: Any, where: str) -> BaseGeometry:
    """Build a valid shapely geometry from one polygon, for intersections.

    A self-intersecting outline is repaired with :func:`shapely.make_valid`, which keeps every
    lobe; the geometry's area then differs from the outline's (see :func:`outline_area`).

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


def _own_areas(geometries: np.ndarray, areas: Optional[np.ndarray]) -> np.ndarray:
    if areas is None:
        return shapely.area(geometries) if len(geometries) else np.zeros(0)
    areas = np.asarray(areas, dtype=np.float64).reshape(-1)
    if len(areas) != len(geometries):
        raise ValueError(f'{len(areas)} areas for {len(geometries)} geometries')
    return areas


def iou_matrix(gts: np.ndarray,
               preds: np.ndarray,
               gt_areas: Optional[np.ndarray] = None,
               pred_areas: Optional[np.ndarray] = None) -> np.ndarray:
    """Pairwise intersection over union, the union from each polygon's own area.

    Args:
        gts (np.ndarray): ``(G,)`` GT geometries.
        preds (np.ndarray): ``(P,)`` predicted geometries.
        gt_areas (np.ndarray, optional): ``(G,)`` own areas of the GT; the RRC protocol uses the
            outline areas (:func:`outline_areas`). Defaults to the geometries' areas, which are
            the same for simple outlines.
        pred_areas (np.ndarray, optional): ``(P,)`` own areas of the predictions, likewise.

    Returns:
        np.ndarray: ``(G, P)`` IoU; 0 where the union is not positive.
    """
    inter = intersection_areas(gts, preds)
    union = _own_areas(gts, gt_areas)[:, None] + _own_areas(preds, pred_areas)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def coverage_matrix(preds: np.ndarray,
                    regions: np.ndarray,
                    pred_areas: Optional[np.ndarray] = None) -> np.ndarray:
    """Intersection of each prediction with each region over the prediction's own area.

    This is the RRC "area precision" used to drop predictions that fall on don't-care GT.

    Args:
        preds (np.ndarray): ``(P,)`` predicted geometries.
        regions (np.ndarray): ``(R,)`` region geometries (don't-care GT).
        pred_areas (np.ndarray, optional): ``(P,)`` own areas of the predictions; the RRC
            protocol uses the outline areas (:func:`outline_areas`). Defaults to the
            geometries' areas, which are the same for simple outlines.

    Returns:
        np.ndarray: ``(P, R)`` intersection area over prediction area (above 1 for a
        self-intersecting prediction whose lobes cancel in its outline area); 0 for a
        prediction without area.
    """
    inter = intersection_areas(preds, regions)
    area = np.broadcast_to(_own_areas(preds, pred_areas)[:, None], inter.shape)
    return np.divide(inter, area, out=np.zeros_like(inter), where=area > 0)
