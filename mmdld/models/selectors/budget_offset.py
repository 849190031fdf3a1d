"""A test-time cost budget for the DRS: one logit offset times the per-scale costs.

The deployed DRS picks ``argmax_i (z_i - b * c_i)`` for an image with logits ``z`` and scale
costs ``c``: ``b = 0`` is the trained DRS, ``b > 0`` moves images to cheaper scales, ``b < 0``
to dearer ones. For every image the chosen cost never rises with ``b`` (the chosen line of the
upper envelope ``max_i (z_i - b c_i)`` has slope ``-c_i``, and the slope of a convex function
never falls), so the mean cost over a set of images is a non-increasing step function of
``b`` and bisection finds the smallest ``b`` that meets a budget (:func:`calibrate_offset`).

Ours because neither MMEngine nor MMDetection calibrates a learned choice to a cost budget.
"""
import math
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Union

import torch
from torch import Tensor

ArrayLike = Union[Tensor, Sequence[Sequence[float]]]


def offset_logits(logits: Tensor, costs: Union[Tensor, Sequence[float]],
                  offset: float) -> Tensor:
    """``logits - offset * costs``: the logits whose argmax is the budgeted choice.

    Args:
        logits (Tensor): ``[N, k]`` DRS logits.
        costs (Tensor | Sequence[float]): ``[k]`` cost of each scale.
        offset (float): The offset ``b``.

    Returns:
        Tensor: ``[N, k]`` shifted logits (``logits`` itself when ``offset`` is 0).
    """
    if offset == 0:
        return logits
    costs = torch.as_tensor(costs, dtype=logits.dtype, device=logits.device)
    return logits - offset * costs


def choose_with_offset(logits: Tensor, costs: Union[Tensor, Sequence[float]],
                       offset: float) -> Tensor:
    """The chosen scale index of each image at offset ``b`` (``[N]``, long)."""
    return offset_logits(logits, costs, offset).argmax(dim=-1)


@dataclass
class BudgetCalibration:
    """The offset that meets a budget on a set of images, and what it gives there.

    Attributes:
        offset (float): The offset to deploy: the smallest that meets the budget, plus a
            margin that changes no choice on these images (so that float32 rounding at test
            time does not flip a tie).
        threshold (float): The boundary: below it the mean cost exceeds the budget (within
            the bisection's tolerance).
        budget (float): The budget (mean cost per image).
        mean_cost (float): The mean cost of the choices at ``offset``.
        unbudgeted_cost (float): The mean cost at offset 0 (the trained DRS).
        counts (list[int]): Images per scale at ``offset``.
        num_images (int): Number of images.
        saturated (bool): The budget is at or above the dearest scale's cost: every image
            takes the dearest scale, and ``offset`` is the end of the searched range.
    """
    offset: float
    threshold: float
    budget: float
    mean_cost: float
    unbudgeted_cost: float
    counts: List[int] = field(default_factory=list)
    num_images: int = 0
    saturated: bool = False


def _as_table(logits: ArrayLike, costs: Sequence[float]) -> tuple:
    logits = torch.as_tensor(logits, dtype=torch.float64)
    costs = torch.as_tensor([float(c) for c in costs], dtype=torch.float64)
    if costs.dim() != 1 or costs.numel() < 2:
        raise ValueError(f'calibrate_offset: `costs` needs one cost per scale (at least 2), '
                         f'got {costs.tolist()}')
    if logits.dim() != 2 or logits.size(1) != costs.numel() or logits.size(0) == 0:
        raise ValueError(f'calibrate_offset: the logit table must be [N images, '
                         f'{costs.numel()} scales] with N >= 1, got {tuple(logits.shape)}')
    if not bool(torch.isfinite(logits).all()):
        raise ValueError(f'calibrate_offset: the logit table has '
                         f'{int((~torch.isfinite(logits)).sum())} non-finite values')
    if not bool(torch.isfinite(costs).all()) or bool((costs < 0).any()):
        raise ValueError(f'calibrate_offset: `costs` must be finite and >= 0, got '
                         f'{costs.tolist()}')
    return logits, costs


def _name(index: int, scales: Optional[Sequence[float]]) -> str:
    return f'scale {scales[index]:g}' if scales is not None else f'scale index {index}'


