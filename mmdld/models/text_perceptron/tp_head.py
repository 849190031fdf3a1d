"""Text Perceptron's detection head: order-aware segmentation and boundary-offset regression.

On the stride-4 feature map, a few 3x3 convolutions feed two 1x1 convolutions: 5-class logits
(background, centre, head, tail, top/bottom boundary; ``tp_targets``) and
``NUM_REG_CHANNELS`` boundary offsets in feature pixels. ``predict`` turns the maps into
fiducial points with ``tp_points``.

Losses:

- segmentation: ``dice_weight`` times the Dice loss (the paper's and DAVAR-Lab-OCR's choice)
  plus ``ce_weight`` times the pixel-mean cross-entropy of the 5-way softmax. The Dice loss
  (:func:`softmax_dice_loss`) normalises each foreground class by its own size, so that the
  small head/tail regions, without which the point generation drops a word, weigh as much as
  the centre without tuned class weights or hard-negative mining. Alone it stalls: its gradient
  through the softmax vanishes where the head is confidently wrong (a tail region learnt as
  centre stayed so on an overfitted image), which the cross-entropy's log does not let happen.
  A smoothing term keeps a Dice gradient on a class absent from the batch (a text-free batch).
  Ours because MMOCR's ``MaskedDiceLoss`` is a binary loss without a loss weight or smoothing
  term.
- regression: ``loss_reg`` (MMDetection's smooth-L1 by default) weighted by ``reg_weight`` and
  averaged over the pixels that have any target (each pixel's 4 target channels summed); zero,
  still in the graph, when the batch has none.
"""
import copy
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmdet.utils import OptConfigType, OptMultiConfig
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from torch import Tensor

from mmdld.registry import MODELS
from mmdld.models.utils.text_geometry import PolygonLike, feature_to_image
from .tp_points import generate_fiducial_points
from .tp_targets import NUM_REG_CHANNELS, NUM_SEG_CLASSES, text_perceptron_targets

_DEFAULT_LOSS_SEG = dict(dice_weight=1.0, ce_weight=1.0, smooth=1.0)
_DEFAULT_LOSS_REG = dict(type='mmdet.SmoothL1Loss', beta=1.0, loss_weight=1.0)
_DEFAULT_TEST_CFG = dict(centre_thr=0.5, end_thr=0.5, min_centre_area=2, bin_ratio=0.5)


def softmax_dice_loss(seg_logits: Tensor, seg_targets: Tensor, smooth: float = 1.0) -> Tensor:
    """Mean over the foreground classes of the batch-level Dice loss of the softmax.

    ``1 - (2 sum(p_c t_c) + smooth) / (sum(p_c) + sum(t_c) + smooth)`` for every class
    ``c >= 1``, sums over the batch and the pixels.

    Args:
        seg_logits (Tensor): ``[B, C, H, W]``.
        seg_targets (Tensor): ``[B, H, W]`` int64 labels in ``[0, C)``.
        smooth (float): Added to both terms of the ratio. Defaults to 1.0.

    Returns:
        Tensor: A scalar.
    """
    probs = seg_logits.float().softmax(dim=1)[:, 1:]
    one_hot = F.one_hot(seg_targets, seg_logits.size(1)).permute(0, 3, 1, 2)[:, 1:].float()
    overlap = (probs * one_hot).sum(dim=(0, 2, 3))
    total = probs.sum(dim=(0, 2, 3)) + one_hot.sum(dim=(0, 2, 3))
    return (1.0 - (2.0 * overlap + smooth) / (total + smooth)).mean()


