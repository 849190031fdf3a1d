"""Measured FLOPs of a spotter at each candidate scale: the costs ``T_i`` of L_flops (eq. 3).

The authors' release approximates the cost as ``s ** 1.5``; mmdld measures it instead, because
the real ratio depends on the architecture (the backbone scales as ``s ** 2``, the RoI heads
hardly at all), which is exactly what the trade-off of eq. 4 should see. The count is the
whole test step (``mode='predict'``: detection, masks, recognition of every detection, each
decoder step), by the project's one counter, :mod:`mmdld.models.task_modules.flops_counter`.
"""
from typing import Callable, Iterable, List, Optional, Sequence

import torch
import torch.nn as nn
from torch import Tensor

from mmdld.models.task_modules import (FlopCount, count_flops, count_predict_flops,
                                       flatten_tensors)
from .resize import resize_batch


class _TensorForward(nn.Module):
    """``model._forward(inputs, data_samples)`` as ``forward(inputs)``, outputs flattened."""

    def __init__(self, model: nn.Module, data_samples: Optional[list]) -> None:
        super().__init__()
        self.model = model
        self.data_samples = data_samples

    def forward(self, inputs: Tensor) -> tuple:
        outputs = flatten_tensors(self.model._forward(inputs, self.data_samples))
        # A trace needs at least one output; a model returning none still had its ops counted.
        return tuple(outputs) if outputs else (inputs.reshape(-1)[:1], )


def count_forward_flops(model: nn.Module, inputs: Tensor,
                        data_samples: Optional[list] = None) -> int:
    """FLOPs of one tensor-mode ``model._forward(inputs, data_samples)`` call.

    MMDetection's analysis forward (for a two-stage detector: the heads on the first proposals,
    no decoding), by the same counter as the test step; ``T_i`` count the whole test step
    (:func:`measure_scale_flops`).

    Args:
        model (nn.Module): A model with MMDetection's tensor-mode ``_forward``.
        inputs (Tensor): Pre-processed batch ``[B, C, H, W]``.
        data_samples (list, optional): The batch's data samples.

    Returns:
        int: Total FLOPs for the whole batch.
    """
    return count_flops(_TensorForward(model, data_samples), (inputs, )).total


def count_predict_flops_at_scales(model: nn.Module, inputs: Tensor,
                                  data_samples: Optional[list], scales: Sequence[float],
                                  size_divisor: int, pad_value: float) -> List[FlopCount]:
    """The test step of ``model`` on one pre-processed batch resized to each scale.

    Each copy is made by :func:`~mmdld.models.utils.resize_batch` exactly as the DLD student
    sees it and counted by :func:`~mmdld.models.task_modules.count_predict_flops`. The caller
    puts the model in eval mode (and prepares the samples' frame if needed).

    Args:
        model (nn.Module): A spotter with a ``'predict'`` mode.
        inputs (Tensor): Pre-processed batch ``[B, C, H, W]`` at full resolution.
        data_samples (list, optional): Its data samples (not modified).
        scales (Sequence[float]): Scale factors; 1.0 is the full resolution.
        size_divisor (int): Padding divisor of the resized batches.
        pad_value (float): Padding value of the resized batches.

    Returns:
        list[FlopCount]: The count of the whole batch at each scale.
    """
    counts = []
    for scale in scales:
        # Test-time annotations stay in the original frame: do not rescale them.
        scaled, scaled_samples = resize_batch(inputs, data_samples, scale,
                                              size_divisor=size_divisor, pad_value=pad_value,
                                              rescale_gt=False)
        counts.append(count_predict_flops(model, scaled, scaled_samples)[0])
    return counts


def measure_scale_flops(model: nn.Module,
                        data_batches: Iterable[dict],
                        scales: Sequence[float],
                        size_divisor: Optional[int] = None,
                        on_count: Optional[Callable[[int, FlopCount], None]] = None
                        ) -> List[float]:
    """Average FLOPs per image of ``model``'s test step at each scale.

    Each batch goes through ``model.data_preprocessor`` once, then is counted at every scale
    by :func:`count_predict_flops_at_scales` (resized as the DLD student sees it). FLOPs depend
    on the image (its aspect ratio, and the number of detections the heads process and the
    words' lengths the decoder runs), hence the average over several images (paper §3.3: "we
    use the pre-computed average value"): the mean of the per-image costs when the batches
    hold one image each.

    Args:
        model (nn.Module): A spotter with a ``data_preprocessor`` and a ``'predict'`` mode.
        data_batches (Iterable[dict]): Dataloader batches (``inputs``/``data_samples``).
        scales (Sequence[float]): Scale factors; 1.0 is the full (teacher) resolution.
        size_divisor (int, optional): Padding divisor of the resized batches. Defaults to the
            data preprocessor's ``pad_size_divisor`` (or 1).
        on_count (callable, optional): Called with the scale's index and the
            :class:`~mmdld.models.task_modules.FlopCount` of every batch at every scale (e.g.
            to average the parts of the cost, :func:`~mmdld.models.task_modules.spotter_parts`).

    Returns:
        list[float]: Average FLOPs per image, one per scale.
    """
    preprocessor = model.data_preprocessor
    if size_divisor is None:
        size_divisor = int(getattr(preprocessor, 'pad_size_divisor', 1) or 1)
    pad_value = float(getattr(preprocessor, 'pad_value', 0))
    totals = [0.] * len(scales)
    num_imgs = 0
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for batch in data_batches:
                data = preprocessor(batch, False)
                inputs, samples = data['inputs'], data.get('data_samples')
                counts = count_predict_flops_at_scales(model, inputs, samples, scales,
                                                       size_divisor, pad_value)
                for j, count in enumerate(counts):
                    totals[j] += count.total
                    if on_count is not None:
                        on_count(j, count)
                num_imgs += inputs.size(0)
    finally:
        model.train(was_training)
    if num_imgs == 0:
        raise ValueError('measure_scale_flops: `data_batches` yielded no images')
    return [t / num_imgs for t in totals]


def normalise_costs(flops: Sequence[float], reference: float) -> List[float]:
    """Divides FLOPs by the reference (full-resolution) FLOPs: the ``T_i`` of eq. 3."""
    if not reference > 0:
        raise ValueError(f'normalise_costs: the reference FLOPs must be > 0, got {reference}; '
                         f'the model may have no operator the FLOP counter can count')
    return [float(f) / reference for f in flops]
