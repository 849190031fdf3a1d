"""MANGO's grid assignment: which cells of the ``S x S`` grid hold which text instance.

MANGO (Qiao et al., AAAI 2021) splits the input into ``S x S`` cells, as SOLO (Wang et al., ECCV
2020) does, and makes the cells around each text instance's centre responsible for it: their
category target is "text", their instance mask the instance's mask and their sequence its
transcription. For an instance whose bounding box is ``(x1, y1, x2, y2)`` with centre
``(cx, cy)``, width ``w`` and height ``h``, on a grid of cells ``H / S`` high and ``W / S`` wide
over the ``H x W`` (padded) input:

- its *centre cell* is the cell holding ``(cx, cy)``;
- its *centre region* are the cells that overlap the box ``cx +- sigma * w / 2``,
  ``cy +- sigma * h / 2`` (the instance's box shrunk by ``sigma``), limited to the centre cell's
  3 x 3 neighbourhood (SOLO's centre sampling), and always containing the centre cell.

Instances are drawn largest first, so that where centre regions overlap the smaller instance
keeps the cells (its region is the smaller one, it has fewer to lose). The centre box is the
bounding box's centre rather than the mask's centre of mass (SOLO): for the quadrilaterals and
curved polygons of text both lie on the word's axis, and the box centre needs no rasterisation.

Don't-care instances' centre regions are drawn too, as ignored cells (no category loss), unless
a care instance owns them.
"""
from typing import Dict, Sequence, Tuple

import numpy as np

from mmdld.models.utils.text_geometry import image_to_feature
from mmdld.models.text_perceptron.tp_targets import pixels_inside

#: Category targets: 0 background, 1 text; ``IGNORE`` cells get no category loss.
BACKGROUND, TEXT, IGNORE = 0, 1, -1


def _box(polygon: np.ndarray) -> Tuple[float, float, float, float]:
    points = np.asarray(polygon, np.float64).reshape(-1, 2)
    (x1, y1), (x2, y2) = points.min(0), points.max(0)
    return float(x1), float(y1), float(x2), float(y2)


def centre_region(polygon: np.ndarray, input_shape: Tuple[int, int], num_grid: int,
                  sigma: float) -> Tuple[int, Tuple[int, int, int, int]]:
    """The centre cell (flat index) and the centre region's rows/columns of one polygon.

    Args:
        polygon (np.ndarray): Flat ``[2P]`` or ``[P, 2]`` (x, y) in input pixels.
        input_shape (tuple[int, int]): ``(H, W)`` of the input the grid covers.
        num_grid (int): ``S``.
        sigma (float): Centre-region scale, in ``(0, 1]``.

    Returns:
        tuple: ``i * S + j`` of the centre cell, and ``(top, bottom, left, right)`` (inclusive
        cell rows and columns) of the centre region.
    """
    height, width = input_shape
    cell_h, cell_w = height / num_grid, width / num_grid
    x1, y1, x2, y2 = _box(polygon)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    half_w, half_h = sigma * (x2 - x1) / 2, sigma * (y2 - y1) / 2

    def cell(value: float, size: float) -> int:
        return int(np.clip(np.floor(value / size), 0, num_grid - 1))

    i, j = cell(cy, cell_h), cell(cx, cell_w)
    top = max(cell(cy - half_h, cell_h), i - 1)
    bottom = min(cell(cy + half_h, cell_h), i + 1)
    left = max(cell(cx - half_w, cell_w), j - 1)
    right = min(cell(cx + half_w, cell_w), j + 1)
    return i * num_grid + j, (top, bottom, left, right)


def grid_targets(polygons: Sequence[np.ndarray],
                 input_shape: Tuple[int, int],
                 num_grid: int,
                 sigma: float = 0.2,
                 ignored_polygons: Sequence[np.ndarray] = ()) -> Dict[str, np.ndarray]:
    """Per-cell category targets and instance indices of one image (module docstring).

    Args:
        polygons (Sequence[np.ndarray]): The care instances' polygons, in input pixels.
        input_shape (tuple[int, int]): ``(H, W)`` of the (padded) input the grid covers.
        num_grid (int): ``S``.
        sigma (float): Centre-region scale. Defaults to 0.2 (SOLO's).
        ignored_polygons (Sequence[np.ndarray]): Don't-care instances.

    Returns:
        dict[str, np.ndarray]: ``labels`` ``[S * S]`` int64 (``TEXT``, ``BACKGROUND`` or
        ``IGNORE``), ``instance`` ``[S * S]`` int64 (index into ``polygons`` of the instance a
        ``TEXT`` cell holds, -1 elsewhere) and ``centre_cells`` ``[n]`` int64 (each instance's
        centre cell, whoever owns it).

    Raises:
        ValueError: A bad ``num_grid``, ``sigma`` or ``input_shape``.
    """
    if not (isinstance(num_grid, (int, np.integer)) and num_grid > 0):
        raise ValueError(f'grid_targets: num_grid must be a positive int, got {num_grid!r}')
    if not 0 < sigma <= 1:
        raise ValueError(f'grid_targets: sigma must be in (0, 1], got {sigma!r}')
    height, width = (int(v) for v in input_shape)
    if height <= 0 or width <= 0:
        raise ValueError(f'grid_targets: input_shape must be positive, got {input_shape}')
    labels = np.full((num_grid, num_grid), BACKGROUND, np.int64)
    instance = np.full((num_grid, num_grid), -1, np.int64)
    for polygon in ignored_polygons:
        _, (top, bottom, left, right) = centre_region(polygon, (height, width), num_grid, sigma)
        labels[top:bottom + 1, left:right + 1] = IGNORE

    centres = np.zeros(len(polygons), np.int64)
    regions = []
    for index, polygon in enumerate(polygons):
        centres[index], region = centre_region(polygon, (height, width), num_grid, sigma)
        x1, y1, x2, y2 = _box(polygon)
        regions.append(((x2 - x1) * (y2 - y1), index, region))
    # Largest first (stable for equal areas): smaller instances overwrite shared cells.
    for _, index, (top, bottom, left, right) in sorted(regions, key=lambda r: (-r[0], r[1])):
        labels[top:bottom + 1, left:right + 1] = TEXT
        instance[top:bottom + 1, left:right + 1] = index
    return dict(labels=labels.reshape(-1), instance=instance.reshape(-1), centre_cells=centres)


def instance_mask_targets(polygons: Sequence[np.ndarray], feat_shape: Tuple[int, int],
                          stride: int) -> np.ndarray:
    """``[n, H, W]`` bool: the feature pixels whose centres lie inside each polygon.

    The targets of the instance mask attention (a pixel ``(x, y)`` of the stride-``s`` map has
    its centre at ``((x + 0.5) s, (y + 0.5) s)`` in the input, ``text_geometry``'s convention). A
    polygon too thin to hold a pixel centre keeps the pixel nearest its box centre, so that
    every instance has a non-empty mask.
    """
    height, width = (int(v) for v in feat_shape)
    masks = np.zeros((len(polygons), height, width), bool)
    for index, polygon in enumerate(polygons):
        points = image_to_feature(np.asarray(polygon, np.float64).reshape(-1, 2), stride)
        masks[index] = pixels_inside(points, (height, width))
        if not masks[index].any():
            cx, cy = np.round((points.min(0) + points.max(0)) / 2).astype(int)
            masks[index, np.clip(cy, 0, height - 1), np.clip(cx, 0, width - 1)] = True
    return masks
