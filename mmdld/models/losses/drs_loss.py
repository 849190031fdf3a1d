"""Losses that train the Dynamic Resolution Selector: L_acc (eq. 2), L_flops (eq. 3), L_DRS (eq. 4).

Ours because MMDetection's ``KnowledgeDistillationKLDivLoss`` cannot mix ``k`` students by ``h``.
"""
from dataclasses import dataclass
from typing import Dict, Optional, Sequence

import torch
import torch.nn as nn
from torch import Tensor

from mmdld.registry import MODELS
from .checks import check_finite, check_shape, zero_with_graph
from .cost_budget_dual import CostBudgetDual


def _as_img_inds(img_inds: Optional[Tensor], num_instances: int, device: torch.device,
                 loss_name: str) -> Tensor:
    if img_inds is None:
        return torch.zeros(num_instances, dtype=torch.long, device=device)
    check_shape(loss_name, 'img_inds', img_inds, (num_instances, ))
    if img_inds.dtype not in (torch.int32, torch.int64):
        raise TypeError(f'{loss_name}: `img_inds` must be an integer tensor, got '
                        f'{img_inds.dtype}')
    return img_inds.long()


@dataclass
class AccuracyInputs:
    """The per-step distributions that L_acc compares, teacher-forced on the same GT.

    Attributes:
        student_log_probs (Tensor): ``[k, N, L, C]`` student log-probabilities at the ``k``
            scales.
        teacher_log_probs (Tensor): ``[N, L, C]`` teacher log-probabilities.
        valid_mask (Tensor): ``[N, L]``, nonzero on the steps that count (the characters and
            the end token of each target, not the padding).
        img_inds (Tensor, optional): ``[N]`` image index of each instance, used for the
            per-image average. If None all instances are treated as one image.
    """
    student_log_probs: Tensor
    teacher_log_probs: Tensor
    valid_mask: Tensor
    img_inds: Optional[Tensor] = None


