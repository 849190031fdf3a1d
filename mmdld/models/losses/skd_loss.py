"""Sequential Knowledge Distillation losses (paper §3.4, eq. 7-10).

Ours because MMDetection and MMOCR have neither the sequence term (eq. 9) nor these input checks.

The feature terms detach the teacher, check that student and teacher shapes agree (with a hint
about RoI-size alignment) and keep a batch without instances in the graph.
"""
from typing import Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmdld.registry import MODELS
from .checks import check_finite, check_same_shape, check_shape, zero_with_graph


class _FeatureDistillLoss(nn.Module):
    """Per-element feature distance averaged over the elements (eq. 7-8).

    Eq. 7-8 average ``||F[i,j,c] - F_s[i,j,c]||_2`` over the ``H*W*C`` (``N*C``) elements and
    call it an "L2 loss". Taken literally, the 2-norm of a scalar is its absolute value, i.e. a
    mean absolute error; but the text names it an L2 loss, feature distillation (FitNets and the
    hint losses the paper builds on) uses the squared error, and so does the authors' released
    training code (``F.mse_loss``). The default ``mode='mse'`` is therefore the mean squared
    error; ``mode='l1'`` gives the literal per-element reading for ablations.

    The average runs over the elements of each instance, then over instances; all instances have
    the same shape, so that is the mean over the whole tensor.

    Args:
        mode (str): ``'mse'`` (squared error, default) or ``'l1'`` (absolute error).
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
    """

    #: Number of dimensions of the features, including the instance dimension.
    feat_dims: int = 0
    #: Layout shown in error messages.
    layout: str = ''
    #: How to make the shapes agree, shown in error messages.
    shape_hint: str = ''

    def __init__(self, mode: str = 'mse', loss_weight: float = 1.0) -> None:
        super().__init__()
        if mode not in ('mse', 'l1'):
            raise ValueError(f"{type(self).__name__}: `mode` must be 'mse' or 'l1', got "
                             f'{mode!r}')
        self.mode = mode
        self.loss_weight = loss_weight

    def forward(self, student_feats: Tensor, teacher_feats: Tensor) -> Tensor:
        """Computes the distance between student and (detached) teacher features.

        Args:
            student_feats (Tensor): Student features, see the class's layout.
            teacher_feats (Tensor): Teacher features of the same instances and shape.

        Returns:
            Tensor: Scalar loss.
        """
        name = type(self).__name__
        check_shape(name, 'student_feats', student_feats, (-1, ) * self.feat_dims)
        if student_feats.shape != teacher_feats.shape:
            raise ValueError(
                f'{name}: student features {tuple(student_feats.shape)} and teacher features '
                f'{tuple(teacher_feats.shape)} must have the same shape {self.layout}; '
                f'{self.shape_hint}')
        if student_feats.size(0) == 0:
            return zero_with_graph(student_feats)
        check_finite(name, 'student_feats', student_feats)
        check_finite(name, 'teacher_feats', teacher_feats)
        teacher_feats = teacher_feats.detach()
        if self.mode == 'mse':
            loss = F.mse_loss(student_feats, teacher_feats)
        else:
            loss = F.l1_loss(student_feats, teacher_feats)
        return self.loss_weight * loss


@MODELS.register_module()
class RoIFeatureDistillLoss(_FeatureDistillLoss):
    """L_roi of eq. 7 on the masked RoI features ``F_roi`` ``[N, C, H, W]``.

    See :class:`_FeatureDistillLoss` for ``mode`` (squared vs absolute error).
    """
    feat_dims = 4
    layout = '[N, C, H, W]'
    shape_hint = ('if the RoI sizes differ, align the student with a RoIAlignModule first '
                  '(`model.roi_align`)')


