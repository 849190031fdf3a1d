"""Typed records between a spotter and the DLD distiller (see ``docs/new_spotter.md``)."""
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor


@dataclass(frozen=True)
class RecognitionSpec:
    """What the distiller checks and sizes its parts by, of a spotter's recognition branch.

    Attributes:
        dictionary (tuple[str, ...]): The symbols, in class order; student and teacher must
            agree (L_acc and L_seq compare per-class distributions).
        max_seq_len (int): Most characters per word; must agree too.
        num_classes (int): Decoder outputs per step (the ``C`` of ``[N, L, C]``).
        roi_size (tuple[int, int]): ``(H_r, W_r)`` of ``F_roi``.
        roi_channels (int): Channels of ``F_roi``; with ``roi_size``, decides whether a
            ``RoIAlignModule`` connector maps the student's ``F_roi`` to the teacher's.
        feature_levels (int, optional): The first feature levels the recognition branch
            reads (the scale passes keep only these); None: all of them.
    """
    dictionary: Tuple[str, ...]
    max_seq_len: int
    num_classes: int
    roi_size: Tuple[int, int]
    roi_channels: int
    feature_levels: Optional[int] = None


@dataclass
class GTRecognition:
    """The recognition branch run on the ground-truth instances of a batch (GT crops).

    The ``N`` instances are the images' GT instances concatenated in image order.

    Attributes:
        roi_feats (Tensor): ``F_roi``, ``[N, C, H_r, W_r]``.
        context (Tensor): ``F_con``, ``[N, T, D]``.
        targets (Tensor): ``[N, L]`` long symbol indices of the GT words (END, then padding).
        valid (Tensor): ``[N, L]`` bool, the steps that count (characters and END).
        num_per_img (list[int]): Instances of each image.
    """
    roi_feats: Tensor
    context: Tensor
    targets: Tensor
    valid: Tensor
    num_per_img: List[int]

    def __len__(self) -> int:
        return self.targets.size(0)

    def select(self, index: Tensor, num_per_img: Sequence[int]) -> 'GTRecognition':
        """Instances ``index`` (``[M]`` long), in that order, from images of ``num_per_img``."""
        return GTRecognition(
            roi_feats=self.roi_feats.index_select(0, index),
            context=self.context.index_select(0, index),
            targets=self.targets.index_select(0, index),
            valid=self.valid.index_select(0, index),
            num_per_img=list(num_per_img))


@dataclass
class BeamResult:
    """Top-K beam-search sequences of ``N`` instances.

    Attributes:
        indices (Tensor): ``[N, K, T]`` long, the symbols, END, then padding.
        lengths (Tensor): ``[N, K]`` long, valid tokens of each sequence (END included).
        log_probs (Tensor): ``[N, K]`` total log-probabilities, descending; ``-inf`` marks a
            hypothesis that does not exist (fewer than K found).
    """
    indices: Tensor
    lengths: Tensor
    log_probs: Tensor

    @property
    def valid(self) -> Tensor:
        """``[N, K, T]`` bool mask of the valid tokens."""
        steps = torch.arange(self.indices.size(-1), device=self.indices.device)
        return steps < self.lengths[..., None]

    def select(self, index: Tensor) -> 'BeamResult':
        """The sequences of instances ``index`` (``[M]`` long), in that order."""
        return BeamResult(
            indices=self.indices.index_select(0, index),
            lengths=self.lengths.index_select(0, index),
            log_probs=self.log_probs.index_select(0, index))


@dataclass
class TeacherOutputs:
    """What the frozen teacher computes once per training step (all constants).

    Attributes:
        rec (GTRecognition): Its recognition of the GT instances (``F_roi``, ``F_con``, the
            targets every other part uses).
        step_log_probs (Tensor, optional): ``[N, L, C]`` teacher-forced per-step
            log-probabilities, the ``y`` of L_acc (with a DRS).
        beams (BeamResult, optional): Its top-K beam sequences, for L_seq (with SKD and
            ``eta2 != 0``).
    """
    rec: GTRecognition
    step_log_probs: Optional[Tensor] = None
    beams: Optional[BeamResult] = None

    def select(self, index: Tensor, num_per_img: Sequence[int]) -> 'TeacherOutputs':
        """Instances ``index`` (``[M]`` long), in that order, as :meth:`GTRecognition.select`."""
        return TeacherOutputs(
            rec=self.rec.select(index, num_per_img),
            step_log_probs=(None if self.step_log_probs is None else
                            self.step_log_probs.index_select(0, index)),
            beams=None if self.beams is None else self.beams.select(index))

