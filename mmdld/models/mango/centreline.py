"""MANGO's optional centre-line branch: polygons of curved words, and cells grouped per word.

MANGO's grid cells say where words are and read them, but give no outline. For arbitrarily
shaped text the authors add a light segmentation branch over the stride-4 map, whose connected
regions are the words: each region gives a word's polygon, and the text cells that overlap a
region vote, weighted by their overlap, for its characters (DAVAR-Lab-OCR's MANGO
post-processing). Here the branch segments each word's *centre region*: its polygon shrunk
towards its centre line by the distance ``d = A (1 - r^2) / P`` (area ``A``, perimeter ``P``,
ratio ``r``; DBNet's shrink, so that touching words stay apart), and a region's polygon is
grown back by the distance that undoes it (:func:`grow_distance`).
The polygon offsets are MMOCR's (``offset_polygon``, pyclipper), at 1/16 pixel.
"""
from typing import List, NamedTuple, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule
from mmocr.utils import offset_polygon
from torch import Tensor

from mmdld.registry import MODELS
from .grid_targets import instance_mask_targets


#: MMOCR's ``offset_polygon`` rounds to whole units (pyclipper's integers): polygons are
#: offset in units of 1 / OFFSET_SCALE pixel.
OFFSET_SCALE = 16.


def offset(polygon: np.ndarray, distance: float) -> np.ndarray:
    """MMOCR's ``offset_polygon`` (grown for ``distance > 0``) to 1/16 pixel.

    Returns:
        np.ndarray: Flat float32 polygon, empty where the offset leaves nothing or splits it.
    """
    flat = np.asarray(polygon, np.float32).reshape(-1) * OFFSET_SCALE
    return offset_polygon(flat, distance * OFFSET_SCALE) / OFFSET_SCALE


def shrink_distance(polygon: np.ndarray, ratio: float) -> float:
    """DBNet's shrink distance ``A (1 - r^2) / P`` of a polygon (input pixels)."""
    points = np.asarray(polygon, np.float32).reshape(-1, 2)
    area = abs(cv2.contourArea(points))
    perimeter = cv2.arcLength(points, closed=True)
    return 0. if perimeter <= 0 else area * (1 - ratio**2) / perimeter


def grow_distance(area: float, perimeter: float, ratio: float) -> float:
    """The distance ``d`` that grows a centre region of area ``A'`` and perimeter ``P'`` back
    into the word it was shrunk from.

    For a rectangle ``w' x h'`` grown to ``w x h = (w' + 2d) x (h' + 2d)``, the shrink gave
    ``d = w h k / (2 (w + h))`` with ``k = 1 - r^2``; with ``w' + h' = P' / 2`` and
    ``w' h' = A'`` this is ``(8 - 4k) d^2 + (1 - k) P' d - k A' = 0``, whose positive root is
    returned. For a long word it tends to DBNet's ``A' k / (r^2 P')``; for a short one that
    would grow it too far.
    """
    k = 1 - ratio**2
    a, b, c = 8 - 4 * k, (1 - k) * perimeter, -k * area
    return float((-b + np.sqrt(b * b - 4 * a * c)) / (2 * a))


def shrink_polygon(polygon: np.ndarray, ratio: float) -> Optional[np.ndarray]:
    """The centre region of a word: ``polygon`` shrunk by :func:`shrink_distance`.

    Returns:
        np.ndarray | None: Flat float32 polygon, ``None`` where the shrink leaves nothing (a
        word too thin) or splits the polygon.
    """
    shrunk = offset(polygon, -shrink_distance(polygon, ratio))
    return shrunk if shrunk.size >= 6 else None


