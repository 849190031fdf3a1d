"""Mask R-CNN's RoI head with a text recognition branch."""
import contextlib
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmdet.models.roi_heads import StandardRoIHead
from mmdet.models.utils import empty_instances
from mmdet.structures import SampleList
from mmdet.structures.bbox import bbox2roi, get_box_tensor
from mmdet.structures.mask import PolygonMasks
from mmdet.utils import ConfigType, InstanceList
from mmengine.structures import InstanceData
from torch import Tensor

from mmdld.models.spotters.gt_instances import check_gt_texts
from mmdld.models.spotters.records import GTRecognition
from mmdld.registry import MODELS
from .mask_polygons import box_polygon, masks_to_polygons


@MODELS.register_module()
class SpottingRoIHead(StandardRoIHead):
    """``StandardRoIHead`` (box + mask branches) plus a recognition branch.

    The recognition branch is a RoI extractor that masks its crop with the instance mask
    (``rec_roi_extractor``, e.g. ``RoIMaskingExtractor``) and a sequence recogniser
    (``rec_head``, e.g. ``BiLSTMAttnHead``). As in the paper (§3.2), it is trained on the
    ground-truth boxes and masks, so the number of recognised words equals the number of
    labelled ones; at test time it reads the detected boxes, masked with the predicted masks.

    Test-time options, read from ``test_cfg`` (``model.test_cfg.rcnn``) besides MMDetection's:

    - ``rec_on_gt`` (bool, default False): also read every ``gt_instances`` entry (GT boxes
      and polygons scaled into the network's input frame) and store the words in the sample's
      metainfo as ``pred_gt_texts``.
    - ``return_masks`` (bool, default True): keep the full-image ``masks`` in the results;
      set False to save memory when only polygons are needed.
    - ``polygon_epsilon`` (float, default 0.005): polygon simplification tolerance, as a
      fraction of the contour length.

    Args:
        rec_roi_extractor (dict): Config of the recognition RoI extractor; called as
            ``extractor(feats, rois, roi_masks)``.
        rec_head (dict): Config of the recogniser (``encode_texts``, ``extract_context``,
            ``forward_train``, ``loss_from_logits``, ``predict``).
        rec_mask_size (int or tuple[int, int]): Size of the RoI-local masks handed to the
            extractor. The default equals the mask head's 28 x 28 output, so that GT masks in
            training and predicted masks at test time have the same resolution.
        rec_train_jitter (dict, optional): Also train the recogniser (``loss_rec`` of
            :meth:`loss`) on ``num`` copies of each GT box whose sides are moved by up to
            ``ratio`` of the box's width / height (masks cropped from the same GT mask), e.g.
            ``dict(num=3, ratio=0.1)``. The copies look like the detected boxes the recogniser
            reads at test time, and give it more samples per image at the cost of the
            recognition branch only (the image passes are shared). None (default): the GT
            boxes only, as in the paper. The GT-cropped features that distillation uses
            (:meth:`deferring_recognition`) never have copies.
        **kwargs: ``StandardRoIHead``'s arguments.
    """

    def __init__(self,
                 rec_roi_extractor: ConfigType,
                 rec_head: ConfigType,
                 rec_mask_size: Sequence[int] = (28, 28),
                 rec_train_jitter: Optional[dict] = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if rec_train_jitter is not None:
            unknown = sorted(set(rec_train_jitter) - {'num', 'ratio'})
            num = rec_train_jitter.get('num', 1)
            ratio = rec_train_jitter.get('ratio', 0.1)
            if unknown or not isinstance(num, int) or num < 0 or not 0 <= ratio < 0.5:
                raise ValueError('roi_head.rec_train_jitter must be dict(num=<int >= 0>, '
                                 f'ratio=<float in [0, 0.5)>), got {rec_train_jitter!r}')
            rec_train_jitter = dict(num=num, ratio=float(ratio))
        self.rec_train_jitter = rec_train_jitter
        if not self.with_mask:
            raise ValueError('SpottingRoIHead needs `mask_roi_extractor`/`mask_head`: the '
                             'recognition branch masks its RoIs with the instance masks')
        self.rec_roi_extractor = MODELS.build(rec_roi_extractor)
        self.rec_head = MODELS.build(rec_head)
        if isinstance(rec_mask_size, int):
            rec_mask_size = (rec_mask_size, rec_mask_size)
        self.rec_mask_size = tuple(int(s) for s in rec_mask_size)
        self._deferred_recognition: Optional[List[GTRecognition]] = None

    def _rec_feats(self, x: Tuple[Tensor]) -> Tuple[Tensor]:
        num_inputs = getattr(self.rec_roi_extractor, 'num_inputs', 1)
        return x[:num_inputs]

    # ------------------------------------------------------------------ GT-cropped recognition
    def _gt_rois_and_masks(self, batch_gt_instances: Sequence[InstanceData],
                           device: torch.device) -> Tuple[Tensor, Tensor, List[int]]:
        """RoIs and RoI-local masks of the GT instances of a batch.

        Masks come from ``masks`` (``BitmapMasks``/``PolygonMasks``) when present, otherwise
        from ``polygons`` (flat arrays in the same frame as the boxes); an instance with
        neither is read unmasked.
        """
        boxes, masks, num_per_img = [], [], []
        out_h, out_w = self.rec_mask_size
        for gt in batch_gt_instances:
            n = len(gt)
            num_per_img.append(n)
            if n == 0 or 'bboxes' not in gt:
                num_per_img[-1] = 0
                boxes.append(torch.zeros(0, 4, device=device))
                continue
            bboxes = get_box_tensor(gt.bboxes).to(device=device, dtype=torch.float32)
            boxes.append(bboxes)
            gt_masks = gt.get('masks', None)
            if gt_masks is None and 'polygons' in gt:
                # Source height/width are unused by ``crop_and_resize``; pycocotools needs
                # 3 points, so shorter polygons are read through their box.
                polys = [np.asarray(p, np.float64).reshape(-1) for p in gt.polygons]
                box_np = bboxes.detach().cpu().numpy().astype(np.float64)
                polys = [p if p.size >= 6 else box_polygon(b).astype(np.float64)
                         for p, b in zip(polys, box_np)]
                gt_masks = PolygonMasks([[p] for p in polys], 1, 1)
            if gt_masks is None:
                masks.append(bboxes.new_ones(n, out_h, out_w))
                continue
            cropped = gt_masks.crop_and_resize(
                bboxes.detach().cpu().numpy(), (out_h, out_w),
                np.arange(n), device=device).to_ndarray()
            masks.append(torch.from_numpy(np.asarray(cropped, dtype=np.float32)).to(device))
        rois = bbox2roi(boxes)
        roi_masks = torch.cat(masks) if masks else rois.new_zeros(0, out_h, out_w)
        return rois, roi_masks, num_per_img

    def gt_recognition(self, x: Tuple[Tensor],
                       batch_gt_instances: Sequence[InstanceData]) -> GTRecognition:
        """Recognition features of the GT instances, cropped with GT boxes and masks.

        Args:
            x (tuple[Tensor]): FPN features of the batch.
            batch_gt_instances (list[InstanceData]): Per image, ``bboxes``, ``texts`` and
                ``masks`` or ``polygons``, all in the frame of ``x``'s input.

        Returns:
            GTRecognition: ``F_roi`` (N, C, Hr, Wr), ``F_con`` (N, T, D), targets and valid
            masks (N, L) of the images' GT instances concatenated in order.
        """
        device = x[0].device
        roi_feats, num_per_img = self.gt_roi_feats(x, batch_gt_instances)
        check_gt_texts(batch_gt_instances)
        texts = [t for gt, n in zip(batch_gt_instances, num_per_img) if n > 0 for t in gt.texts]
        context = self.rec_head.extract_context(roi_feats)
        targets, valid = self.rec_head.encode_texts(texts)
        return GTRecognition(roi_feats=roi_feats, context=context, targets=targets.to(device),
                             valid=valid.to(device), num_per_img=num_per_img)

    def gt_roi_feats(self, x: Tuple[Tensor], batch_gt_instances: Sequence[InstanceData]
                     ) -> Tuple[Tensor, List[int]]:
        """``F_roi`` of the GT instances (RoI-Masking with GT boxes and masks).

        Args:
            x (tuple[Tensor]): FPN features of the batch (at least the recognition levels).
            batch_gt_instances (list[InstanceData]): Per image, ``bboxes`` and ``masks`` or
                ``polygons``, in the frame of ``x``'s input.

        Returns:
            tuple: ``roi_feats`` (N, C, Hr, Wr), the images' instances in order, and the
            number of instances per image.
        """
        rois, roi_masks, num_per_img = self._gt_rois_and_masks(batch_gt_instances, x[0].device)
        return self.rec_roi_extractor(self._rec_feats(x), rois, roi_masks), num_per_img

    def recognition_loss(self, rec: GTRecognition) -> Dict[str, Tensor]:
        """``loss_rec`` (and ``loss_rec_ctc`` with the auxiliary CTC classifier) of ``rec``.

        With no instance the losses are zeros that still depend on every recognition
        parameter, so that backward and distributed training see the branch.
        """
        return self.rec_head.gt_recognition_loss(rec)

    def rec_loss(self, x: Tuple[Tensor], batch_gt_instances: Sequence[InstanceData]) -> dict:
        """Recognition loss on the GT instances, plus their jittered copies with
        ``rec_train_jitter``: :meth:`recognition_loss` of their :meth:`gt_recognition`."""
        if self.rec_train_jitter is not None and self.rec_train_jitter['num'] > 0:
            batch_gt_instances = [
                jitter_gt_instances(gt, self.rec_train_jitter['num'],
                                    self.rec_train_jitter['ratio']) for gt in batch_gt_instances
            ]
        return self.recognition_loss(self.gt_recognition(x, batch_gt_instances))

    @contextlib.contextmanager
    def deferring_recognition(self) -> Iterator[List[GTRecognition]]:
        """Within it, :meth:`loss` computes no recognition loss: it appends the
        :meth:`gt_recognition` of the GT instances (no jittered copies) to the yielded list.

        This is how the spotter hands DLD the recognition features of the same forward pass
        as its detection losses, through MMDetection's ``TwoStageDetector.loss``.
        """
        sink: List[GTRecognition] = []
        self._deferred_recognition = sink
        try:
            yield sink
        finally:
            self._deferred_recognition = None

    def loss(self, x: Tuple[Tensor], rpn_results_list: InstanceList,
             batch_data_samples: SampleList) -> dict:
        """Box and mask losses of ``StandardRoIHead`` plus ``loss_rec``.

        Args:
            x (tuple[Tensor]): FPN features.
            rpn_results_list (list[InstanceData]): Proposals per image.
            batch_data_samples (list[DetDataSample]): Samples with ``gt_instances`` holding
                ``bboxes``, ``labels``, ``masks`` and ``texts``.

        Returns:
            dict[str, Tensor]: ``loss_cls``, ``loss_bbox``, ``loss_mask``, ``loss_rec``, ...
            (no recognition loss inside :meth:`deferring_recognition`).
        """
        losses = super().loss(x, rpn_results_list, batch_data_samples)
        gts = [s.gt_instances for s in batch_data_samples]
        if self._deferred_recognition is not None:
            self._deferred_recognition.append(self.gt_recognition(x, gts))
        else:
            losses.update(self.rec_loss(x, gts))
        return losses

    # ------------------------------------------------------------------------------ inference
    def forward(self, x: Tuple[Tensor], rpn_results_list: InstanceList,
                batch_data_samples: SampleList = None) -> tuple:
        """Tensor-mode forward (used for FLOPs counting): box, mask and recognition outputs.

        Recognition runs on the first 100 proposals, masked with their class-0 mask
        predictions, as ``StandardRoIHead.forward`` does for the mask branch.
        """
        results = super().forward(x, rpn_results_list, batch_data_samples)
        rois = bbox2roi([r.bboxes for r in rpn_results_list])[:100]
        # The mask branch's output for those RoIs is the last entry: not computed twice, so
        # that FLOPs counted on this forward are the spotter's.
        mask_preds = results[-1]
        roi_masks = (mask_preds[:, 0].sigmoid() >= 0.5).float()
        roi_feats = self.rec_roi_extractor(self._rec_feats(x), rois, roi_masks)
        return results + (self.rec_head.extract_context(roi_feats), )

    def predict(self,
                x: Tuple[Tensor],
                rpn_results_list: InstanceList,
                batch_data_samples: SampleList,
                rescale: bool = False) -> InstanceList:
        """Detect, segment and read the text instances of a batch.

        Args:
            x (tuple[Tensor]): FPN features.
            rpn_results_list (list[InstanceData]): Proposals per image.
            batch_data_samples (list[DetDataSample]): Samples (metainfo; GT only for
                ``rec_on_gt``).
            rescale (bool): Report results in the original image frame.

        Returns:
            list[InstanceData]: Per image ``bboxes``, ``scores``, ``labels``, ``masks``
            (unless ``return_masks=False``), ``polygons``, ``texts``, ``text_scores``.
        """
        batch_img_metas = [s.metainfo for s in batch_data_samples]
        results_list = self.predict_bbox(
            x, batch_img_metas, rpn_results_list, rcnn_test_cfg=self.test_cfg, rescale=False)
        results_list = self.predict_mask_and_text(x, batch_img_metas, results_list,
                                                  rescale=rescale)
        if self.test_cfg is not None and self.test_cfg.get('rec_on_gt', False):
            self.predict_gt_texts(x, batch_data_samples)
        return results_list

    def predict_mask_and_text(self, x: Tuple[Tensor], batch_img_metas: List[dict],
                              results_list: InstanceList,
                              rescale: bool = False) -> InstanceList:
        """Masks, polygons and words of the detected boxes (given in the input frame).

        The recogniser reads each detected box masked with the mask head's RoI-local
        prediction, binarised at ``mask_thr_binary`` as the GT masks of training are binary.
        """
        mask_thr = self.test_cfg.get('mask_thr_binary', 0.5)
        eps = self.test_cfg.get('polygon_epsilon', 0.005)
        mask_rois = bbox2roi([r.bboxes for r in results_list])
        if mask_rois.shape[0] == 0:
            results_list = empty_instances(
                batch_img_metas, mask_rois.device, task_type='mask',
                instance_results=results_list, mask_thr_binary=mask_thr)
            texts_per_img = [[] for _ in results_list]
            scores_per_img = [mask_rois.new_zeros(0) for _ in results_list]
        else:
            mask_preds = self._mask_forward(x, mask_rois)['mask_preds']
            labels = torch.cat([r.labels for r in results_list])
            if mask_preds.size(1) == 1:
                roi_probs = mask_preds[:, 0].sigmoid()
            else:
                roi_probs = mask_preds[torch.arange(len(labels)), labels].sigmoid()
            roi_masks = (roi_probs >= max(mask_thr, 0.)).float()
            roi_feats = self.rec_roi_extractor(self._rec_feats(x), mask_rois, roi_masks)
            texts, text_scores = self.rec_head.predict(roi_feats)
            text_scores = torch.as_tensor(text_scores, dtype=torch.float32,
                                          device=mask_rois.device)
            num_per_img = [len(r) for r in results_list]
            texts_per_img, start = [], 0
            for n in num_per_img:
                texts_per_img.append(list(texts[start:start + n]))
                start += n
            scores_per_img = list(text_scores.split(num_per_img))
            results_list = self.mask_head.predict_by_feat(
                mask_preds=mask_preds.split(num_per_img, 0),
                results_list=results_list,
                batch_img_metas=batch_img_metas,
                rcnn_test_cfg=self.test_cfg,
                rescale=rescale)
        for results, texts, scores in zip(results_list, texts_per_img, scores_per_img):
            results.texts = texts
            results.text_scores = scores
            results.polygons = masks_to_polygons(
                results.masks.detach().cpu().numpy(),
                get_box_tensor(results.bboxes).detach().cpu().numpy(), eps)
            if not self.test_cfg.get('return_masks', True):
                del results.masks
        return results_list

    def predict_gt_texts(self, x: Tuple[Tensor], batch_data_samples: SampleList) -> None:
        """Read every ``gt_instances`` entry; store the words as ``pred_gt_texts``.

        GT boxes and polygons are in the original image frame (test pipelines load them after
        ``Resize``); they are scaled by ``scale_factor`` into the network's input frame.
        """
        scaled = []
        for sample in batch_data_samples:
            gt = sample.get('gt_instances', InstanceData())
            sx, sy = sample.metainfo.get('scale_factor', (1.0, 1.0))
            inst = InstanceData()
            if len(gt) > 0 and 'bboxes' in gt:
                scale = x[0].new_tensor([sx, sy, sx, sy])
                inst.bboxes = get_box_tensor(gt.bboxes).to(x[0]) * scale
                if 'polygons' in gt:
                    inst.polygons = [
                        (np.asarray(p, np.float32).reshape(-1, 2) * [sx, sy]).reshape(-1)
                        for p in gt.polygons
                    ]
            scaled.append(inst)
        rois, roi_masks, num_per_img = self._gt_rois_and_masks(scaled, x[0].device)
        texts: List[str] = []
        if rois.size(0) > 0:
            roi_feats = self.rec_roi_extractor(self._rec_feats(x), rois, roi_masks)
            texts = list(self.rec_head.predict(roi_feats)[0])
        start = 0
        for sample, n in zip(batch_data_samples, num_per_img):
            sample.set_metainfo(dict(pred_gt_texts=texts[start:start + n]))
            start += n


def jitter_gt_instances(gt: InstanceData, num: int, ratio: float) -> InstanceData:
    """The GT instances followed by ``num`` copies of each with randomly moved box sides.

    Each side of a copy moves by ``U(-ratio, ratio)`` times the box's width (left/right) or
    height (top/bottom); copies keep their instance's text and mask (``masks``/``polygons``
    are indexed, so masks are cropped from the GT mask with the moved box).

    Args:
        gt (InstanceData): ``bboxes`` and ``texts``, optionally ``masks``, ``polygons``,
            ``labels``.
        num (int): Copies per instance.
        ratio (float): Largest move of a side, relative to the box size.

    Returns:
        InstanceData: ``(num + 1) * len(gt)`` instances: the originals first.
    """
    n = len(gt)
    if n == 0 or num == 0 or 'bboxes' not in gt:
        return gt
    boxes = get_box_tensor(gt.bboxes).float()
    wh = (boxes[:, 2:] - boxes[:, :2]).repeat(1, 2).repeat(num, 1)
    moves = (torch.rand_like(wh) * 2 - 1) * ratio * wh
    # ratio < 0.5 (checked by the head): opposite sides cannot cross, x1 < x2 and y1 < y2 hold.
    copies = boxes.repeat(num, 1) + moves
    inds = np.tile(np.arange(n), num + 1)
    out = InstanceData(bboxes=torch.cat([boxes, copies]))
    for key in ('texts', 'polygons'):
        if key in gt:
            values = list(gt.get(key))
            out.set_field([values[i] for i in inds], key)
    if 'masks' in gt:
        out.masks = gt.masks[inds]
    if 'labels' in gt:
        out.labels = gt.labels[torch.as_tensor(inds, device=gt.labels.device)]
    return out
