"""Sequence-level helpers for distillation."""
import torch
from torch import Tensor


def sequence_log_prob(step_log_probs: Tensor, targets: Tensor, valid_mask: Tensor) -> Tensor:
    """Log-probability of whole target sequences under per-step distributions.

    ``log p(q) = sum_t log p(q_t | q_<t, F)`` over the valid steps of ``q`` (its characters and
    its end token), as needed by L_seq (eq. 9) once the student has been teacher-forced on a
    teacher beam-search sequence ``q``.

    Args:
        step_log_probs (Tensor): ``[..., L, C]`` per-step log-probabilities.
        targets (Tensor): ``[..., L]`` class index of each step (any value on invalid steps).
        valid_mask (Tensor): ``[..., L]``, nonzero on the steps that belong to the sequence.

    Returns:
        Tensor: ``[...]`` sequence log-probabilities (differentiable w.r.t. ``step_log_probs``).
    """
    if step_log_probs.shape[:-1] != targets.shape or targets.shape != valid_mask.shape:
        raise ValueError(f'sequence_log_prob: step_log_probs {tuple(step_log_probs.shape)} must '
                         f'be targets {tuple(targets.shape)} plus a class dimension, and '
                         f'valid_mask {tuple(valid_mask.shape)} must match targets')
    valid = valid_mask != 0
    num_classes = step_log_probs.size(-1)
    if bool(((targets[valid] < 0) | (targets[valid] >= num_classes)).any()):
        raise ValueError(f'sequence_log_prob: valid targets must be class indices in '
                         f'[0, {num_classes})')
    # Padding steps may hold an ignore index: point them at class 0, their term is masked out.
    safe_targets = torch.where(valid, targets, torch.zeros_like(targets)).long()
    picked = step_log_probs.gather(-1, safe_targets.unsqueeze(-1)).squeeze(-1)
    # where() rather than a product: a padded step may hold -inf, and -inf * 0 is NaN.
    return torch.where(valid, picked, torch.zeros_like(picked)).sum(dim=-1)
