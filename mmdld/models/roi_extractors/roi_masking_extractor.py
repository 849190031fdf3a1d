"""RoI-Masking feature extraction for the recognition branch (paper §3.2)."""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.ops import RoIAlign
from mmdet.models.roi_heads.roi_extractors import BaseRoIExtractor
from mmdet.utils import ConfigType, OptMultiConfig
from torch import Tensor

from mmdld.registry import MODELS
from .separable_roi_align import separable_roi_align


@MODELS.register_module()
class RoIMaskingExtractor(BaseRoIExtractor):
    """Crop one feature level with RoIAlign, multiply by the instance mask, resize.

    This is the RoI-Masking of Mask TextSpotter v3 that the paper's recognition branch uses:
    the feature of a text instance is cropped from the stride-4 FPN level with RoIAlign, the
    background inside the box is suppressed by multiplying with the instance's (soft or binary)
    mask, and the result is resized to the recogniser's fixed ``output_size`` (``F_roi``,
    8 x 32 in the paper). It reuses ``BaseRoIExtractor`` for building mmcv's ``RoIAlign``
    layers; on CPU without autograd their crops are computed by :func:`separable_roi_align`
    (same values; speed in ``docs/benchmarks.md``).

    Ours because mmdet's ``SingleRoIExtractor`` masks nothing, has no vertical text handling and
    picks the level by RoI scale.

    Sampling happens at ``roi_layer.output_size`` (the intermediate grid, e.g. 16 x 64) so that
    the mask, resized to that grid, cuts the feature at a finer resolution than ``output_size``;
    the masked grid is then resized bilinearly to ``output_size``. With an intermediate grid of
    exactly twice ``output_size`` the final resize is a 2 x 2 average, so an output cell is
    exactly zero whenever its four grid cells are masked out.

    Vertical text: a RoI whose height exceeds ``vertical_ratio`` times its width is sampled on the
    transposed grid (e.g. 64 x 16, keeping its aspect) and the masked grid is rotated by 90
    degrees counter-clockwise (``torch.rot90(x, k=1, dims=(2, 3))``): the RoI's top edge becomes
    the output's left edge and its left edge becomes the bottom. Characters stacked from top to
    bottom therefore run left to right along the output width, and a word rotated by 90 degrees
    clockwise comes out upright.

    Degenerate RoIs (non-finite coordinates, zero or negative width/height, boxes entirely
    outside the feature map) are not sent to RoIAlign; their output is all zeros.

    Args:
        roi_layer (dict): mmcv RoI layer config; its ``output_size`` is the intermediate
            (height, width) sampling grid. Defaults to RoIAlign on a 16 x 64 grid.
        out_channels (int): Channels of the feature level. Defaults to 256.
        featmap_strides (list[int]): Must hold exactly one stride, that of the level to crop
            from (``feats[0]``). Defaults to ``[4]``.
        output_size (tuple[int, int]): (H_r, W_r) of ``F_roi``. Defaults to (8, 32).
        vertical_ratio (float): A RoI with ``h > vertical_ratio * w`` is treated as vertical.
            Defaults to 1.5.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 roi_layer: ConfigType = dict(
                     type='RoIAlign', output_size=(16, 64), sampling_ratio=0,
                     aligned=True),
                 out_channels: int = 256,
                 featmap_strides: List[int] = [4],
                 output_size: Sequence[int] = (8, 32),
                 vertical_ratio: float = 1.5,
                 init_cfg: OptMultiConfig = None) -> None:
        if len(featmap_strides) != 1:
            raise ValueError(
                'RoIMaskingExtractor crops a single feature level; '
                f'featmap_strides must hold one stride, got {featmap_strides}')
        grid = _pair(roi_layer.get('output_size'), 'roi_layer.output_size')
        self.output_size = _pair(output_size, 'output_size')
        if vertical_ratio <= 0:
            raise ValueError(f'vertical_ratio must be > 0, got {vertical_ratio}')
        super().__init__(
            roi_layer=roi_layer,
            out_channels=out_channels,
            featmap_strides=featmap_strides,
            init_cfg=init_cfg)
        self.grid_size = grid
        self.vertical_ratio = float(vertical_ratio)
        # Vertical RoIs are sampled on the transposed grid so that a tall box is not squashed
        # into a wide grid before rotation.
        vertical_cfg = dict(roi_layer)
        vertical_cfg['output_size'] = (grid[1], grid[0])
        self.vertical_roi_layers = self.build_roi_layers(vertical_cfg, featmap_strides)

    def forward(self,
                feats: Tuple[Tensor],
                rois: Tensor,
                roi_masks: Optional[Tensor] = None,
                roi_scale_factor: Optional[float] = None) -> Tensor:
        """Extract masked, fixed-size recognition features.

        Args:
            feats (tuple[Tensor]): Feature levels; only ``feats[0]`` (B, C, H, W) is used.
            rois (Tensor): (N, 5) rows ``(batch_idx, x1, y1, x2, y2)`` in input-image pixels.
            roi_masks (Tensor, optional): (N, h, w) RoI-local masks of any size, soft or binary,
                covering each RoI's box (e.g. GT masks cropped with ``crop_and_resize`` or the
                mask head's 28 x 28 probabilities). None means no masking.
            roi_scale_factor (float, optional): Enlarge/shrink the RoIs around their centres
                before cropping (as in mmdet's extractors). Defaults to None.

        Returns:
            Tensor: (N, C, H_r, W_r) ``F_roi``; zeros for degenerate RoIs.
        """
        feat = feats[0]
        num_rois = rois.size(0)
        out_h, out_w = self.output_size
        out = feat.new_zeros(num_rois, feat.size(1), out_h, out_w)
        if rois.dim() != 2 or rois.size(1) != 5:
            raise ValueError(f'rois must have shape (N, 5), got {tuple(rois.shape)}')
        if roi_masks is not None and (roi_masks.dim() != 3
                                      or roi_masks.size(0) != num_rois):
            raise ValueError(
                f'roi_masks must have shape (N={num_rois}, h, w), got '
                f'{tuple(roi_masks.shape)}')
        if num_rois == 0:
            return out
        # Box coordinates stay in (at least) float32 when the features are half precision.
        rois = rois.to(torch.promote_types(feat.dtype, torch.float32))
        if roi_scale_factor is not None:
            rois = self.roi_rescale(rois, roi_scale_factor)
        valid = self._valid_rois(rois, feat)
        widths = rois[:, 3] - rois[:, 1]
        heights = rois[:, 4] - rois[:, 2]
        vertical = heights > self.vertical_ratio * widths
        for is_vertical, layers in ((False, self.roi_layers),
                                    (True, self.vertical_roi_layers)):
            # `vertical if ... else ~vertical` rather than `vertical == is_vertical`: the FLOP
            # tracer cannot compare a tensor with a Python bool.
            inds = torch.nonzero(valid & (vertical if is_vertical else ~vertical)).squeeze(1)
            if inds.numel() == 0:
                continue
            pooled = self._roi_align(layers[0], feat, rois[inds])
            if roi_masks is not None:
                masks = roi_masks[inds].to(rois.dtype)
                masks = F.interpolate(
                    masks[:, None], size=pooled.shape[-2:], mode='bilinear',
                    align_corners=False).to(pooled.dtype)
                if pooled.requires_grad or masks.requires_grad:
                    pooled = pooled * masks
                else:
                    # No autograd graph (inference, the DLD scale passes): in place, pooled
                    # is this call's own buffer.
                    pooled.mul_(masks)
            if is_vertical:
                pooled = torch.rot90(pooled, k=1, dims=(2, 3))
            if tuple(pooled.shape[-2:]) != (out_h, out_w):
                pooled = F.interpolate(
                    pooled, size=(out_h, out_w), mode='bilinear', align_corners=False)
            if out.dtype != pooled.dtype:
                # The crop ran in autocast's low precision: so does the output.
                out = out.to(pooled.dtype)
            out[inds] = pooled
        return out

    @staticmethod
    def _roi_align(layer: nn.Module, feat: Tensor, rois: Tensor) -> Tensor:
        """``layer(feat, rois)``; on CPU, a channels-last result.

        On CPU without autograd (inference, the DLD scale passes, the teacher), MMCV's average
        ``RoIAlign`` runs as :func:`separable_roi_align`: the same values (to float32
        rounding) from two batched matrix products instead of MMCV's scalar kernel, in the
        features' dtype. With autograd, on other devices and under FLOP tracing (which counts
        MMCV's op as the model's cost), MMCV's op runs.
        """
        if (feat.device.type == 'cpu' and not torch.jit.is_tracing()
                and not (torch.is_grad_enabled() and feat.requires_grad)
                and isinstance(layer, RoIAlign) and layer.pool_mode == 'avg'
                and not layer.use_torchvision):
            return separable_roi_align(feat, rois, layer.output_size, layer.spatial_scale,
                                       layer.sampling_ratio, layer.aligned)
        # MMCV's kernel indexes raw memory: a non-contiguous view (e.g. expand()) would be
        # read as garbage.
        pooled = layer(feat.contiguous(), rois.to(feat.dtype))
        if pooled.device.type == 'cpu':
            # PyTorch's CPU bilinear resize first copies an NCHW map to channels-last, which
            # cost more than the resize itself; on a channels-last map (which the mask product
            # keeps) it skips that copy. Results and gradients are bit-identical.
            pooled = pooled.contiguous(memory_format=torch.channels_last)
        return pooled

    def _valid_rois(self, rois: Tensor, feat: Tensor) -> Tensor:
        """Boolean (N,) mask of RoIs that RoIAlign can sample meaningfully.

        Raises:
            ValueError: If a batch index does not name an image of ``feat``; that is a
                caller bug rather than a degenerate box.
        """
        batch_idx = rois[:, 0]
        finite = torch.isfinite(rois).all(dim=1)
        bad_batch = finite & ((batch_idx < 0) | (batch_idx >= feat.size(0))
                              | (batch_idx != batch_idx.round()))
        if bad_batch.any():
            raise ValueError(
                f'rois hold batch indices {batch_idx[bad_batch].tolist()} but the features '
                f'have {feat.size(0)} images')
        stride = self.featmap_strides[0]
        img_h, img_w = feat.size(2) * stride, feat.size(3) * stride
        x1, y1, x2, y2 = rois[:, 1], rois[:, 2], rois[:, 3], rois[:, 4]
        # NaN compares False everywhere, so `finite` must gate the geometric tests.
        return (finite & (x2 > x1) & (y2 > y1) & (x2 > 0) & (y2 > 0) & (x1 < img_w)
                & (y1 < img_h))


def _pair(size, key: str) -> Tuple[int, int]:
    """(height, width) from an int or a 2-sequence, with an error naming the config key."""
    if isinstance(size, int):
        size = (size, size)
    if not isinstance(size, Sequence) or len(size) != 2 or min(size) <= 0:
        raise ValueError(f'{key} must be a positive int or (height, width), got {size!r}')
    return int(size[0]), int(size[1])