@MODELS.register_module()
class ContextDistillLoss(_FeatureDistillLoss):
    """L_con of eq. 8 on the BiLSTM context features ``F_con`` ``[N, T, C]``.

    See :class:`_FeatureDistillLoss` for ``mode`` (squared vs absolute error).
    """
    feat_dims = 3
    layout = '[N, T, C]'
    shape_hint = ("if the student's RoI width (hence T) is the smaller, super-resolve its RoI "
                  'features before its recognition head reads them: '
                  '`model.student.roi_head.rec_roi_extractor=dict(type="SuperResolvedRoIExtractor",'
                  ' extractor=<its extractor>, aligner=dict(type="DeconvFeatureAligner", '
                  'out_size=<teacher RoI size>))` and `rec_head.roi_size=<teacher RoI size>` '
                  '(docs/dld.md, Table 4); `model.roi_align` aligns F_roi only')


@MODELS.register_module()
class SequenceDistillLoss(nn.Module):
    """L_seq of eq. 9: ``-log sum_{k<=K} p(q = y_hat_k | F_con_s)``, averaged over instances.

    ``y_hat_k`` are the teacher's top-``K`` beam-search sequences; the caller teacher-forces the
    student on each and passes the student's sequence log-probability ``log p(y_hat_k)`` (sum of
    the per-step log-probabilities up to and including the end token, see
    :func:`mmdld.models.utils.sequence_log_prob`). The sum over sequences is a ``logsumexp`` of
    the log-probabilities, which stays exact where the probabilities underflow.

    Args:
        topk (int): ``K``, how many teacher sequences per instance; the paper uses 1 and
            allows 3. Defaults to 1.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
    """

    def __init__(self, topk: int = 1, loss_weight: float = 1.0) -> None:
        super().__init__()
        if topk < 1:
            raise ValueError(f'SequenceDistillLoss: `topk` must be >= 1, got {topk}')
        self.topk = topk
        self.loss_weight = loss_weight

    def forward(self, seq_log_probs: Tensor, valid_mask: Optional[Tensor] = None) -> Tensor:
        """Computes L_seq.

        Args:
            seq_log_probs (Tensor): ``[N, K]`` student log-probability of each of the
                teacher's ``K`` best sequences.
            valid_mask (Tensor, optional): ``[N, K]``, zero where the teacher produced fewer
                than ``K`` distinct sequences (those entries are ignored, whatever their
                value). Each instance needs at least one valid sequence.

        Returns:
            Tensor: Scalar loss.
        """
        name = type(self).__name__
        check_shape(name, 'seq_log_probs', seq_log_probs, (-1, self.topk))
        if seq_log_probs.size(0) == 0:
            return zero_with_graph(seq_log_probs)
        if valid_mask is None:
            valid = torch.ones_like(seq_log_probs, dtype=torch.bool)
        else:
            check_same_shape(name, 'seq_log_probs', seq_log_probs, 'valid_mask', valid_mask)
            valid = valid_mask != 0
            if not bool(valid.any(dim=1).all()):
                raise ValueError(f'{name}: every instance needs at least one valid teacher '
                                 f'sequence in `valid_mask`')
        check_finite(name, 'seq_log_probs', seq_log_probs[valid])
        if bool((seq_log_probs[valid] > 1e-4).any()):
            raise ValueError(f'{name}: `seq_log_probs` must be log-probabilities (<= 0), got '
                             f'a maximum of {float(seq_log_probs[valid].max()):.4g}')
        masked = seq_log_probs.masked_fill(~valid, float('-inf'))
        loss = -torch.logsumexp(masked, dim=1).mean()
        return self.loss_weight * loss