def centreline_targets(polygons: Sequence[np.ndarray], feat_shape: Tuple[int, int], stride: int,
                       ratio: float, ignored_polygons: Sequence[np.ndarray] = ()
                       ) -> Tuple[np.ndarray, np.ndarray]:
    """The branch's target of one image and the pixels it is trained on.

    Args:
        polygons (Sequence[np.ndarray]): Care words, input pixels.
        feat_shape (tuple[int, int]): ``(H, W)`` of the stride-``stride`` map.
        stride (int): Input pixels per map pixel.
        ratio (float): Shrink ratio ``r`` in ``(0, 1)``.
        ignored_polygons (Sequence[np.ndarray]): Don't-care words: their pixels get no loss.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``[H, W]`` float32 target (1 inside a care word's centre
        region; a word too thin to shrink keeps its whole mask, at least one pixel) and
        ``[H, W]`` bool, the pixels counted (all but the don't-care words' outside the care
        targets).
    """
    regions = [shrink_polygon(p, ratio) for p in polygons]
    regions = [p if r is None else r for p, r in zip(polygons, regions)]
    target = instance_mask_targets(regions, feat_shape, stride).any(0)
    counted = np.ones(feat_shape, bool)
    if len(ignored_polygons):
        counted &= ~instance_mask_targets(ignored_polygons, feat_shape, stride).any(0)
    counted |= target
    return target.astype(np.float32), counted


