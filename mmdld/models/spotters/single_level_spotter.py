"""What the one-stage spotters share: one FPN level read by a detection head and a recogniser."""
from typing import Dict, Optional, Tuple

import numpy as np
import torch.nn as nn
from mmdet.structures import SampleList
from mmdet.utils import ConfigType
from mmengine.structures import InstanceData
from torch import Tensor

from mmdld.registry import MODELS
from .gt_instances import instance_polygons
from .mask_rcnn_spotter import BackboneNeck
from .records import GTRecognition
from .rec_head_protocol import RecHeadProtocolMixin


class SingleLevelSpotterMixin(RecHeadProtocolMixin):
    """Backbone + FPN whose first level (stride ``featmap_stride``) is the one map read, a
    detection head ``det_head`` and a recogniser ``rec_head`` (``TextPerceptronSpotter``,
    ``MANGOSpotter``).

    Gives the host :meth:`extract_feat` (with the stride check), :meth:`feature_network`,
    ``recognition_loss`` and the recognition methods of :class:`RecHeadProtocolMixin` on
    ``rec_head``, and :meth:`_read_gt_words` (``test_cfg.rec_on_gt``). The host builds its
    parts with :meth:`_build_trunk`, then ``rec_head``, and implements ``gt_roi_feats``.
    Put the mixin before ``BaseDetector`` in the bases.
    """

    def _build_trunk(self, backbone: ConfigType, neck: ConfigType, det_head: ConfigType,
                     featmap_stride: int) -> None:
        """Builds ``backbone``, ``neck`` and ``det_head`` in this order (the order of their
        random initialisation) and sets ``featmap_stride``."""
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck)
        self.det_head = MODELS.build(det_head)
        self.featmap_stride = int(featmap_stride)

    # ---------------------------------------------------------------- features
    def extract_feat(self, inputs: Tensor) -> Tuple[Tensor, ...]:
        """FPN levels of the batch; the first (stride ``featmap_stride``) is the one read."""
        feats = tuple(self.neck(self.backbone(inputs)))
        # int(): a trace (the FLOPs counter) gives sizes as tensors.
        height, first = int(inputs.size(-2)), int(feats[0].size(-2))
        if first == 0 or round(height / first) != self.featmap_stride:
            raise ValueError(
                f'{type(self).__name__}: the first FPN level is {first} px high for {height} '
                f'px inputs, not of stride featmap_stride={self.featmap_stride}; the '
                'backbone\'s first out_indices entry must be a stride-4 stage')
        return feats

    def feature_network(self) -> Optional[nn.Module]:
        """Backbone then neck, unless a subclass computes its features its own way."""
        if type(self).extract_feat is not SingleLevelSpotterMixin.extract_feat:
            return None
        return BackboneNeck(self.backbone, self.neck)

    # ---------------------------------------------------------------- spotter protocol
    @property
    def recognition_head(self) -> nn.Module:
        return self.rec_head

    def recognition_levels(self) -> Optional[int]:
        return 1

    def recognition_loss(self, rec: GTRecognition) -> Dict[str, Tensor]:
        """``loss_rec`` (and any auxiliary term of the recogniser) of ``rec``.

        With no instance the losses are zeros that still depend on every recognition
        parameter and on ``F_roi`` (hence the features), as ``SpottingRoIHead``'s.
        """
        return self.rec_head.gt_recognition_loss(rec)

    # ---------------------------------------------------------------- inference
    def _read_gt_words(self, feats: Tuple[Tensor, ...], data_samples: SampleList) -> None:
        """``pred_gt_texts``: the words read at every GT word (given in the original frame,
        scaled to the input) through ``gt_roi_feats``."""
        scaled = []
        for sample in data_samples:
            gt = sample.get('gt_instances', InstanceData())
            sx, sy = (float(v) for v in sample.metainfo.get('scale_factor', (1., 1.)))
            scaled.append(InstanceData(polygons=[
                (p.reshape(-1, 2) * np.float32([sx, sy])).reshape(-1)
                for p in instance_polygons(gt)
            ]) if len(gt) > 0 else InstanceData())
        roi_feats, num_per_img = self.gt_roi_feats(feats, scaled)
        texts = list(self.rec_head.predict(roi_feats)[0]) if roi_feats.size(0) > 0 else []
        start = 0
        for sample, num in zip(data_samples, num_per_img):
            sample.set_metainfo(dict(pred_gt_texts=texts[start:start + num]))
            start += num
