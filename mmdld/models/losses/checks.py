"""Input checks shared by the DLD losses.

A silent NaN or a broadcast between mismatched shapes would corrupt a distillation run without
any sign until much later, so every DLD loss validates its inputs and names itself and the
offending argument in the error.
"""
from typing import Sequence

import torch
from torch import Tensor


def check_shape(loss_name: str, arg_name: str, tensor: Tensor,
                shape: Sequence[int]) -> None:
    """Raises if ``tensor.shape`` differs from ``shape`` (``-1`` matches any size).

    Args:
        loss_name (str): Class name used in the message.
        arg_name (str): Argument name used in the message.
        tensor (Tensor): Tensor to check.
        shape (Sequence[int]): Expected shape.
    """
    ok = tensor.dim() == len(shape) and all(
        want == -1 or got == want for got, want in zip(tensor.shape, shape))
    if not ok:
        dims = ['*' if s == -1 else str(s) for s in shape]
        want = '(' + ', '.join(dims) + (',)' if len(dims) == 1 else ')')
        raise ValueError(f'{loss_name}: `{arg_name}` must have shape {want}, got '
                         f'{tuple(tensor.shape)}')


def check_same_shape(loss_name: str, name_a: str, a: Tensor, name_b: str, b: Tensor) -> None:
    """Raises if two tensors have different shapes."""
    if a.shape != b.shape:
        raise ValueError(f'{loss_name}: `{name_a}` {tuple(a.shape)} and `{name_b}` '
                         f'{tuple(b.shape)} must have the same shape')


def check_finite(loss_name: str, arg_name: str, tensor: Tensor) -> None:
    """Raises if ``tensor`` holds a NaN or an infinity."""
    if tensor.numel() and not bool(torch.isfinite(tensor).all()):
        n_nan = int(torch.isnan(tensor).sum())
        n_inf = int(torch.isinf(tensor).sum())
        raise ValueError(f'{loss_name}: `{arg_name}` contains {n_nan} NaN and {n_inf} infinite '
                         f'values (shape {tuple(tensor.shape)})')


def zero_with_graph(*tensors: Tensor) -> Tensor:
    """A zero loss that stays connected to the graph of ``tensors``.

    Returned when there is nothing to average (no instance in the batch): a detached constant
    would leave the parameters behind ``tensors`` without gradient, which DDP reports as unused
    parameters.
    """
    total = None
    for t in tensors:
        if t is not None and t.requires_grad:
            term = t.sum() * 0
            total = term if total is None else total + term
    if total is None:
        ref = next(t for t in tensors if t is not None)
        total = ref.new_zeros(())
    return total
