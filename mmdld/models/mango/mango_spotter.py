"""MANGO (Qiao et al., AAAI 2021) as a one-stage spotter that DLD can distil (paper Table 8)."""
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from mmdet.models.detectors import BaseDetector
from mmdet.models.layers import mask_matrix_nms
from mmdet.structures import SampleList
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.structures import InstanceData
from torch import Tensor

from mmdld.models.spotters import (DistillableSpotter, GTRecognition, SingleLevelSpotterMixin,
                                   check_gt_texts, instance_polygons)
from mmdld.models.utils.text_geometry import feature_to_image
from mmdld.registry import MODELS
from .centreline import centreline_targets, centreline_words, group_cells, vote_text
from .char_targets import char_attention_targets
from .grid_targets import IGNORE, TEXT, grid_targets, instance_mask_targets
from .mango_head import MANGOMaps, cell_indices

#: ``test_cfg`` keys and their defaults.
TEST_CFG_DEFAULTS = dict(
    cell_score_thr=0.1,  # cells below it are not candidates
    mask_thr=0.5,  # instance mask binarisation
    nms_pre=100,  # candidates per image before Matrix NMS
    max_per_img=50,  # words per image after it
    # Linear Matrix NMS: a cell whose mask repeats a better cell's (IoU 1) drops to 0; words
    # rarely overlap, so the stricter decay costs little recall.
    nms_kernel='linear',
    nms_sigma=2.0,  # of the 'gaussian' kernel
    filter_thr=0.05,  # Matrix NMS's decayed-score threshold
    score_thr=0.,  # words below it are not read (the evaluator's threshold)
    rec_on_gt=False,
    # 'mask': a word per kept cell (Matrix NMS over the instance masks); 'centreline': a word
    # per region of the centre-line branch, read by the vote of the text cells over it.
    instances='mask',
    centreline_thr=0.5,  # the centre-line branch's probability threshold
    centreline_min_area=1)  # regions of fewer stride-4 pixels are dropped
#: Values of ``test_cfg['instances']``.
INSTANCE_SOURCES = ('mask', 'centreline')
#: How the recogniser is trained in :meth:`MANGOSpotter.loss`.
REC_TRAIN_CELLS = ('centre', 'positive')


