"""Polygons and fiducial points of a batch's ground-truth text instances.

The Text Perceptron spotter trains its detection head on the GT polygons and its recogniser on
crops at the GT fiducial points (``gt_fiducial_points`` of each polygon); these functions turn
an image's ``gt_instances`` into both, in the frame of the network's input.
"""
from typing import List, Optional, Tuple

import numpy as np
import torch
from mmdet.structures.bbox import get_box_tensor
from mmengine.structures import InstanceData
from torch import Tensor

from .tp_geometry import as_text_polygon
from .tp_targets import gt_fiducial_points


def box_outline(box: np.ndarray) -> np.ndarray:
    """The flat 4-point polygon ``[TL, TR, BR, BL]`` of an ``x1, y1, x2, y2`` box (float32)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return np.array([x1, y1, x2, y1, x2, y2, x1, y2], np.float32)


def text_polygon(polygon: np.ndarray) -> np.ndarray:
    """``polygon`` if it is a text polygon, else the outline of its points' bounding box.

    A text polygon has an even number of at least four points (a top and a bottom side) and a
    positive area (``as_text_polygon``). Others (a dataset's polygon with an odd number of
    points, a word flattened by a resize) are read through their box, at least one
    pixel wide and high, so that every GT instance keeps detection targets and a crop: the
    distiller matches the student's instances to the teacher's one by one.

    Args:
        polygon (np.ndarray): Flat ``[x1, y1, ...]``.

    Returns:
        np.ndarray: Flat float32, top side left to right first.
    """
    points = np.asarray(polygon, np.float32).reshape(-1, 2)
    try:
        as_text_polygon(points, 'polygon')
        return points.reshape(-1)
    except ValueError:
        pass
    if len(points) == 0 or not np.isfinite(points).all():
        raise ValueError(f'A GT polygon has no finite points: {polygon!r}')
    (x1, y1), (x2, y2) = points.min(0), points.max(0)
    return box_outline(np.array([x1, y1, max(x2, x1 + 1), max(y2, y1 + 1)]))


def instance_polygons(gt: InstanceData, img_index: int = 0) -> List[np.ndarray]:
    """The text polygons (:func:`text_polygon`) of an image's instances.

    Args:
        gt (InstanceData): ``polygons`` (list of flat arrays) or, without them, ``bboxes``
            (read as their outlines).
        img_index (int): Index of the image in its batch, for the error message.

    Returns:
        list[np.ndarray]: One flat float32 polygon per instance, top side left to right first
        (the textspotting convention; a box outline starts at its top-left corner).

    Raises:
        ValueError: If instances have neither ``polygons`` nor ``bboxes``.
    """
    if len(gt) == 0:
        return []
    if 'polygons' in gt:
        return [text_polygon(p) for p in gt.polygons]
    if 'bboxes' in gt:
        boxes = get_box_tensor(gt.bboxes).detach().cpu().numpy()
        return [text_polygon(box_outline(b)) for b in boxes]
    raise ValueError(f'gt_instances of image {img_index} in the batch have neither `polygons` '
                     'nor `bboxes`: the Text Perceptron spotter needs the words\' regions '
                     '(LoadOCRAnnotations(with_polygon=True) + PackSpottingInputs)')


def instance_fiducial_points(gt: InstanceData, num_points_per_side: int,
                             device: torch.device, img_index: int = 0) -> Tensor:
    """``[n, 2K, 2]`` float32 fiducial points (``gt_fiducial_points``) of an image's
    instances' text polygons, on ``device``."""
    polygons = instance_polygons(gt, img_index)
    if not polygons:
        return torch.zeros(0, 2 * num_points_per_side, 2, device=device)
    points = np.stack([gt_fiducial_points(p, num_points_per_side) for p in polygons])
    return torch.from_numpy(points.astype(np.float32)).to(device)


def jitter_fiducial_points(points: Tensor, num: int, ratio: float,
                           generator: Optional[torch.Generator] = None) -> Tensor:
    """The points followed by ``num`` copies of each instance's points, each point moved.

    Every coordinate of a copy moves by ``U(-ratio, ratio)`` times its instance's text height
    (the mean distance between the ``k``-th top and the ``k``-th bottom point): the copies look
    like the predicted points the recogniser reads at test time.

    Args:
        points (Tensor): ``[n, 2K, 2]`` fiducial points of one image.
        num (int): Copies per instance.
        ratio (float): Largest move, relative to the text height.
        generator (torch.Generator, optional): Random source (the global one by default).

    Returns:
        Tensor: ``[(num + 1) n, 2K, 2]``: the originals, then copy 1 of every instance, ...
    """
    if num == 0 or points.size(0) == 0:
        return points
    half = points.size(1) // 2
    heights = (points[:, :half] - points[:, half:]).norm(dim=-1).mean(1)  # [n]
    noise = torch.rand((num, *points.shape), generator=generator, dtype=points.dtype,
                       device='cpu' if generator is not None else points.device)
    moves = (noise.to(points.device) * 2 - 1) * ratio * heights[None, :, None, None]
    return torch.cat([points, (points[None] + moves).flatten(0, 1)])


def check_jitter_cfg(cfg: Optional[dict]) -> Optional[Tuple[int, float]]:
    """``(num, ratio)`` of a ``rec_train_jitter`` config, or None; ValueError if malformed."""
    if cfg is None:
        return None
    unknown = sorted(set(cfg) - {'num', 'ratio'})
    num, ratio = cfg.get('num', 1), cfg.get('ratio', 0.1)
    if unknown or not isinstance(num, int) or num < 0 or not 0 <= ratio < 0.5:
        raise ValueError('TextPerceptronSpotter: rec_train_jitter must be dict(num=<int >= 0>, '
                         f'ratio=<float in [0, 0.5)>), got {cfg!r}')
    return num, float(ratio)
