"""Text Perceptron (Qiao et al., AAAI 2020) as a spotter that DLD can distil (paper Table 8)."""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmdet.models.detectors import BaseDetector
from mmdet.structures import SampleList
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.structures import InstanceData
from torch import Tensor

from mmdld.models.spotters import (DistillableSpotter, GTRecognition, SingleLevelSpotterMixin,
                                   check_gt_texts, instance_polygons)
from mmdld.registry import MODELS
from .instance_points import check_jitter_cfg, instance_fiducial_points, jitter_fiducial_points

#: ``test_cfg`` keys the spotter reads (the detection head has its own thresholds).
TEST_CFG_KEYS = ('score_thr', 'rec_on_gt')


@MODELS.register_module()
class TextPerceptronSpotter(SingleLevelSpotterMixin, BaseDetector, DistillableSpotter):
    """Segmentation-based spotter: backbone + FPN, Text Perceptron head, STM, recogniser.

    The first FPN level (stride ``featmap_stride``, 4) is the one map both branches read, as
    in the authors' code: FPN's top-down path has already added the coarser levels into it.

    - Detection: ``TextPerceptronHead`` segments the map into centre text, head, tail and
      top/bottom boundary regions and regresses boundary offsets (``loss_tp_seg``,
      ``loss_tp_reg``); at test time its post-processing turns the maps into ``2K`` fiducial
      points per word.
    - Recognition: ``ShapeTransformModule`` rectifies each word's region of the map into an
      ``H_r x W_r`` crop with a thin-plate spline through its fiducial points, which
      ``BiLSTMAttnHead`` reads. Training crops at the GT polygons' fiducial points
      (``gt_fiducial_points``), test time at the predicted ones.

    Implements the spotter protocol (:class:`DistillableSpotter`, ``docs/new_spotter.md``):
    ``F_roi`` are the STM crops of the GT instances, ``F_con`` the BiLSTM's features of them.
    The features and the recogniser's protocol methods are :class:`SingleLevelSpotterMixin`'s.
    ``predict`` returns ``DetDataSample``s whose ``pred_instances`` hold ``polygons``,
    ``fiducial_points``, ``bboxes``, ``scores``, ``labels``, ``texts`` and ``text_scores``, in the
    original image frame with ``rescale=True`` (``docs/data_contract.md``).

    Test-time options (``test_cfg``): ``score_thr`` (float, default 0): words scored below it by
    the detection head are dropped before recognition (an evaluator's threshold, so that the
    recogniser's cost follows the reported words); ``rec_on_gt`` (bool, default False): also read
    every ``gt_instances`` entry (given in the original frame, as test pipelines load them) and
    store the words as the ``pred_gt_texts`` metainfo (the "Rec" column).

    Args:
        backbone (dict): Backbone config; its first output must be a stride-4 stage.
        neck (dict): Neck config (FPN).
        det_head (dict): ``TextPerceptronHead`` config.
        shape_transform (dict): ``ShapeTransformModule`` config; ``output_size`` must be the
            recogniser's ``roi_size``, ``spatial_scale`` ``1 / featmap_stride`` and
            ``num_points_per_side`` the head's.
        rec_head (dict): ``BiLSTMAttnHead`` config.
        featmap_stride (int): Stride of the first FPN level. Defaults to 4.
        rec_train_jitter (dict, optional): ``dict(num, ratio)``: in :meth:`loss` only, the
            recogniser also reads ``num`` copies of each GT word whose fiducial points moved by
            up to ``ratio`` of the word's height (``jitter_fiducial_points``), which look like
            the predicted points of test time. None (default): the GT points only, as in the
            paper. Distillation (:meth:`loss_and_gt_recognition`) never uses copies.
        test_cfg (dict, optional): See above.
        data_preprocessor (dict, optional): ``DetDataPreprocessor`` config.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 backbone: ConfigType,
                 neck: ConfigType,
                 det_head: ConfigType,
                 shape_transform: ConfigType,
                 rec_head: ConfigType,
                 featmap_stride: int = 4,
                 rec_train_jitter: Optional[dict] = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self._build_trunk(backbone, neck, det_head, featmap_stride)
        self.shape_transform = MODELS.build(shape_transform)
        self.rec_head = MODELS.build(rec_head)
        self.rec_train_jitter = check_jitter_cfg(rec_train_jitter)
        self.test_cfg = dict(test_cfg or {})
        unknown = sorted(set(self.test_cfg) - set(TEST_CFG_KEYS))
        if unknown:
            raise ValueError(f'TextPerceptronSpotter: unknown test_cfg keys {unknown}; it reads '
                             f'{list(TEST_CFG_KEYS)} (the detection head has its own)')
        self._check_parts()

    def _check_parts(self) -> None:
        """The STM's crops must be what the recogniser reads, at the head's points."""
        stm, rec, head = self.shape_transform, self.rec_head, self.det_head
        problems = []
        if tuple(stm.output_size) != tuple(rec.roi_size):
            problems.append(f'shape_transform.output_size {tuple(stm.output_size)} != '
                            f'rec_head.roi_size {tuple(rec.roi_size)}')
        if abs(stm.spatial_scale * self.featmap_stride - 1) > 1e-6:
            problems.append(f'shape_transform.spatial_scale {stm.spatial_scale} != 1 / '
                            f'featmap_stride ({self.featmap_stride})')
        if stm.num_points_per_side != head.num_points_per_side:
            problems.append(f'shape_transform.num_points_per_side {stm.num_points_per_side} '
                            f'!= det_head.num_points_per_side {head.num_points_per_side}')
        if problems:
            raise ValueError('TextPerceptronSpotter: ' + '; '.join(problems))

    @property
    def num_points_per_side(self) -> int:
        """``K``: fiducial points per side of a word."""
        return self.shape_transform.num_points_per_side

    # ---------------------------------------------------------------- spotter protocol
    def loss_and_gt_recognition(self, inputs: Tensor, data_samples: SampleList
                                ) -> Tuple[Dict[str, Tensor], GTRecognition]:
        """``loss_tp_seg``/``loss_tp_reg`` and the GT recognition of the same features."""
        feats = self.extract_feat(inputs)
        losses = self._detection_loss(feats, data_samples)
        return losses, self.gt_recognition(feats, [s.gt_instances for s in data_samples])

    def gt_recognition(self, feats: Tuple[Tensor, ...],
                       batch_gt_instances: Sequence[InstanceData]) -> GTRecognition:
        """``F_roi`` (STM crops at the GT fiducial points), ``F_con`` and the GT words."""
        return self._gt_recognition(feats, batch_gt_instances, jitter=None)

    def gt_roi_feats(self, feats: Tuple[Tensor, ...], batch_gt_instances: Sequence[InstanceData]
                     ) -> Tuple[Tensor, List[int]]:
        """STM crops of the GT instances, and instances per image."""
        points = self._gt_points(feats[0].device, batch_gt_instances)
        return self.shape_transform(feats[0], points), [len(p) for p in points]

    # ---------------------------------------------------------------- training
    def loss(self, inputs: Tensor, data_samples: SampleList) -> Dict[str, Tensor]:
        """The spotter's own training: detection losses and ``loss_rec`` on the GT words
        (with their jittered copies when ``rec_train_jitter`` is set)."""
        feats = self.extract_feat(inputs)
        losses = self._detection_loss(feats, data_samples)
        rec = self._gt_recognition(feats, [s.gt_instances for s in data_samples],
                                   jitter=self.rec_train_jitter)
        losses.update(self.recognition_loss(rec))
        return losses

    def _detection_loss(self, feats: Tuple[Tensor, ...],
                        data_samples: SampleList) -> Dict[str, Tensor]:
        seg_logits, reg = self.det_head(feats[0])
        polygons = [instance_polygons(s.gt_instances, i) for i, s in enumerate(data_samples)]
        return self.det_head.loss(seg_logits, reg, polygons, self.featmap_stride)

    def _gt_points(self, device: torch.device, batch_gt_instances: Sequence[InstanceData],
                   jitter: Optional[Tuple[int, float]] = None) -> List[Tensor]:
        points = [
            instance_fiducial_points(gt, self.num_points_per_side, device, i)
            for i, gt in enumerate(batch_gt_instances)
        ]
        if jitter is not None:
            points = [jitter_fiducial_points(p, *jitter) for p in points]
        return points

    def _gt_recognition(self, feats: Tuple[Tensor, ...],
                        batch_gt_instances: Sequence[InstanceData],
                        jitter: Optional[Tuple[int, float]]) -> GTRecognition:
        points = self._gt_points(feats[0].device, batch_gt_instances, jitter)
        copies = 1 + (jitter[0] if jitter is not None else 0)
        check_gt_texts(batch_gt_instances)
        texts: List[str] = []
        for gt in batch_gt_instances:
            texts.extend(list(gt.texts) * copies if len(gt) > 0 else [])
        roi_feats = self.shape_transform(feats[0], points)
        context = self.rec_head.extract_context(roi_feats)
        targets, valid = self.rec_head.encode_texts(texts)
        return GTRecognition(roi_feats=roi_feats, context=context,
                             targets=targets.to(roi_feats.device),
                             valid=valid.to(roi_feats.device),
                             num_per_img=[len(p) for p in points])

    # ---------------------------------------------------------------- inference
    def predict(self, inputs: Tensor, data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """Detect and read the words of a batch.

        Args:
            inputs (Tensor): The pre-processed (resized, padded) batch.
            data_samples (list[DetDataSample]): Its samples (``scale_factor`` from the
                original image; GT only for ``rec_on_gt``).
            rescale (bool): Report results in the original image frame.

        Returns:
            list[DetDataSample]: ``data_samples`` with ``pred_instances``.
        """
        feats = self.extract_feat(inputs)
        results = self._detect_and_read(feats)
        for sample, result in zip(data_samples, results):
            if rescale:
                sx, sy = (float(v) for v in sample.metainfo.get('scale_factor', (1., 1.)))
                _rescale_results(result, 1. / sx, 1. / sy)
        if self.test_cfg.get('rec_on_gt', False):
            self._read_gt_words(feats, data_samples)
        return self.add_pred_to_datasample(data_samples, results)

    def _detect_and_read(self, feats: Tuple[Tensor, ...]) -> List[InstanceData]:
        """The head's words above ``score_thr`` with their texts, in the input frame."""
        seg_logits, reg = self.det_head(feats[0])
        results = self.det_head.predict(seg_logits, reg, self.featmap_stride)
        score_thr = float(self.test_cfg.get('score_thr', 0.))
        results = [r[r.scores >= score_thr] for r in results]
        roi_feats = self.shape_transform(
            feats[0], [r.fiducial_points.to(feats[0].device) for r in results])
        texts: List[str] = []
        text_scores = roi_feats.new_zeros(0)
        if roi_feats.size(0) > 0:
            texts, text_scores = self.rec_head.predict(roi_feats)
            text_scores = torch.as_tensor(text_scores, dtype=torch.float32,
                                          device=roi_feats.device)
        start = 0
        for result in results:
            num = len(result)
            result.texts = list(texts[start:start + num])
            result.text_scores = text_scores[start:start + num]
            result.labels = torch.zeros(num, dtype=torch.long, device=roi_feats.device)
            start += num
        return results

    def _forward(self, inputs: Tensor, data_samples: Optional[SampleList] = None) -> tuple:
        """Tensor mode (FLOPs): the head's maps, the STM crops of its words and their ``F_con``.

        The detection post-processing runs as at test time (its points are constants of a
        trace); decoding is left out, as MMDetection's analysis forward leaves out the
        detectors' post-processing.
        """
        feats = self.extract_feat(inputs)
        seg_logits, reg = self.det_head(feats[0])
        results = self.det_head.predict(seg_logits, reg, self.featmap_stride)
        score_thr = float(self.test_cfg.get('score_thr', 0.))
        roi_feats = self.shape_transform(
            feats[0], [r[r.scores >= score_thr].fiducial_points.to(feats[0].device)
                       for r in results])
        return seg_logits, reg, roi_feats, self.rec_head.extract_context(roi_feats)


def _rescale_results(result: InstanceData, fx: float, fy: float) -> None:
    """Multiplies a result's coordinates (polygons, fiducial points, boxes) by ``fx``/``fy``."""
    result.polygons = [(np.asarray(p, np.float32).reshape(-1, 2) * np.float32([fx, fy]))
                       .reshape(-1) for p in result.polygons]
    if 'fiducial_points' in result:
        result.fiducial_points = result.fiducial_points * result.fiducial_points.new_tensor(
            [fx, fy])
    result.bboxes = result.bboxes * result.bboxes.new_tensor([fx, fy, fx, fy])