@MODELS.register_module()
class MANGOSpotter(SingleLevelSpotterMixin, BaseDetector, DistillableSpotter):
    """One-stage spotter: backbone + FPN, ``MANGOHead`` (grid + PMA), ``MANGOSequenceHead``.

    The first FPN level (stride ``featmap_stride``) is the one map read.

    - Position: an ``S x S`` grid of text/background logits (``loss_cate``, focal loss, on the
      centre-region targets of ``grid_targets``); each text cell's instance mask attention is
      supervised with the word's polygon mask (``loss_mask``, Dice loss, as SOLO; the authors
      supervise it only in pre-training).
    - Recognition: the character mask attentions of a cell gather its word's ``[L, C]``
      sequence features, which ``MANGOSequenceHead`` reads (``loss_rec``). No character boxes
      supervise the character attentions (the authors pre-train them on synthetic character
      boxes; the project's datasets have none): they learn through ``loss_rec`` alone.
    - Inference: text cells above ``cell_score_thr``, their instance masks, Matrix NMS
      (MMDetection's ``mask_matrix_nms``), then each kept cell's sequence is read. A word's
      polygon is the minimum-area rectangle of its mask's largest component.
    - Optional centre-line branch (``centreline_head``, ``centreline.py``; the authors' way to
      give curved words their polygons): a segmentation of the words' centre regions
      (``loss_centreline``). With ``test_cfg['instances'] = 'centreline'`` each region is a
      word, its polygon the region grown back, its text the vote of the text cells over it
      (weighted by cell score times overlap), its score its best cell's.

    Implements the spotter protocol (``docs/mango.md``): the GT instance of a word is read at
    its *centre cell* (the cell holding its box centre): ``F_roi`` are those cells' gathered
    sequence features ``[N, C, 1, L]``, ``F_con`` the BiLSTM's ``[N, L, D]``. The features and
    the recogniser's protocol methods are :class:`SingleLevelSpotterMixin`'s.

    ``predict`` returns ``DetDataSample``s whose ``pred_instances`` hold ``polygons``,
    ``bboxes``, ``scores``, ``labels``, ``texts`` and ``text_scores``, in the original image frame
    with ``rescale=True``, as ``TextPerceptronSpotter``'s.

    Args:
        backbone (dict): Backbone config; its first output must be a stride-4 stage.
        neck (dict): Neck config (FPN).
        det_head (dict): ``MANGOHead`` config; ``num_positions`` must be the recogniser's and
            ``in_channels`` its ``in_channels``.
        rec_head (dict): ``MANGOSequenceHead`` config.
        featmap_stride (int): Stride of the first FPN level. Defaults to 4.
        sigma (float): Centre-region scale of the grid assignment. Defaults to 0.2.
        loss_cate (dict): Category loss (sigmoid focal loss).
        loss_mask (dict): Instance mask loss (Dice loss).
        rec_train_cells (str): The cells :meth:`loss` trains the recogniser on: ``'positive'``
            (default, the authors': every text cell, with the word it holds) or ``'centre'``
            (one per word, as distillation reads them; less memory).
        centreline_head (dict, optional): ``MANGOCentrelineHead`` config; ``None`` (default):
            no centre-line branch.
        char_attention_loss_weight (float): Weight of ``loss_char_att``, the cross-entropy of
            each character attention against a Gaussian at its pseudo character centre
            (``char_targets.py``: equal steps along the word's centre line), on the cells the
            recogniser trains on; a stand-in for the authors' character-box pre-training.
            Defaults to 0 (off, the authors' fine-tuning).
        test_cfg (dict, optional): Keys and defaults in :data:`TEST_CFG_DEFAULTS`;
            ``rec_on_gt`` also reads every ``gt_instances`` entry (original frame) into the
            ``pred_gt_texts`` metainfo.
        data_preprocessor (dict, optional): ``DetDataPreprocessor`` config.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 backbone: ConfigType,
                 neck: ConfigType,
                 det_head: ConfigType,
                 rec_head: ConfigType,
                 featmap_stride: int = 4,
                 sigma: float = 0.2,
                 loss_cate: ConfigType = dict(type='mmdet.FocalLoss', use_sigmoid=True,
                                              gamma=2.0, alpha=0.25, loss_weight=1.0),
                 loss_mask: ConfigType = dict(type='mmdet.DiceLoss', use_sigmoid=True,
                                              loss_weight=3.0),
                 rec_train_cells: str = 'positive',
                 centreline_head: OptConfigType = None,
                 char_attention_loss_weight: float = 0.,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self._build_trunk(backbone, neck, det_head, featmap_stride)
        self.rec_head = MODELS.build(rec_head)
        self.loss_cate = MODELS.build(loss_cate)
        self.loss_mask = MODELS.build(loss_mask)
        self.sigma = float(sigma)
        if rec_train_cells not in REC_TRAIN_CELLS:
            raise ValueError(f'MANGOSpotter: rec_train_cells must be one of {REC_TRAIN_CELLS}, '
                             f'got {rec_train_cells!r}')
        self.rec_train_cells = rec_train_cells
        unknown = sorted(set(test_cfg or {}) - set(TEST_CFG_DEFAULTS))
        if unknown:
            raise ValueError(f'MANGOSpotter: unknown test_cfg keys {unknown}; it reads '
                             f'{list(TEST_CFG_DEFAULTS)}')
        self.test_cfg = dict(TEST_CFG_DEFAULTS, **(test_cfg or {}))
        self.centreline_head = (MODELS.build(centreline_head)
                                if centreline_head is not None else None)
        if char_attention_loss_weight < 0:
            raise ValueError(f'MANGOSpotter: char_attention_loss_weight must be >= 0, got '
                             f'{char_attention_loss_weight!r}')
        self.char_attention_loss_weight = float(char_attention_loss_weight)
        problems = []
        if self.test_cfg['instances'] not in INSTANCE_SOURCES:
            problems.append(f"test_cfg.instances must be one of {INSTANCE_SOURCES}, got "
                            f"{self.test_cfg['instances']!r}")
        elif self.test_cfg['instances'] == 'centreline' and self.centreline_head is None:
            problems.append("test_cfg.instances='centreline' needs a centreline_head")
        if self.det_head.num_positions != self.rec_head.num_positions:
            problems.append(f'det_head.num_positions {self.det_head.num_positions} != '
                            f'rec_head.max_seq_len + 1 ({self.rec_head.num_positions})')
        if self.det_head.in_channels != self.rec_head.in_channels:
            problems.append(f'det_head.in_channels {self.det_head.in_channels} != '
                            f'rec_head.in_channels {self.rec_head.in_channels}')
        if problems:
            raise ValueError('MANGOSpotter: ' + '; '.join(problems))

    # ---------------------------------------------------------------- spotter protocol
    def loss_and_gt_recognition(self, inputs: Tensor, data_samples: SampleList
                                ) -> Tuple[Dict[str, Tensor], GTRecognition]:
        """``loss_cate``/``loss_mask`` and the GT recognition (centre cells) of one forward."""
        feats = self.extract_feat(inputs)
        maps = self.det_head(feats[0])
        losses, _ = self._detection_loss(feats[0], maps, data_samples)
        gts = [s.gt_instances for s in data_samples]
        return losses, self._gt_recognition(feats[0], maps, gts, 'centre')

    def gt_recognition(self, feats: Tuple[Tensor, ...],
                       batch_gt_instances: Sequence[InstanceData]) -> GTRecognition:
        """``F_roi`` (the GT centre cells' sequence features), ``F_con`` and the GT words."""
        return self._gt_recognition(feats[0], self.det_head(feats[0]), batch_gt_instances,
                                    'centre')

    def gt_roi_feats(self, feats: Tuple[Tensor, ...], batch_gt_instances: Sequence[InstanceData]
                     ) -> Tuple[Tensor, List[int]]:
        """Sequence features of the GT instances' centre cells, and instances per image."""
        maps = self.det_head(feats[0])
        img_inds, cells, num_per_img = self._centre_cells(feats[0], batch_gt_instances)
        return self.det_head.sequence_features(feats[0], maps, img_inds, cells), num_per_img

    # ---------------------------------------------------------------- training
    def loss(self, inputs: Tensor, data_samples: SampleList) -> Dict[str, Tensor]:
        """``loss_cate``, ``loss_mask`` and ``loss_rec`` (on ``rec_train_cells``)."""
        feats = self.extract_feat(inputs)
        maps = self.det_head(feats[0])
        losses, targets = self._detection_loss(feats[0], maps, data_samples)
        attention = {} if self.char_attention_loss_weight > 0 else None
        rec = self._gt_recognition(feats[0], maps, [s.gt_instances for s in data_samples],
                                   self.rec_train_cells, targets, attention)
        losses.update(self.recognition_loss(rec))
        if attention is not None:
            losses['loss_char_att'] = self._char_attention_loss(feats[0], attention)
        return losses

    def _char_attention_loss(self, feat: Tensor, attention: dict) -> Tensor:
        """Cross-entropy of the read cells' character attentions against their targets."""
        log_att = attention['log_attention']
        if log_att.size(0) == 0:
            return log_att.sum() * 0
        targets, valid = char_attention_targets(
            attention['polygons'], attention['texts'], tuple(feat.shape[-2:]),
            self.featmap_stride, log_att.size(1))
        targets = torch.from_numpy(targets).to(log_att)
        valid = torch.from_numpy(valid).to(log_att.device)
        per_position = -(targets * log_att).flatten(2).sum(-1)  # [N, L]
        num = valid.sum().clamp(min=1)
        return self.char_attention_loss_weight * per_position[valid].sum() / num

    def _input_shape(self, feat: Tensor) -> Tuple[int, int]:
        """``(H, W)`` of the (padded) input the grid covers."""
        return int(feat.size(-2)) * self.featmap_stride, int(feat.size(-1)) * self.featmap_stride

    def _grid_targets(self, feat: Tensor, gt: InstanceData, img_index: int,
                      ignored: Optional[InstanceData] = None) -> Dict[str, np.ndarray]:
        polygons = instance_polygons(gt, img_index)
        ignored_polygons = (instance_polygons(ignored, img_index)
                            if ignored is not None and len(ignored) > 0 else [])
        targets = grid_targets(polygons, self._input_shape(feat), self.det_head.num_grid,
                               self.sigma, ignored_polygons)
        targets['polygons'] = polygons
        return targets

    def _detection_loss(self, feat: Tensor, maps: MANGOMaps, data_samples: SampleList
                        ) -> Tuple[Dict[str, Tensor], List[Dict[str, np.ndarray]]]:
        """The category and instance-mask losses, and each image's grid targets."""
        targets = [
            self._grid_targets(feat, s.gt_instances, i, s.get('ignored_instances'))
            for i, s in enumerate(data_samples)
        ]
        device = feat.device
        labels = torch.from_numpy(np.stack([t['labels'] for t in targets])).to(device)
        counted = labels != IGNORE
        num_pos = int((labels == TEXT).sum())
        # MMDetection's sigmoid focal loss: label 0 is the (only) class, 1 background.
        cate_labels = torch.where(labels == TEXT, 0, 1)[counted]
        loss_cate = self.loss_cate(maps.cate_logits[counted][:, None], cate_labels,
                                   avg_factor=num_pos + 1)

        img_inds, cells, mask_targets = [], [], []
        height, width = feat.shape[-2:]
        for i, t in enumerate(targets):
            positive = np.flatnonzero(t['labels'] == TEXT)
            if len(positive) == 0:
                continue
            masks = instance_mask_targets(t['polygons'], (height, width), self.featmap_stride)
            img_inds.append(np.full(len(positive), i))
            cells.append(positive)
            mask_targets.append(masks[t['instance'][positive]])
        if cells:
            img_inds_t = torch.from_numpy(np.concatenate(img_inds)).to(device)
            cells_t = torch.from_numpy(np.concatenate(cells)).to(device)
            logits = self.det_head.instance_masks(maps.mask_feats, img_inds_t,
                                                  maps.ima_kernels[img_inds_t, cells_t])
            target = torch.from_numpy(np.concatenate(mask_targets)).to(device, logits.dtype)
            loss_mask = self.loss_mask(logits.flatten(1), target.flatten(1))
        else:
            loss_mask = maps.ima_kernels.sum() * 0 + maps.mask_feats.sum() * 0
        losses = dict(loss_cate=loss_cate, loss_mask=loss_mask)
        if self.centreline_head is not None:
            regions = [
                centreline_targets(t['polygons'], (height, width), self.featmap_stride,
                                   self.centreline_head.shrink_ratio,
                                   instance_polygons(s.ignored_instances, i)
                                   if len(s.get('ignored_instances', ())) > 0 else [])
                for i, (t, s) in enumerate(zip(targets, data_samples))
            ]
            losses['loss_centreline'] = self.centreline_head.loss(
                self.centreline_head(feat), [r[0] for r in regions], [r[1] for r in regions])
        return losses, targets

    def _centre_cells(self, feat: Tensor, batch_gt_instances: Sequence[InstanceData]
                      ) -> Tuple[Tensor, Tensor, List[int]]:
        cells = [
            torch.from_numpy(self._grid_targets(feat, gt, i)['centre_cells'])
            for i, gt in enumerate(batch_gt_instances)
        ]
        num_per_img = [len(c) for c in cells]
        img_inds, flat = cell_indices(num_per_img, cells, feat.device)
        return img_inds, flat, num_per_img

    def _gt_recognition(self, feat: Tensor, maps: MANGOMaps,
                        batch_gt_instances: Sequence[InstanceData], which: str,
                        targets: Optional[List[Dict[str, np.ndarray]]] = None,
                        attention: Optional[dict] = None) -> GTRecognition:
        """The recognition of the GT words at their centre cells or at every text cell.

        ``attention``, a dict, receives the read cells' ``log_attention`` and the
        ``polygons`` and ``texts`` of the words they read.
        """
        check_gt_texts(batch_gt_instances)
        texts: List[str] = []
        polygons: List[np.ndarray] = []
        if which == 'centre':
            img_inds, cells, num_per_img = self._centre_cells(feat, batch_gt_instances)
            for i, gt in enumerate(batch_gt_instances):
                texts.extend(list(gt.texts) if len(gt) > 0 else [])
                if attention is not None:
                    polygons.extend(instance_polygons(gt, i))
        else:
            if targets is None:
                targets = [self._grid_targets(feat, gt, i)
                           for i, gt in enumerate(batch_gt_instances)]
            per_img = [np.flatnonzero(t['labels'] == TEXT) for t in targets]
            for gt, t, positive in zip(batch_gt_instances, targets, per_img):
                texts.extend(gt.texts[k] for k in t['instance'][positive])
                polygons.extend(t['polygons'][k] for k in t['instance'][positive])
            num_per_img = [len(p) for p in per_img]
            img_inds, cells = cell_indices(num_per_img, [torch.from_numpy(p) for p in per_img],
                                           feat.device)
        log_attention: Optional[list] = [] if attention is not None else None
        roi_feats = self.det_head.sequence_features(feat, maps, img_inds, cells, log_attention)
        if attention is not None:
            attention.update(log_attention=(log_attention[0] if log_attention else
                                            feat.new_zeros(0, self.det_head.num_positions, 1,
                                                           1)),
                             polygons=polygons, texts=texts)
        context = self.rec_head.extract_context(roi_feats)
        seq_targets, valid = self.rec_head.encode_texts(texts)
        return GTRecognition(roi_feats=roi_feats, context=context,
                             targets=seq_targets.to(feat.device), valid=valid.to(feat.device),
                             num_per_img=num_per_img)

    # ---------------------------------------------------------------- inference
    def predict(self, inputs: Tensor, data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """Detect and read the words of a (pre-processed) batch.

        Returns:
            list[DetDataSample]: ``data_samples`` with ``pred_instances`` (class docstring),
            in the original frame with ``rescale`` (the samples' ``scale_factor``).
        """
        feats = self.extract_feat(inputs)
        maps = self.det_head(feats[0])
        results, _ = self._detect_and_read(feats[0], maps, data_samples)
        for sample, result in zip(data_samples, results):
            if rescale:
                sx, sy = (float(v) for v in sample.metainfo.get('scale_factor', (1., 1.)))
                result.polygons = [(p.reshape(-1, 2) / np.float32([sx, sy])).reshape(-1)
                                   for p in result.polygons]
                result.bboxes = result.bboxes / result.bboxes.new_tensor([sx, sy, sx, sy])
        if self.test_cfg['rec_on_gt']:
            self._read_gt_words(feats, data_samples)
        return self.add_pred_to_datasample(data_samples, results)

    def _detect(self, maps: MANGOMaps, data_samples: SampleList
                ) -> Tuple[List[InstanceData], List[Tensor]]:
        """Words of each image (input frame, no text yet) and the grid cells that hold them."""
        cfg = self.test_cfg
        results, kept_cells = [], []
        for b, sample in enumerate(data_samples):
            h, w = sample.metainfo.get('img_shape', self._input_shape(maps.mask_feats))[:2]
            scores = maps.cate_logits[b].detach().sigmoid()
            cells = torch.nonzero(scores >= cfg['cell_score_thr']).flatten()
            cells = cells[scores[cells].argsort(descending=True)[:cfg['nms_pre']]]
            img_inds = torch.full_like(cells, b)
            probs = self.det_head.instance_masks(maps.mask_feats, img_inds,
                                                 maps.ima_kernels[b, cells]).detach().sigmoid()
            masks = probs > cfg['mask_thr']
            areas = masks.flatten(1).sum(1).float()
            nonempty = areas > 0
            cells, probs, masks, areas = (cells[nonempty], probs[nonempty], masks[nonempty],
                                          areas[nonempty])
            # SOLOv2's maskness: the cell score times the mean probability inside its mask.
            cell_scores = scores[cells] * (probs * masks).flatten(1).sum(1) / areas.clamp(min=1)
            if len(cells) > 0:
                cell_scores, _, masks, keep = mask_matrix_nms(
                    masks, torch.zeros_like(cells), cell_scores, filter_thr=cfg['filter_thr'],
                    max_num=cfg['max_per_img'], kernel=cfg['nms_kernel'],
                    sigma=cfg['nms_sigma'], mask_area=areas)
                cells = cells[keep]
            above = cell_scores >= cfg['score_thr']
            cells, cell_scores, masks = cells[above], cell_scores[above], masks[above]
            polygons = [mask_polygon(m.cpu().numpy(), self.featmap_stride, (h, w))
                        for m in masks]
            result = InstanceData()
            result.polygons = polygons
            result.bboxes = torch.tensor(
                np.array([[p[0::2].min(), p[1::2].min(), p[0::2].max(), p[1::2].max()]
                          for p in polygons], np.float32).reshape(-1, 4),
                device=cell_scores.device)
            result.scores = cell_scores
            result.labels = torch.zeros(len(cells), dtype=torch.long, device=cell_scores.device)
            results.append(result)
            kept_cells.append(cells)
        return results, kept_cells

    def _detect_by_centreline(self, feat: Tensor, maps: MANGOMaps, data_samples: SampleList
                              ) -> Tuple[List[InstanceData], List[Tensor], List[np.ndarray],
                                         List[np.ndarray]]:
        """Words of each image from the centre-line branch (input frame, no text yet).

        Returns:
            tuple: The words, then per image the text cells over them (the ``nms_pre`` best
            above ``cell_score_thr``), the word each cell reads (index into the image's words)
            and the cell's vote weight (its score times the share of it the word covers).
        """
        cfg = self.test_cfg
        probs = self.centreline_head(feat).detach().sigmoid().cpu().numpy()
        results, all_cells, all_words, all_weights = [], [], [], []
        for b, sample in enumerate(data_samples):
            h, w = sample.metainfo.get('img_shape', self._input_shape(feat))[:2]
            found = centreline_words(probs[b], cfg['centreline_thr'],
                                     self.centreline_head.shrink_ratio, self.featmap_stride,
                                     (h, w), cfg['centreline_min_area'])
            scores = maps.cate_logits[b].detach().sigmoid()
            cells = torch.nonzero(scores >= cfg['cell_score_thr']).flatten()
            cells = cells[scores[cells].argsort(descending=True)[:cfg['nms_pre']]]
            word_of, overlap = group_cells(found.labels, cells.cpu().numpy(),
                                           self.det_head.num_grid)
            cell_scores = scores[cells].cpu().numpy()
            # A word is scored by its best cell; words without a cell are not reported.
            word_scores = np.zeros(len(found.polygons), np.float32)
            np.maximum.at(word_scores, word_of[word_of >= 0], cell_scores[word_of >= 0])
            kept = [k for k in np.argsort(-word_scores, kind='stable')
                    if word_scores[k] > 0 and word_scores[k] >= cfg['score_thr']]
            kept = kept[:cfg['max_per_img']]
            new_index = np.full(len(found.polygons) + 1, -1, np.int64)
            new_index[kept] = np.arange(len(kept))
            word_of = np.where(word_of >= 0, new_index[word_of], -1)
            reading = word_of >= 0
            polygons = [found.polygons[k] for k in kept]
            result = InstanceData()
            result.polygons = polygons
            result.bboxes = torch.tensor(
                np.array([[p[0::2].min(), p[1::2].min(), p[0::2].max(), p[1::2].max()]
                          for p in polygons], np.float32).reshape(-1, 4), device=feat.device)
            result.scores = torch.from_numpy(word_scores[kept].astype(np.float32)).to(
                feat.device)
            result.labels = torch.zeros(len(kept), dtype=torch.long, device=feat.device)
            results.append(result)
            all_cells.append(cells[torch.from_numpy(reading).to(cells.device)])
            all_words.append(word_of[reading])
            all_weights.append((overlap * cell_scores)[reading])
        return results, all_cells, all_words, all_weights

    def _cells_to_read(self, feat: Tensor, maps: MANGOMaps, data_samples: SampleList
                       ) -> Tuple[List[InstanceData], List[Tensor], Optional[list]]:
        """The words (no text yet), the cells to read per image, and, with the centre-line
        branch, each image's ``(word per cell, weight per cell)`` of the vote."""
        if self.test_cfg['instances'] == 'centreline':
            results, cells, words, weights = self._detect_by_centreline(feat, maps,
                                                                        data_samples)
            return results, cells, list(zip(words, weights))
        results, cells = self._detect(maps, data_samples)
        return results, cells, None

    def _detect_and_read(self, feat: Tensor, maps: MANGOMaps, data_samples: SampleList
                         ) -> Tuple[List[InstanceData], Tensor]:
        """The words with their texts (input frame), and the sequence features read."""
        results, cells, votes = self._cells_to_read(feat, maps, data_samples)
        img_inds, flat = cell_indices([len(c) for c in cells], cells, feat.device)
        roi_feats = self.det_head.sequence_features(feat, maps, img_inds, flat)
        texts: List[str] = []
        text_scores = roi_feats.new_zeros(0)
        if roi_feats.size(0) > 0:
            texts, text_scores = self.rec_head.predict(roi_feats)
        start = 0
        for b, result in enumerate(results):
            num = len(cells[b])
            cell_texts, cell_text_scores = texts[start:start + num], text_scores[start:start +
                                                                                   num]
            start += num
            if votes is None:
                result.texts = list(cell_texts)
                result.text_scores = cell_text_scores
                continue
            word_of, weights = votes[b]
            word_texts, word_text_scores = [], []
            for k in range(len(result)):
                mine = np.flatnonzero(word_of == k)
                word_texts.append(vote_text([cell_texts[i] for i in mine], weights[mine]))
                share = torch.from_numpy(weights[mine] / weights[mine].sum()).to(text_scores)
                word_text_scores.append((cell_text_scores[torch.from_numpy(mine).to(
                    text_scores.device)] * share).sum())
            result.texts = word_texts
            result.text_scores = (torch.stack(word_text_scores) if word_text_scores else
                                  text_scores.new_zeros(0))
        return results, roi_feats

    def _forward(self, inputs: Tensor, data_samples: Optional[SampleList] = None) -> tuple:
        """Tensor mode (FLOPs): the grid maps, the kept cells' sequence features and ``F_con``.

        The cell selection and Matrix NMS run as at test time (constants of a trace); decoding
        is left out, as MMDetection's analysis forward leaves out post-processing.
        """
        feats = self.extract_feat(inputs)
        maps = self.det_head(feats[0])
        if data_samples is None:
            shape = tuple(inputs.shape[-2:])
            data_samples = [InstanceData(metainfo=dict(img_shape=shape))] * inputs.size(0)
        _, cells, _ = self._cells_to_read(feats[0], maps, data_samples)
        img_inds, flat = cell_indices([len(c) for c in cells], cells, inputs.device)
        roi_feats = self.det_head.sequence_features(feats[0], maps, img_inds, flat)
        outputs = (maps.cate_logits, maps.mask_feats, roi_feats,
                   self.rec_head.extract_context(roi_feats))
        if self.centreline_head is not None:
            outputs += (self.centreline_head(feats[0]), )
        return outputs


def mask_polygon(mask: np.ndarray, stride: int, img_shape: Tuple[int, int]) -> np.ndarray:
    """The input-frame polygon of a binary feature-map mask: the minimum-area rectangle of its
    largest connected component's pixel squares, clipped to the image.

    Args:
        mask (np.ndarray): ``[H, W]`` bool, at least one pixel set.
        stride (int): Input pixels per feature pixel.
        img_shape (tuple[int, int]): ``(h, w)`` of the image inside the padded input.

    Returns:
        np.ndarray: Flat float32 ``[8]``, clockwise from the top-left corner.
    """
    num, components, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8),
                                                                 connectivity=8)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA])) if num > 1 else 0
    ys, xs = np.nonzero(components == largest)
    centres = np.stack([xs, ys], axis=1).astype(np.float32)
    corners = (centres[:, None] + np.float32([[-.5, -.5], [.5, -.5], [.5, .5], [-.5, .5]]))
    box = cv2.boxPoints(cv2.minAreaRect(corners.reshape(-1, 2)))
    box = feature_to_image(box, stride)
    box[:, 0] = np.clip(box[:, 0], 0, img_shape[1])
    box[:, 1] = np.clip(box[:, 1], 0, img_shape[0])
    # Clockwise in the image (y down) from the corner nearest the top left.
    centre = box.mean(0)
    box = box[np.argsort(np.arctan2(box[:, 1] - centre[1], box[:, 0] - centre[0]))]
    box = np.roll(box, -int(np.argmin(box.sum(1))), axis=0)
    return box.astype(np.float32).reshape(-1)