@MODELS.register_module()
class SKDLoss(nn.Module):
    """L_SKD of eq. 10: ``L_roi + eta1 * L_con + eta2 * L_seq``.

    Args:
        roi_loss (dict): Config of L_roi. Defaults to ``dict(type='RoIFeatureDistillLoss')``.
        con_loss (dict): Config of L_con. Defaults to ``dict(type='ContextDistillLoss')``.
        seq_loss (dict): Config of the sequence term: L_seq of eq. 9 (the default,
            ``dict(type='SequenceDistillLoss')``), or ``dict(type='LogitsDistillLoss')``,
            the per-step logit distillation that Table 3 puts in its place.
        eta1 (float): Weight of L_con. Defaults to 1.0.
        eta2 (float): Weight of the sequence term. Defaults to 1.0.
        loss_weight (float): ``lambda_3`` of eq. 11, multiplies all three terms.
            Defaults to 1.0.
    """

    def __init__(self,
                 roi_loss: dict = dict(type='RoIFeatureDistillLoss'),
                 con_loss: dict = dict(type='ContextDistillLoss'),
                 seq_loss: dict = dict(type='SequenceDistillLoss'),
                 eta1: float = 1.0,
                 eta2: float = 1.0,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.roi_loss = MODELS.build(roi_loss)
        self.con_loss = MODELS.build(con_loss)
        self.seq_loss = MODELS.build(seq_loss)
        self.eta1 = eta1
        self.eta2 = eta2
        self.loss_weight = loss_weight

    @property
    def reads_step_log_probs(self) -> bool:
        """Whether the sequence term reads per-step distributions instead of beams."""
        return bool(getattr(self.seq_loss, 'reads_step_log_probs', False))

    @property
    def needs_step_log_probs(self) -> bool:
        """Whether the term needs the teacher's per-step log-probabilities (logits, eta2 != 0)."""
        return self.reads_step_log_probs and self.eta2 != 0

    @property
    def seq_topk(self) -> Optional[int]:
        """``K`` of the teacher's beams the term reads; None when it reads none (eta2 = 0 or
        the logits term), so that the teacher runs no beam search."""
        if self.eta2 == 0 or self.reads_step_log_probs:
            return None
        return self.seq_loss.topk

    def forward(self,
                student_roi_feats: Tensor,
                teacher_roi_feats: Tensor,
                student_con_feats: Tensor,
                teacher_con_feats: Tensor,
                seq_log_probs: Optional[Tensor],
                seq_valid_mask: Optional[Tensor] = None,
                teacher_step_log_probs: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """Computes the three SKD terms.

        Args:
            student_roi_feats (Tensor): ``[N, C, H, W]`` (aligned to the teacher's RoI size).
            teacher_roi_feats (Tensor): ``[N, C, H, W]``.
            student_con_feats (Tensor): ``[N, T, C]``.
            teacher_con_feats (Tensor): ``[N, T, C]``.
            seq_log_probs (Tensor, optional): What the student's sequence term reads:
                ``[N, K]`` log-probabilities of the teacher's beams (:class:`SequenceDistillLoss`)
                or ``[N, L, C]`` teacher-forced step log-probabilities (``LogitsDistillLoss``).
                None only with ``eta2 = 0``: the term is then a zero.
            seq_valid_mask (Tensor, optional): ``[N, K]`` valid beams, or ``[N, L]`` valid
                steps for the logits term.
            teacher_step_log_probs (Tensor, optional): ``[N, L, C]``, the teacher's step
                log-probabilities of the same targets; for the logits term only.

        Returns:
            dict[str, Tensor]: ``loss_skd_roi``, ``loss_skd_con`` and ``loss_skd_seq``, already
            weighted, summing to ``lambda_3 * L_SKD``.
        """
        if seq_log_probs is None:
            if self.eta2 != 0:
                raise ValueError('SKDLoss: `seq_log_probs` is None but eta2 != 0')
            seq = zero_with_graph(student_con_feats)
        elif self.reads_step_log_probs:
            if teacher_step_log_probs is None:
                raise ValueError(f'SKDLoss: {type(self.seq_loss).__name__} needs '
                                 '`teacher_step_log_probs`')
            seq = self.seq_loss(seq_log_probs, teacher_step_log_probs, seq_valid_mask)
        else:
            seq = self.seq_loss(seq_log_probs, seq_valid_mask)
        return dict(
            loss_skd_roi=self.loss_weight * self.roi_loss(student_roi_feats, teacher_roi_feats),
            loss_skd_con=self.loss_weight * self.eta1 *
            self.con_loss(student_con_feats, teacher_con_feats),
            loss_skd_seq=self.loss_weight * self.eta2 * seq)