@MODELS.register_module()
class MANGOCentrelineHead(BaseModule):
    """A conv tower and a 1-channel logit map over the stride-4 features (module docstring).

    Args:
        in_channels (int): Channels of the feature map.
        feat_channels (int): Channels of the tower.
        num_convs (int): Convs of the tower. Defaults to 2.
        shrink_ratio (float): ``r`` of the centre regions. Defaults to 0.6: a long word's
            region is ``r^2 = 0.36`` of its height (DBNet's 0.4 would leave 0.16, under one
            stride-4 pixel for most words of the small benchmark).
        loss (dict): Loss of the logits against the targets. Defaults to a Dice loss.
        norm_cfg (dict): Norm of the tower. Defaults to GN with 8 groups.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 feat_channels: int,
                 num_convs: int = 2,
                 shrink_ratio: float = 0.6,
                 loss: ConfigType = dict(type='mmdet.DiceLoss', use_sigmoid=True,
                                         loss_weight=1.0),
                 norm_cfg: ConfigType = dict(type='GN', num_groups=8, requires_grad=True),
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not 0 < shrink_ratio < 1:
            raise ValueError(f'MANGOCentrelineHead: shrink_ratio must be in (0, 1), got '
                             f'{shrink_ratio!r}')
        self.shrink_ratio = float(shrink_ratio)
        self.convs = nn.Sequential(*[
            ConvModule(in_channels if i == 0 else feat_channels, feat_channels, 3, padding=1,
                       norm_cfg=norm_cfg) for i in range(num_convs)
        ])
        self.conv_logit = nn.Conv2d(feat_channels, 1, 1)
        self.loss_centreline = MODELS.build(loss)

    def forward(self, feat: Tensor) -> Tensor:
        """``[B, H, W]`` centre-region logits of ``feat`` ``[B, C, H, W]``."""
        return self.conv_logit(self.convs(feat))[:, 0]

    def loss(self, logits: Tensor, targets: Sequence[np.ndarray],
             counted: Sequence[np.ndarray]) -> Tensor:
        """The loss over each image's counted pixels (the don't-care words' are left out).

        A pixel left out is given a logit of -1e4 and a target of 0, so that it adds nothing to
        either sum of the Dice loss and passes no gradient.
        """
        target = torch.from_numpy(np.stack(targets)).to(logits)
        keep = torch.from_numpy(np.stack(counted)).to(logits.device)
        logits = logits.masked_fill(~keep, -1e4)
        return self.loss_centreline(logits.flatten(1), target.flatten(1))


class CentrelineWords(NamedTuple):
    """Words found by the branch in one image.

    Attributes:
        polygons (list[np.ndarray]): Flat float32 polygon per word, input frame.
        labels (np.ndarray): ``[H, W]`` int32, word ``k`` is label ``k + 1``, 0 background.
    """
    polygons: List[np.ndarray]
    labels: np.ndarray


def centreline_words(prob: np.ndarray, thr: float, ratio: float, stride: int,
                     img_shape: Tuple[int, int], min_area: int = 1) -> CentrelineWords:
    """The words of a centre-region probability map ``[H, W]``: its connected regions above
    ``thr`` with at least ``min_area`` pixels, each grown back into the word's polygon.

    A region's outline is traced on its pixel squares in input pixels, grown by
    :func:`grow_distance` (MMOCR's ``offset_polygon``), simplified to within half a stride
    (``cv2.approxPolyDP``) and clipped to ``img_shape`` ``(h, w)``.
    """
    num, components = cv2.connectedComponents((prob > thr).astype(np.uint8), connectivity=8)
    labels = np.zeros(prob.shape, np.int32)
    polygons: List[np.ndarray] = []
    for component in range(1, num):
        region = components == component
        if int(region.sum()) < min_area:
            continue
        upsampled = np.kron(region.astype(np.uint8), np.ones((stride, stride), np.uint8))
        contours, _ = cv2.findContours(upsampled, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        # (Pixel centres of the upsampled mask: half an input pixel inside its outline.)
        contour = max(contours, key=cv2.contourArea).reshape(-1, 2).astype(np.float32)
        if len(contour) < 3:
            continue
        area = abs(cv2.contourArea(contour))
        perimeter = cv2.arcLength(contour, closed=True)
        grown = offset(contour, grow_distance(area, perimeter, ratio))
        outline = grown.reshape(-1, 2) if grown.size >= 6 else contour
        outline = cv2.approxPolyDP(outline.astype(np.float32), stride / 2, True).reshape(-1, 2)
        if len(outline) < 3:
            continue
        outline[:, 0] = np.clip(outline[:, 0], 0, img_shape[1])
        outline[:, 1] = np.clip(outline[:, 1], 0, img_shape[0])
        polygons.append(outline.astype(np.float32).reshape(-1))
        labels[region] = len(polygons)
    return CentrelineWords(polygons, labels)


def group_cells(labels: np.ndarray, cells: np.ndarray, num_grid: int
                ) -> Tuple[np.ndarray, np.ndarray]:
    """The word each grid cell belongs to, and its weight.

    A cell ``i * S + j`` covers rows ``[i H / S, (i + 1) H / S)`` and the matching columns of
    the ``[H, W]`` label map; it belongs to the word covering most of its pixels, with the
    covered share of its pixels as weight (0 and word -1: no word under it).

    Returns:
        tuple[np.ndarray, np.ndarray]: ``[N]`` int64 word index, ``[N]`` float32 weight.
    """
    height, width = labels.shape
    words = np.full(len(cells), -1, np.int64)
    weights = np.zeros(len(cells), np.float32)
    for n, cell in enumerate(np.asarray(cells, np.int64)):
        i, j = divmod(int(cell), num_grid)
        rows = slice(int(i * height / num_grid), max(int((i + 1) * height / num_grid),
                                                     int(i * height / num_grid) + 1))
        cols = slice(int(j * width / num_grid), max(int((j + 1) * width / num_grid),
                                                    int(j * width / num_grid) + 1))
        patch = labels[rows, cols].reshape(-1)
        if patch.size == 0:
            continue
        counts = np.bincount(patch)
        counts[0] = 0
        if counts.max() > 0:
            words[n] = int(counts.argmax()) - 1
            weights[n] = counts.max() / patch.size
    return words, weights


def vote_text(texts: Sequence[str], weights: Sequence[float]) -> str:
    """The weighted per-position vote of several readings of one word.

    Each reading ends with an END mark; at each position the character (or END) of the
    largest total weight wins, and the word stops at the first position END wins; ties go to
    the first reading's character.
    """
    end = None  # END: not a character of any dictionary string
    voted = []
    for position in range(max((len(t) for t in texts), default=0) + 1):
        totals: dict = {}
        for text, weight in zip(texts, weights):
            char = text[position] if position < len(text) else end
            if position <= len(text):
                totals[char] = totals.get(char, 0.) + float(weight)
        if not totals:
            break
        best = max(totals.values())
        winner = next(c for c in totals if totals[c] == best)
        if winner is end:
            break
        voted.append(winner)
    return ''.join(voted)
