"""Fiducial points of a batch's ground-truth text instances.

The Text Perceptron spotter trains its detection head on the GT polygons
(``mmdld.models.spotters.gt_instances``) and its recogniser on crops at the GT fiducial points
(``gt_fiducial_points`` of each polygon), in the frame of the network's input.
"""
from typing import Optional, Tuple

import numpy as np
import torch
from mmengine.structures import InstanceData
from torch import Tensor

from mmdld.models.spotters.gt_instances import instance_polygons
from .tp_targets import gt_fiducial_points


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
