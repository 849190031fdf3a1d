"""The Mask R-CNN based end-to-end text spotter of the paper (§3.2), used as teacher and
student."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch.nn as nn
from mmdet.models.detectors import TwoStageDetector
from mmdet.structures import SampleList
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.structures import InstanceData
from torch import Tensor

from mmdld.registry import MODELS
from .rec_head_protocol import RecHeadProtocolMixin
from .records import GTRecognition
from .spotter_protocol import DistillableSpotter


@MODELS.register_module()
class MaskRCNNSpotter(RecHeadProtocolMixin, TwoStageDetector, DistillableSpotter):
    """Mask R-CNN (backbone + FPN, RPN, box and mask branches) that also reads the text.

    Everything but the recognition branch is MMDetection's two-stage detector; the branch lives
    in the RoI head (``SpottingRoIHead``), so ``loss``, ``predict`` and ``_forward`` are
    ``TwoStageDetector``'s and the model works with ``DetDataPreprocessor``. This class gives
    the spotter its own name in the registry, checks that the RoI head can read, and
    implements the spotter protocol (:class:`DistillableSpotter`) on the RoI head's
    recognition branch (its recogniser's methods through :class:`RecHeadProtocolMixin`).

    ``predict`` returns ``DetDataSample``s whose ``pred_instances`` hold ``bboxes``, ``scores``,
    ``labels``, ``masks``, ``polygons``, ``texts`` and ``text_scores`` in the original image
    frame (see ``docs/data_contract.md``).

    Args:
        backbone (dict): Backbone config (ResNet).
        neck (dict): Neck config (FPN).
        rpn_head (dict): RPN head config.
        roi_head (dict): RoI head config; must build a ``SpottingRoIHead`` (or a head with
            its recognition methods).
        train_cfg (dict): ``rpn``, ``rpn_proposal`` and ``rcnn`` training configs.
        test_cfg (dict): ``rpn`` and ``rcnn`` test configs.
        data_preprocessor (dict, optional): ``DetDataPreprocessor`` config.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 backbone: ConfigType,
                 neck: ConfigType,
                 rpn_head: ConfigType,
                 roi_head: ConfigType,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        if test_cfg is None or 'rpn' not in test_cfg or 'rcnn' not in test_cfg:
            raise ValueError('MaskRCNNSpotter needs test_cfg with `rpn` and `rcnn` entries')
        super().__init__(
            backbone=backbone,
            neck=neck,
            rpn_head=rpn_head,
            roi_head=roi_head,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        if getattr(self.roi_head, 'rec_head', None) is None or not hasattr(
                self.roi_head, 'deferring_recognition'):
            raise ValueError(
                f'MaskRCNNSpotter needs a RoI head with a recognition branch (`rec_head`, '
                f'e.g. SpottingRoIHead); got {type(self.roi_head).__name__}')

    # ---------------------------------------------------------------- spotter protocol
    @property
    def recognition_head(self) -> nn.Module:
        return self.roi_head.rec_head

    def recognition_levels(self) -> Optional[int]:
        return getattr(self.roi_head.rec_roi_extractor, 'num_inputs', None)

    def feature_network(self) -> Optional[nn.Module]:
        """Backbone then neck, unless a subclass computes its features its own way."""
        if type(self).extract_feat is not TwoStageDetector.extract_feat:
            return None
        return BackboneNeck(self.backbone, self.neck if self.with_neck else None)

    def loss_and_gt_recognition(self, inputs: Tensor, data_samples: SampleList
                                ) -> Tuple[Dict[str, Tensor], GTRecognition]:
        """``TwoStageDetector.loss`` (RPN, box, mask) and the GT recognition of its features."""
        with self.roi_head.deferring_recognition() as recognitions:
            losses = self.loss(inputs, data_samples)
        return losses, recognitions[0]

    def recognition_loss(self, rec: GTRecognition) -> Dict[str, Tensor]:
        return self.roi_head.recognition_loss(rec)

    def gt_recognition(self, feats: Tuple[Tensor, ...],
                       batch_gt_instances: Sequence[InstanceData]) -> GTRecognition:
        return self.roi_head.gt_recognition(feats, batch_gt_instances)

    def gt_roi_feats(self, feats: Tuple[Tensor, ...],
                     batch_gt_instances: Sequence[InstanceData]) -> Tuple[Tensor, List[int]]:
        return self.roi_head.gt_roi_feats(feats, batch_gt_instances)


class BackboneNeck(nn.Module):
    """``TwoStageDetector.extract_feat`` as a module: a backbone, then an optional neck."""

    def __init__(self, backbone: nn.Module, neck: Optional[nn.Module]) -> None:
        super().__init__()
        self.backbone = backbone
        self.neck = neck

    def forward(self, inputs: Tensor) -> Tuple[Tensor, ...]:
        x = self.backbone(inputs)
        return tuple(self.neck(x)) if self.neck is not None else tuple(x)