@MODELS.register_module()
class DRSAccuracyLoss(nn.Module):
    """L_acc of eq. 2: ``KL(sum_i h_i y_{s_i} || y)`` per decoding step.

    ``y`` is the teacher's per-step character distribution, ``y_{s_i}`` the student's at scale
    ``s_i``, both teacher-forced on the same GT transcriptions of the same GT-cropped instances,
    so that every instance has the same steps at every scale. The mixture ``P = sum_i h_i
    y_{s_i}`` is the first argument of the KL as eq. 2 writes it: ``KL(P || Q) = sum_c P_c
    (log P_c - log Q_c)`` with ``Q = y``. Student and teacher distributions are detached; the
    gradient reaches only ``h`` (hence only the selector).

    Reduction (the paper is silent): the KL is averaged over the valid steps of all instances of
    an image (so every character of the image weighs the same), then over the images that have
    at least one valid step. Images without text contribute nothing to L_acc; L_flops alone then
    pushes them to the cheapest scale, which costs nothing in accuracy.

    What is mixed by ``h`` (``mixture``): for the one-hot ``h`` of training (eq. 5) both choices
    give eq. 2's value, ``KL(y_{s_j} || y)`` of the chosen scale ``j``; they differ in the
    straight-through gradient. ``'distributions'`` is eq. 2 as written, ``KL(sum_i h_i y_{s_i}
    || y)``: its gradient towards scale ``i`` is ``KL(y_{s_i} || y) - KL(y_{s_i} || y_{s_j})``,
    zero for every ``i`` when the chosen scale reads as the teacher does (the KL is minimal at
    ``P = y``, so mixing in a little of a worse scale costs only to second order), and L_flops then
    pushes alone. ``'losses'`` mixes the per-scale losses, ``sum_i h_i KL(y_{s_i} || y)``: its
    gradient towards scale ``i`` is that scale's own ``KL(y_{s_i} || y)``, i.e. the gradient of
    the expected loss under the relaxed ``h``, whose minimum is the per-image argmin of L_acc +
    gamma * L_flops (``docs/drs_diagnosis.md``: on the demo neither form made the choice
    image-dependent).

    Args:
        eps (float): Floor of ``P`` inside the log, so ``P_c = 0`` (possible after an underflow)
            gives ``0 * log(eps) = 0`` instead of a NaN. Defaults to 1e-12.
        mixture (str): ``'distributions'`` (eq. 2 as written, the default) or ``'losses'``.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
    """

    MIXTURES = ('distributions', 'losses')

    def __init__(self, eps: float = 1e-12, mixture: str = 'distributions',
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if mixture not in self.MIXTURES:
            raise ValueError(f'DRSAccuracyLoss: `mixture` must be one of {self.MIXTURES}, got '
                             f'{mixture!r}')
        self.eps = eps
        self.mixture = mixture
        self.loss_weight = loss_weight

    def forward(self, h: Tensor, inputs: AccuracyInputs) -> Tensor:
        """Computes L_acc.

        Args:
            h (Tensor): ``[N, k]`` selector weights of each instance (its image's ``h``).
            inputs (AccuracyInputs): The student's and the teacher's step distributions of the
                ``N`` instances.

        Returns:
            Tensor: Scalar loss.
        """
        student_log_probs, teacher_log_probs = inputs.student_log_probs, inputs.teacher_log_probs
        valid_mask = inputs.valid_mask
        name = type(self).__name__
        check_shape(name, 'h', h, (-1, -1))
        num_inst, k = h.shape
        check_shape(name, 'student_log_probs', student_log_probs, (k, num_inst, -1, -1))
        _, _, length, num_classes = student_log_probs.shape
        check_shape(name, 'teacher_log_probs', teacher_log_probs,
                    (num_inst, length, num_classes))
        check_shape(name, 'valid_mask', valid_mask, (num_inst, length))
        img_inds = _as_img_inds(inputs.img_inds, num_inst, h.device, name)
        if num_inst == 0:
            return zero_with_graph(h)
        check_finite(name, 'h', h)
        check_finite(name, 'student_log_probs', student_log_probs)
        check_finite(name, 'teacher_log_probs', teacher_log_probs)

        student_log_probs = student_log_probs.detach()
        teacher_log_probs = teacher_log_probs.detach()
        student_probs = student_log_probs.exp()
        if self.mixture == 'losses':
            per_scale = (student_probs * (student_log_probs - teacher_log_probs)).sum(-1)
            kl = torch.einsum('nk,knl->nl', h, per_scale)  # [N, L]
        else:
            mixture = torch.einsum('nk,knlc->nlc', h, student_probs)
            log_mixture = mixture.clamp_min(self.eps).log()
            kl = (mixture * (log_mixture - teacher_log_probs)).sum(dim=-1)  # [N, L]

        mask = (valid_mask != 0).to(kl.dtype)
        _, img_inds = torch.unique(img_inds, return_inverse=True)
        num_imgs = int(img_inds.max()) + 1
        step_sum = kl.new_zeros(num_imgs).index_add_(0, img_inds, (kl * mask).sum(dim=1))
        step_cnt = kl.new_zeros(num_imgs).index_add_(0, img_inds, mask.sum(dim=1))
        has_steps = step_cnt > 0
        if not bool(has_steps.any()):
            return zero_with_graph(h)
        loss = (step_sum[has_steps] / step_cnt[has_steps]).mean()
        return self.loss_weight * loss


@MODELS.register_module()
class DRSFlopsLoss(nn.Module):
    """L_flops of eq. 3: ``sum_i h_i T_i``, averaged over the images of the batch.

    Args:
        scale_costs (Sequence[float]): ``T_i``, the student's average FLOPs at each candidate
            scale divided by the teacher's (scale 1.0), in the selector's order (see
            ``docs/dld.md``, "Costs T_i").
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
    """

    def __init__(self, scale_costs: Sequence[float], loss_weight: float = 1.0) -> None:
        super().__init__()
        costs = torch.as_tensor([float(c) for c in scale_costs], dtype=torch.float32)
        if costs.dim() != 1 or costs.numel() == 0:
            raise ValueError(f'DRSFlopsLoss: `scale_costs` must be a non-empty list of '
                             f'floats, got {scale_costs}')
        if not bool(torch.isfinite(costs).all()) or bool((costs < 0).any()):
            raise ValueError(f'DRSFlopsLoss: `scale_costs` must be finite and >= 0, got '
                             f'{list(scale_costs)}')
        self.register_buffer('scale_costs', costs, persistent=False)
        self.loss_weight = loss_weight

    def forward(self, h: Tensor) -> Tensor:
        """Computes L_flops.

        Args:
            h (Tensor): ``[B, k]`` selector decisions of the images.

        Returns:
            Tensor: Scalar loss, the expected relative cost of the chosen scales.
        """
        name = type(self).__name__
        check_shape(name, 'h', h, (-1, self.scale_costs.numel()))
        if h.size(0) == 0:
            return zero_with_graph(h)
        check_finite(name, 'h', h)
        cost = (h * self.scale_costs.to(h.dtype)).sum(dim=-1).mean()
        return self.loss_weight * cost


@MODELS.register_module()
class DRSLoss(nn.Module):
    """L_DRS of eq. 4: ``L_acc + gamma * L_flops``, the only loss that reaches the selector.

    With ``target_cost`` (training to a budget, ``docs/budget.md``) ``gamma`` is not fixed:
    it starts at ``gamma`` and a :class:`~mmdld.models.losses.CostBudgetDual` adapts it after
    every training batch (dual ascent on the running mean cost minus the target), so that the
    mean ``T`` of the chosen scales converges to ``target_cost``. Without it (the default)
    ``gamma`` is the paper's constant.

    Args:
        scale_costs (Sequence[float]): ``T_i`` for :class:`DRSFlopsLoss`.
        gamma (float): Accuracy/cost trade-off; with ``target_cost`` its initial value.
            Defaults to 0.1 (paper §4.1).
        acc_loss (dict): Config of the accuracy term. Defaults to
            ``dict(type='DRSAccuracyLoss')``.
        loss_weight (float): ``lambda_2`` of eq. 11, multiplies both terms. Defaults to 1.0.
        target_cost (float, optional): Mean ``T`` of the chosen scales to train to, relative
            to the teacher at full resolution like ``scale_costs`` (e.g. 0.5); between the
            cheapest and the dearest ``T_i``. None (default): plain ``gamma``.
        dual_ascent (dict, optional): Settings of the dual update with ``target_cost``:
            ``step_size``, ``window``, ``gamma_min``, ``gamma_max`` (see
            :class:`~mmdld.models.losses.CostBudgetDual` for their defaults).
    """

    def __init__(self,
                 scale_costs: Sequence[float],
                 gamma: float = 0.1,
                 acc_loss: dict = dict(type='DRSAccuracyLoss'),
                 loss_weight: float = 1.0,
                 target_cost: Optional[float] = None,
                 dual_ascent: Optional[dict] = None) -> None:
        super().__init__()
        self.acc_loss = MODELS.build(acc_loss)
        self.flops_loss = DRSFlopsLoss(scale_costs)
        self.loss_weight = loss_weight
        self._gamma = float(gamma)
        self.dual: Optional[CostBudgetDual] = None
        if target_cost is not None:
            self.dual = CostBudgetDual(
                float(target_cost), gamma_init=float(gamma), **self._dual_settings(
                    dual_ascent, [float(c) for c in scale_costs], float(target_cost)))
        elif dual_ascent:
            raise ValueError('DRSLoss: `dual_ascent` is set but `target_cost` is not; set '
                             '`target_cost` to train to a budget (or drop `dual_ascent`)')

    @staticmethod
    def _dual_settings(dual_ascent: Optional[dict], costs: Sequence[float],
                       target: float) -> dict:
        """Checks the target against the costs and the keys of ``dual_ascent``."""
        cheapest, dearest = min(costs), max(costs)
        shown = [round(c, 4) for c in costs]
        if target < cheapest:
            raise ValueError(f'DRSLoss: `target_cost` {target:g} is below the cheapest '
                             f'scale\'s cost {cheapest:.4g} (scale_costs {shown}): no choice '
                             'of scales can meet it')
        if target >= dearest:
            raise ValueError(f'DRSLoss: `target_cost` {target:g} is not below the dearest '
                             f'scale\'s cost {dearest:.4g} (scale_costs {shown}): the budget '
                             'never binds; drop `target_cost` (plain gamma) or lower it')
        settings = dict(dual_ascent or {})
        allowed = ('step_size', 'window', 'gamma_min', 'gamma_max')
        unknown = sorted(set(settings) - set(allowed))
        if unknown:
            raise KeyError(f'DRSLoss: unknown key(s) {unknown} in `dual_ascent`; allowed: '
                           f'{list(allowed)}')
        return settings

    @property
    def gamma(self) -> float:
        """float: The ``gamma`` of the next batch (the dual variable with ``target_cost``)."""
        return self.dual.gamma_value if self.dual is not None else self._gamma

    @gamma.setter
    def gamma(self, value: float) -> None:
        if self.dual is not None:
            self.dual.gamma.fill_(float(value))
        else:
            self._gamma = float(value)

    def forward(self,
                h: Tensor,
                student_log_probs: Tensor,
                teacher_log_probs: Tensor,
                valid_mask: Tensor,
                img_inds: Tensor) -> Dict[str, Tensor]:
        """Computes both terms of L_DRS (and, in training with a target, updates ``gamma``).

        Args:
            h (Tensor): ``[B, k]`` per-image decisions from
                :meth:`DynamicResolutionSelector.sample`.
            student_log_probs (Tensor): ``[k, N, L, C]``, see :class:`AccuracyInputs`.
            teacher_log_probs (Tensor): ``[N, L, C]``.
            valid_mask (Tensor): ``[N, L]``.
            img_inds (Tensor): ``[N]`` image index (into ``h``) of each instance.

        Returns:
            dict[str, Tensor]: ``loss_drs_acc`` (``lambda_2 * L_acc``) and ``loss_drs_flops``
            (``lambda_2 * gamma * L_flops``), which sum to ``lambda_2 * L_DRS``, and
            ``drs_cost``, the detached unweighted L_flops (the batch's mean relative FLOPs),
            for logging. With ``target_cost`` also the logs ``drs_gamma`` (the ``gamma`` of
            this batch) and ``drs_running_cost`` (the dual's running mean cost, this batch
            included): MMEngine's ``parse_losses`` passes keys without ``loss`` to the log
            only, and its ``RuntimeInfoHook`` records them in the ``MessageHub`` as
            ``train/drs_gamma`` and ``train/drs_running_cost``.
        """
        name = type(self).__name__
        check_shape(name, 'h', h, (-1, self.flops_loss.scale_costs.numel()))
        img_inds = _as_img_inds(img_inds, teacher_log_probs.size(0), h.device, name)
        if img_inds.numel() and (int(img_inds.min()) < 0 or int(img_inds.max()) >= h.size(0)):
            raise ValueError(f'{name}: `img_inds` must index the {h.size(0)} images of `h`, '
                             f'got values in [{int(img_inds.min())}, {int(img_inds.max())}]')
        acc = self.acc_loss(
            h[img_inds], AccuracyInputs(student_log_probs, teacher_log_probs, valid_mask, img_inds))
        flops = self.flops_loss(h)
        gamma = self.gamma
        losses = dict(
            loss_drs_acc=self.loss_weight * acc,
            loss_drs_flops=self.loss_weight * gamma * flops,
            drs_cost=flops.detach())
        if self.dual is not None:
            if self.training and h.size(0) > 0:
                self.dual.update(flops.detach())
            losses['drs_gamma'] = flops.new_tensor(gamma).detach()
            losses['drs_running_cost'] = flops.new_tensor(self.dual.running_cost).detach()
        return losses