def search_range(logits: Tensor, costs: Tensor) -> float:
    """``B`` such that every image takes its cheapest scale at ``b >= B`` (dearest at ``-B``).

    A cheaper scale ``j`` beats a dearer ``i`` once ``b (c_i - c_j) > z_i - z_j``; the
    largest logit spread over the smallest nonzero cost gap bounds every such ``b``.
    """
    gaps = (costs[:, None] - costs[None, :]).abs()
    gaps = gaps[gaps > 0]
    if gaps.numel() == 0:
        return 1.0
    spread = float((logits.max(dim=1).values - logits.min(dim=1).values).max())
    return 2.0 * spread / float(gaps.min()) + 1.0


def calibrate_offset(logits: ArrayLike,
                     costs: Sequence[float],
                     budget: float,
                     scales: Optional[Sequence[float]] = None,
                     unit: str = '',
                     tol: float = 1e-7,
                     margin: float = 1e-3) -> BudgetCalibration:
    """The smallest offset ``b`` whose choices ``argmax(z - b c)`` meet a mean-cost budget.

    Bisection on ``b`` (the mean cost is non-increasing in it, see the module's docstring)
    between ``-B`` and ``B`` (:func:`search_range`), to ``tol * (1 + B)``. The offset returned
    is the feasible end of the last bracket plus up to ``margin * (1 + |b|)``, halved until no
    choice on these images differs from the feasible end's.

    Args:
        logits (Tensor | sequence): ``[N, k]`` DRS logits of ``N`` calibration images.
        costs (Sequence[float]): ``[k]`` cost per image of each scale, in the budget's unit
            (e.g. ``T_i``, GFLOPs or ms; a constant added to all, such as the DRS's own cost,
            changes no choice).
        budget (float): The mean cost per image to meet.
        scales (Sequence[float], optional): The scales, to name them in messages.
        unit (str): The budget's unit, for messages (e.g. ``'ms'``).
        tol (float): Relative tolerance of the bisection.
        margin (float): Relative upper bound of the safety margin.

    Returns:
        BudgetCalibration: The offset and what it gives on these images.

    Raises:
        ValueError: If the budget is below the cheapest scale's cost, or the table is
            malformed.
    """
    logits, costs = _as_table(logits, costs)
    suffix = f' {unit}' if unit else ''
    cheapest = int(costs.argmin())
    if not math.isfinite(budget):
        raise ValueError(f'calibrate_offset: the budget must be finite, got {budget}')
    if budget < float(costs[cheapest]) * (1 - 1e-12):
        raise ValueError(
            f'calibrate_offset: the budget {budget:g}{suffix} is below the cheapest scale\'s '
            f'cost {float(costs[cheapest]):.6g}{suffix} ({_name(cheapest, scales)}): no '
            'choice of scales can meet it')

    def mean_cost(b: float) -> float:
        return float(costs[choose_with_offset(logits, costs, b)].mean())

    # A mean equal to the budget must count as meeting it despite float64 rounding.
    limit = budget + 1e-9 * max(abs(budget), float(costs.abs().max()))

    bound = search_range(logits, costs)
    lo, hi = -bound, bound
    saturated = mean_cost(lo) <= limit
    if saturated:
        hi = lo
    while hi - lo > tol * (1 + bound):
        mid = 0.5 * (lo + hi)
        if mean_cost(mid) <= limit:
            hi = mid
        else:
            lo = mid
    chosen = choose_with_offset(logits, costs, hi)
    step = 0. if saturated else margin * (1 + abs(hi))
    while step > 0 and not torch.equal(choose_with_offset(logits, costs, hi + step), chosen):
        step *= 0.5
        if step < tol * (1 + bound):
            step = 0.
    offset = hi + step
    chosen = choose_with_offset(logits, costs, offset)
    return BudgetCalibration(
        offset=offset,
        threshold=hi,
        budget=float(budget),
        mean_cost=float(costs[chosen].mean()),
        unbudgeted_cost=mean_cost(0.),
        counts=torch.bincount(chosen, minlength=costs.numel()).tolist(),
        num_images=int(logits.size(0)),
        saturated=saturated)