@MODELS.register_module()
class TextPerceptronHead(BaseModule):
    """Text Perceptron's detector head on one feature map.

    Args:
        in_channels (int): Channels of the input feature map.
        feat_channels (int): Channels of the 3x3 convolutions. Defaults to 64.
        num_convs (int): Number of 3x3 convolutions (ConvModule: conv, norm, ReLU).
            Defaults to 2.
        num_points_per_side (int): ``K``, fiducial points per side. Defaults to 7.
        loss_seg (dict, optional): ``dice_weight``, ``ce_weight`` (the weights of the Dice and
            the cross-entropy term) and ``smooth`` (of :func:`softmax_dice_loss`). Defaults to
            ``dict(dice_weight=1.0, ce_weight=1.0, smooth=1.0)``.
        loss_reg (dict, optional): A registry loss taking ``(pred, target, weight,
            avg_factor)``. Defaults to ``mmdet.SmoothL1Loss`` with ``beta=1.0`` (one feature
            pixel) and ``loss_weight=1.0``.
        conv_cfg (dict, optional): Conv config of the 3x3 convolutions. Defaults to None.
        norm_cfg (dict, optional): Norm config of the 3x3 convolutions; None (the default)
            gives biased convolutions without normalisation.
        train_cfg (dict, optional): Keyword arguments of :func:`text_perceptron_targets`
            (``head_ratio``, ``boundary_ratio``, ``min_end_width``). Defaults to theirs.
        test_cfg (dict, optional): Keyword arguments of :func:`generate_fiducial_points`
            (``centre_thr``, ``end_thr``, ``min_centre_area``, ``bin_ratio``).
            Defaults to 0.5, 0.5, 2 and 0.5.
        init_cfg (dict or list[dict], optional): Initialisation config. With None (the
            default) the 3x3 convolutions get ConvModule's Kaiming init and the two output
            convolutions a normal init of std 0.01 with zero bias, so that training starts
            from near-uniform classes and near-zero offsets.
    """

    def __init__(self,
                 in_channels: int,
                 feat_channels: int = 64,
                 num_convs: int = 2,
                 num_points_per_side: int = 7,
                 loss_seg: OptConfigType = None,
                 loss_reg: OptConfigType = None,
                 conv_cfg: OptConfigType = None,
                 norm_cfg: OptConfigType = None,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_points_per_side < 2:
            raise ValueError(f'TextPerceptronHead: num_points_per_side must be >= 2, '
                             f'got {num_points_per_side}')
        self.num_points_per_side = num_points_per_side
        convs = []
        for i in range(num_convs):
            convs.append(
                ConvModule(in_channels if i == 0 else feat_channels, feat_channels, 3,
                           padding=1, conv_cfg=conv_cfg, norm_cfg=norm_cfg))
        self.convs = nn.Sequential(*convs)
        tower_channels = feat_channels if num_convs > 0 else in_channels
        self.conv_seg = nn.Conv2d(tower_channels, NUM_SEG_CLASSES, 1)
        self.conv_reg = nn.Conv2d(tower_channels, NUM_REG_CHANNELS, 1)
        for conv in (self.conv_seg, self.conv_reg):
            nn.init.normal_(conv.weight, std=0.01)
            nn.init.zeros_(conv.bias)

        loss_seg = dict(_DEFAULT_LOSS_SEG, **(loss_seg or {}))
        unknown = set(loss_seg) - set(_DEFAULT_LOSS_SEG)
        if unknown:
            raise ValueError(f'TextPerceptronHead: loss_seg takes {sorted(_DEFAULT_LOSS_SEG)}, '
                             f'got unknown {sorted(unknown)}')
        self.loss_seg_cfg = loss_seg
        self.loss_reg = MODELS.build(copy.deepcopy(loss_reg or _DEFAULT_LOSS_REG))
        self.train_cfg = dict(train_cfg or {})
        self.test_cfg = dict(_DEFAULT_TEST_CFG, **(test_cfg or {}))

    def forward(self, feat: Tensor) -> Tuple[Tensor, Tensor]:
        """Segmentation logits ``[B, 5, H, W]`` and offsets ``[B, NUM_REG_CHANNELS, H, W]``."""
        x = self.convs(feat)
        return self.conv_seg(x), self.conv_reg(x)

    def targets(self, batch_polygons: Sequence[Sequence[PolygonLike]],
                feat_shape: Tuple[int, int], stride: int,
                device: torch.device) -> Dict[str, Tensor]:
        """The batch's ``seg`` ``[B, H, W]``, ``reg`` and ``reg_weight`` ``[B, R, H, W]``."""
        per_image = [
            text_perceptron_targets(polygons, feat_shape, stride, **self.train_cfg)
            for polygons in batch_polygons
        ]
        return {
            key: torch.from_numpy(np.stack([t[key] for t in per_image])).to(device)
            for key in ('seg', 'reg', 'reg_weight')
        }

    def loss(self, seg_logits: Tensor, reg: Tensor,
             batch_polygons: Sequence[Sequence[PolygonLike]], stride: int) -> Dict[str, Tensor]:
        """Segmentation and regression losses against the GT polygons.

        Args:
            seg_logits (Tensor): ``[B, 5, H, W]`` from :meth:`forward`.
            reg (Tensor): ``[B, NUM_REG_CHANNELS, H, W]`` from :meth:`forward`.
            batch_polygons (Sequence[Sequence[array-like]]): Per image, its GT polygons in
                input-image pixels (an image may have none).
            stride (int): Input-image pixels per feature pixel.

        Returns:
            dict[str, Tensor]: ``loss_tp_seg`` and ``loss_tp_reg``.
        """
        if len(batch_polygons) != seg_logits.size(0):
            raise ValueError(f'TextPerceptronHead.loss: {len(batch_polygons)} polygon lists for '
                             f'a batch of {seg_logits.size(0)} images')
        targets = self.targets(batch_polygons, seg_logits.shape[-2:], stride, seg_logits.device)
        cfg = self.loss_seg_cfg
        loss_seg = (cfg['dice_weight'] * softmax_dice_loss(seg_logits, targets['seg'],
                                                           smooth=cfg['smooth'])
                    + cfg['ce_weight'] * F.cross_entropy(seg_logits.float(), targets['seg']))
        num_weighted = (targets['reg_weight'] > 0).any(dim=1).sum().item()
        loss_reg = self.loss_reg(
            reg.float(),
            targets['reg'],
            weight=targets['reg_weight'],
            avg_factor=float(max(num_weighted, 1)))
        return dict(loss_tp_seg=loss_seg, loss_tp_reg=loss_reg)

    def predict(self, seg_logits: Tensor, reg: Tensor, stride: int,
                **test_cfg) -> List[InstanceData]:
        """Detected instances of every image, in input-image pixels.

        Args:
            seg_logits (Tensor): ``[B, 5, H, W]``.
            reg (Tensor): ``[B, NUM_REG_CHANNELS, H, W]``.
            stride (int): Input-image pixels per feature pixel.
            **test_cfg: Overrides of the head's ``test_cfg`` (thresholds of
                :func:`generate_fiducial_points`).

        Returns:
            list[InstanceData]: Per image, ``fiducial_points`` ``[n, 2K, 2]`` float32,
            ``polygons`` (n flat float32 arrays ``[4K]``: the top points, then the bottom points
            reversed), ``scores`` ``[n]`` and ``bboxes`` ``[n, 4]`` (x1, y1, x2, y2) of the
            fiducial points; tensors on the logits' device.
        """
        cfg = dict(self.test_cfg, **test_cfg)
        probs = seg_logits.detach().float().softmax(dim=1).cpu().numpy()
        offsets = reg.detach().float().cpu().numpy()
        results = []
        for image_probs, image_offsets in zip(probs, offsets):
            points, scores = generate_fiducial_points(image_probs, image_offsets,
                                                      self.num_points_per_side, **cfg)
            points = feature_to_image(points, stride).astype(np.float32)
            k = self.num_points_per_side
            instances = InstanceData()
            instances.fiducial_points = torch.from_numpy(points).to(seg_logits.device)
            instances.polygons = [
                np.concatenate([p[:k], p[k:][::-1]]).reshape(-1) for p in points
            ]
            instances.scores = torch.from_numpy(scores).to(seg_logits.device)
            boxes = np.concatenate([points.min(axis=1), points.max(axis=1)], axis=1) \
                if len(points) else np.zeros((0, 4), np.float32)
            instances.bboxes = torch.from_numpy(boxes.astype(np.float32)).to(seg_logits.device)
            results.append(instances)
        return results
