"""The recognition methods of the spotter protocol, answered by the spotter's recogniser head."""
from typing import Optional

import torch.nn as nn
from torch import Tensor

from .records import BeamResult, RecognitionSpec


class RecHeadProtocolMixin:
    """``recognition_spec``, ``encode_context``, ``step_log_probs``, ``beam_search`` and
    ``sequence_log_prob`` of :class:`DistillableSpotter`, read off one recogniser head.

    The project's recognisers (``BiLSTMAttnHead``, ``MANGOSequenceHead``) already have the
    protocol's encoder/decoder API (``extract_context``, ``step_log_probs``, ``beam_search``
    returning a dict, ``sequence_log_prob``) and its dictionary attributes, so every spotter
    reading words with one of them answers these methods the same way. Put the mixin before
    ``DistillableSpotter`` in the bases so that its methods fill the abstract ones.

    A host implements :attr:`recognition_head` (the head) and :meth:`recognition_levels`
    (``RecognitionSpec.feature_levels``).
    """

    @property
    def recognition_head(self) -> nn.Module:
        """The recogniser head that reads ``F_roi``."""
        raise NotImplementedError(f'{type(self).__name__} must define recognition_head')

    def recognition_levels(self) -> Optional[int]:
        """Feature levels ``F_roi`` is read from (None: not known)."""
        raise NotImplementedError(f'{type(self).__name__} must define recognition_levels')

    @property
    def recognition_spec(self) -> RecognitionSpec:
        """Dictionary, ``max_seq_len`` and ``F_roi`` size/channels of the recogniser."""
        rec_head = self.recognition_head
        return RecognitionSpec(
            dictionary=tuple(rec_head.dictionary.dict),
            max_seq_len=rec_head.max_seq_len,
            num_classes=rec_head.num_classes,
            roi_size=tuple(rec_head.roi_size),
            roi_channels=rec_head.in_channels,
            feature_levels=self.recognition_levels())

    def encode_context(self, roi_feats: Tensor) -> Tensor:
        """``F_con`` of ``F_roi`` (the head's ``extract_context``)."""
        return self.recognition_head.extract_context(roi_feats)

    def step_log_probs(self, context: Tensor, targets: Tensor) -> Tensor:
        """The head's teacher-forced (or per-position) log-probabilities of ``targets``."""
        return self.recognition_head.step_log_probs(context, targets)

    def beam_search(self, context: Tensor, beam_width: int, topk: int) -> BeamResult:
        """The head's ``topk`` best sequences of a ``beam_width`` search, as a
        :class:`BeamResult`."""
        out = self.recognition_head.beam_search(context, beam_width, topk)
        return BeamResult(indices=out['indices'], lengths=out['lengths'],
                          log_probs=out['log_probs'])

    def sequence_log_prob(self, context: Tensor, indices: Tensor, valid: Tensor) -> Tensor:
        """The head's total log-probability of the sequences ``indices``."""
        return self.recognition_head.sequence_log_prob(context, indices, valid)
