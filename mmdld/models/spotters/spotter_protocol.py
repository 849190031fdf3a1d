"""The spotter protocol: what the DLD distiller needs from any text spotter.

The distiller (``mmdld.models.distillers.DLDDistiller``) talks to its student and teacher only
through these methods, so a new spotter family (two-stage, segmentation-based or one-stage)
plugs into DLD by implementing them; ``docs/new_spotter.md`` describes each one and its
contract. ``MaskRCNNSpotter`` is the reference implementation.
"""
from abc import ABCMeta, abstractmethod
from typing import Dict, List, Optional, Sequence, Tuple

import torch.nn as nn
from mmdet.structures import SampleList
from mmengine.structures import InstanceData
from torch import Tensor

from .records import BeamResult, GTRecognition, RecognitionSpec


class DistillableSpotter(metaclass=ABCMeta):
    """Abstract base (a mixin for an MMEngine ``BaseModel``) of a spotter that DLD can distil.

    Besides these methods the distiller uses the model's ``data_preprocessor``, and its
    ``predict`` and ``_forward`` are those of an MMDetection detector. Recognition
    features are per GT instance: for a two-stage spotter the RoI crops of the GT boxes, for a
    one-stage one whatever per-instance features its recogniser reads.
    """

    @property
    @abstractmethod
    def recognition_spec(self) -> RecognitionSpec:
        """Dictionary, ``max_seq_len`` and ``F_roi`` size/channels of the recogniser."""

    @abstractmethod
    def extract_feat(self, inputs: Tensor) -> Tuple[Tensor, ...]:
        """The image features that the other methods read (``[B, C, H, W]`` batch in)."""

    def feature_network(self) -> Optional[nn.Module]:
        """A module computing :meth:`extract_feat`, for the scale passes to fold and cast.

        The ``k`` no-grad scale passes run a BatchNorm-folded, low-precision copy of it
        (``FoldedFeatureExtractor``). Its children must be the spotter's own modules (the copy
        follows their weights). None (default): the passes call :meth:`extract_feat`.
        """
        return None

    @abstractmethod
    def loss_and_gt_recognition(self, inputs: Tensor, data_samples: SampleList
                                ) -> Tuple[Dict[str, Tensor], GTRecognition]:
        """The spotter's training losses except recognition, and its GT recognition.

        One forward of the batch, with gradients: the detection (and any other) losses of
        the spotter's own ``loss``, and the recognition branch run on the GT instances
        (``F_roi``, ``F_con``, targets) from the same features. The recognition loss is left
        to :meth:`recognition_loss` because the distiller runs groups of images at different
        scales and computes it once over all the batch's instances, like the SKD losses.
        """

    @abstractmethod
    def recognition_loss(self, rec: GTRecognition) -> Dict[str, Tensor]:
        """The recognition loss (``loss_rec``, and any auxiliary term) of GT recognitions.

        Must stay in the graph of every recognition parameter when ``rec`` has no instance
        (DDP expects every parameter to get a gradient).
        """

    @abstractmethod
    def gt_recognition(self, feats: Tuple[Tensor, ...],
                       batch_gt_instances: Sequence[InstanceData]) -> GTRecognition:
        """``F_roi``, ``F_con`` and targets of the GT instances, from :meth:`extract_feat`."""

    @abstractmethod
    def gt_roi_feats(self, feats: Tuple[Tensor, ...],
                     batch_gt_instances: Sequence[InstanceData]) -> Tuple[Tensor, List[int]]:
        """``F_roi`` ``[N, C, H_r, W_r]`` of the GT instances, and instances per image."""

    @abstractmethod
    def encode_context(self, roi_feats: Tensor) -> Tensor:
        """``F_con`` ``[N, T, D]`` of ``F_roi`` (the recognition encoder)."""

    @abstractmethod
    def step_log_probs(self, context: Tensor, targets: Tensor) -> Tensor:
        """``[N, L, C]`` teacher-forced per-step log-probabilities of ``targets`` ``[N, L]``."""

    @abstractmethod
    def beam_search(self, context: Tensor, beam_width: int, topk: int) -> BeamResult:
        """The ``topk`` best of a ``beam_width`` beam search over the decoder, per instance."""

    @abstractmethod
    def sequence_log_prob(self, context: Tensor, indices: Tensor, valid: Tensor) -> Tensor:
        """``[M]`` total log-probability of the sequences ``indices`` ``[M, T]`` (``valid``
        marks their tokens) given ``context`` ``[M, T', D]``."""

    @abstractmethod
    def predict(self, inputs: Tensor, data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """Inference on a (resized) batch: ``data_samples`` with ``pred_instances``, in the
        original image frame when ``rescale`` (the samples' ``scale_factor`` says how)."""

    @abstractmethod
    def _forward(self, inputs: Tensor, data_samples: Optional[SampleList] = None):
        """Tensor mode of the inference path, traced to count the FLOPs of the cost table."""
