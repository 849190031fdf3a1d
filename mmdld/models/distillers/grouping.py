"""Grouping the images of a batch by their chosen scale, and merging the groups' losses."""
from typing import Dict, List, Sequence, Tuple, Union

import torch
from torch import Tensor

LossValue = Union[Tensor, List[Tensor]]


def group_by_index(index: Union[Tensor, Sequence[int]]) -> List[Tuple[int, List[int]]]:
    """Images per chosen scale index: ``[(scale_index, [image indices]), ...]``.

    Groups come in ascending scale index, images in ascending order within a group, so the
    order (and the instance order built from it) is deterministic.

    Args:
        index (Tensor | Sequence[int]): ``[B]`` chosen scale index of each image.

    Returns:
        list[tuple[int, list[int]]]: One entry per distinct index present.
    """
    values = index.tolist() if isinstance(index, Tensor) else [int(i) for i in index]
    groups: Dict[int, List[int]] = {}
    for img, j in enumerate(values):
        groups.setdefault(int(j), []).append(img)
    return sorted(groups.items())


def instance_indices(num_per_img: Sequence[int], images: Sequence[int],
                     device: torch.device) -> Tensor:
    """Indices, in the batch's concatenated instance order, of the instances of ``images``.

    Args:
        num_per_img (Sequence[int]): Instances of each image of the batch.
        images (Sequence[int]): Images of a group, in the group's order.
        device (torch.device): Device of the result.

    Returns:
        Tensor: ``[sum(num_per_img[i] for i in images)]`` long indices.
    """
    starts = [0]
    for n in num_per_img:
        starts.append(starts[-1] + int(n))
    parts = [torch.arange(starts[i], starts[i + 1]) for i in images]
    out = torch.cat(parts) if parts else torch.zeros(0, dtype=torch.long)
    return out.to(device=device, dtype=torch.long)


def merge_group_losses(group_losses: Sequence[Dict[str, LossValue]],
                       weights: Sequence[float]) -> Dict[str, LossValue]:
    """Weighted sum of the loss dicts of the scale groups.

    Each group's losses are means over its own images; weighting them by the group's share of
    the batch gives the mean over the batch, so one group (one scale for all) reproduces the
    plain detector's losses exactly. Lists (MMDetection's per-level RPN losses) are merged
    element-wise.

    Args:
        group_losses (Sequence[dict]): Loss dict of each group, all with the same keys.
        weights (Sequence[float]): Weight of each group (its images over the batch size).

    Returns:
        dict: The merged losses.
    """
    if len(group_losses) != len(weights) or not group_losses:
        raise ValueError(f'merge_group_losses: got {len(group_losses)} loss dicts and '
                         f'{len(weights)} weights')
    keys = list(group_losses[0])
    for i, losses in enumerate(group_losses[1:], 1):
        if set(losses) != set(keys):
            raise ValueError(f'merge_group_losses: group {i} has losses {sorted(losses)}, '
                             f'group 0 has {sorted(keys)}')
    merged: Dict[str, LossValue] = {}
    for key in keys:
        values = [losses[key] for losses in group_losses]
        if isinstance(values[0], (list, tuple)):
            merged[key] = [
                sum(w * v[level] for w, v in zip(weights, values))
                for level in range(len(values[0]))
            ]
        else:
            merged[key] = sum(w * v for w, v in zip(weights, values))
    return merged
