"""Logit distillation of the teacher's per-step distributions (paper Table 3, "SKD replaced
Logits").

Ours because MMDetection's ``KnowledgeDistillationKLDivLoss`` neither masks the padding steps of
a word nor averages per word.
"""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmdld.registry import MODELS
from .checks import check_finite, check_same_shape, check_shape, zero_with_graph


@MODELS.register_module()
class LogitsDistillLoss(nn.Module):
    """``KL(teacher step distribution || student step distribution)`` over the valid steps.

    The logit-based distillation of Bhunia et al. that Table 3 puts in the place of L_seq
    (eq. 9): student and teacher are teacher-forced on the same GT targets, and at every valid
    step ``t`` (the characters and END of a word, not the padding) the student's distribution
    over the classes is pulled towards the teacher's::

        L = 1/N sum_n 1/|V_n| sum_{t in V_n} T^2 KL(softmax(z_t / T) || softmax(z_s / T))

    ``z`` are the decoder's logits; a step's log-probabilities differ from them by a constant,
    so ``log_softmax(log_p / T)`` is the softened distribution and the loss can take the
    log-probabilities the spotter protocol returns (``step_log_probs``). The average runs over
    the valid steps of each instance, then over the instances, as L_seq averages over
    instances and L_roi / L_con over the elements of an instance. ``T^2`` keeps the gradient's
    size independent of ``T`` (Hinton et al.); at ``T = 1`` the term is the plain KL. The
    teacher is detached: the gradient reaches only the student.

    Args:
        temperature (float): Softening temperature ``T`` (> 0). Defaults to 1.0.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
    """

    #: The term reads per-step distributions, not the teacher's beams: ``SKDLoss`` and the
    #: distiller compute its inputs from this flag.
    reads_step_log_probs = True

    def __init__(self, temperature: float = 1.0, loss_weight: float = 1.0) -> None:
        super().__init__()
        if not float(temperature) > 0:
            raise ValueError(f'LogitsDistillLoss: `temperature` must be > 0, got {temperature}')
        self.temperature = float(temperature)
        self.loss_weight = loss_weight

    def forward(self,
                student_log_probs: Tensor,
                teacher_log_probs: Tensor,
                valid_mask: Optional[Tensor] = None) -> Tensor:
        """Computes the loss.

        Args:
            student_log_probs (Tensor): ``[N, L, C]`` student per-step log-probabilities,
                teacher-forced on the teacher's targets.
            teacher_log_probs (Tensor): ``[N, L, C]`` teacher per-step log-probabilities of
                the same targets (``-inf`` allowed for classes of probability 0).
            valid_mask (Tensor, optional): ``[N, L]``, nonzero on the steps that count.
                None: every step counts.

        Returns:
            Tensor: Scalar loss.
        """
        name = type(self).__name__
        check_shape(name, 'student_log_probs', student_log_probs, (-1, -1, -1))
        check_same_shape(name, 'student_log_probs', student_log_probs, 'teacher_log_probs',
                         teacher_log_probs)
        num = student_log_probs.size(0)
        if valid_mask is None:
            valid = torch.ones(student_log_probs.shape[:2], dtype=torch.bool,
                               device=student_log_probs.device)
        else:
            check_shape(name, 'valid_mask', valid_mask, tuple(student_log_probs.shape[:2]))
            valid = valid_mask != 0
        if num == 0 or not bool(valid.any()):
            return zero_with_graph(student_log_probs)
        # Only the valid steps: padding steps may hold anything, NaN included.
        student, teacher = student_log_probs[valid], teacher_log_probs.detach()[valid]
        check_finite(name, 'student_log_probs', student)
        if bool(torch.isnan(teacher).any()) or bool((teacher == float('inf')).any()):
            raise ValueError(f'{name}: `teacher_log_probs` contains NaN or +inf on valid steps')
        tau = self.temperature
        log_p_t = F.log_softmax(teacher / tau, dim=-1)
        log_p_s = F.log_softmax(student / tau, dim=-1)
        p_t = log_p_t.exp()
        # 0 * log 0 = 0 where the teacher gives a class no probability.
        kl = torch.where(p_t > 0, p_t * (log_p_t - log_p_s), torch.zeros_like(p_t)).sum(-1)
        inst = valid.nonzero()[:, 0]
        per_inst = kl.new_zeros(num).index_add_(0, inst, kl)
        counts = valid.sum(dim=1)
        has_steps = counts > 0
        loss = (per_inst[has_steps] / counts[has_steps].to(kl.dtype)).mean() * tau**2
        return self.loss_weight * loss
