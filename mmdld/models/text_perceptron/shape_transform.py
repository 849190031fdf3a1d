"""Text Perceptron's Shape Transform Module: a thin-plate-spline warp of each text instance.

Text Perceptron (Qiao et al., AAAI 2020) rectifies every text instance, straight or curved,
into a fixed ``H_r x W_r`` feature grid for the recogniser: a thin-plate spline (TPS) maps the
instance's ``2K`` fiducial points (``K`` along the top side, left to right, then ``K`` along the
bottom side, left to right) onto ``K`` evenly spaced points on the top edge and ``K`` on the
bottom edge of the output, and every output pixel samples the feature map bilinearly where the
spline sends it.

Ours because MMOCR's ``TPStransform`` (``mmocr/models/textrecog/preprocessors``) places its
target points inside a margin with ``align_corners=True``, clamps the grid to the map and samples
one input per point set; here every instance of an image samples that image's map, with the
target points on the output's edges and the half-pixel convention below.

Coordinate conventions:

- Fiducial points are in the network's input image, in pixels, in the continuous frame where
  pixel ``(i, j)`` covers ``[j, j + 1) x [i, i + 1)`` (centre ``(j + 0.5, i + 0.5)``; the frame
  of MMCV's RoIAlign with ``aligned=True``). ``spatial_scale`` maps them onto the feature map
  (``x_f = spatial_scale * x``), and ``grid_sample`` with ``align_corners=False`` reads them as
  ``u = 2 x_f / W_f - 1`` (``-1`` and ``1`` are the outer edges of the map).
- The output's target points lie on its outer edges in the same convention: the top ones at
  ``(-1 + 2k / (K - 1), -1)`` for ``k = 0 .. K-1``, the bottom ones at ``y = +1``; output pixel
  ``(i, j)`` is the spline evaluated at its centre, ``(2 (j + 0.5) / W_r - 1,
  2 (i + 0.5) / H_r - 1)``. A rectangle's fiducial points thus crop exactly that rectangle:
  output pixel ``(i, j)`` samples ``(x0 + (j + 0.5) (x1 - x0) / W_r, y0 + (i + 0.5)
  (y1 - y0) / H_r)``, what a bilinear resize with ``align_corners=False`` samples.
- The spline is solved in output pixels scaled by the output height (``x`` in ``[0, W_r/H_r]``,
  ``y`` in ``[0, 1]``), not in ``[-1, 1]^2``: its radial basis measures distances, and only a
  frame with the output's aspect ratio bends the output isotropically. An affine map of the
  points (rectangle, parallelogram, rotated box) is reproduced exactly in either frame.

Since the target points and the output grid are fixed, the sampling grid is linear in the
fiducial points: ``grid = W @ points`` with ``W`` (``H_r W_r x 2K``) computed once
(:func:`tps_interpolation_weights`); a forward is one matrix product and one ``grid_sample`` per
image.
"""
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from mmdld.registry import MODELS


def _radial_basis(query: Tensor, control: Tensor) -> Tensor:
    """TPS kernel ``U(r) = r^2 log r^2`` between ``query`` [Q, 2] and ``control`` [N, 2]."""
    squared = ((query[:, None, :] - control[None, :, :])**2).sum(-1)
    # U(0) = 0 (the limit); clamping keeps the log finite where r = 0.
    return squared * torch.log(squared.clamp_min(torch.finfo(squared.dtype).tiny))


def tps_system_inverse(control: Tensor) -> Tensor:
    """Inverse of the ``(N + 3) x (N + 3)`` TPS system of the control points.

    The system ``[[U(C, C), 1, C], [1^T, 0, 0], [C^T, 0, 0]]`` yields, from the values ``V``
    at the control points (padded with three zero rows), the ``N`` radial weights and the three
    affine coefficients of the interpolating spline.

    Args:
        control (Tensor): [N, 2] control points (not all on one line), float64 advised.

    Returns:
        Tensor: [N + 3, N + 3], in ``control``'s dtype.
    """
    num = control.shape[0]
    system = control.new_zeros(num + 3, num + 3)
    system[:num, :num] = _radial_basis(control, control)
    system[:num, num] = 1
    system[num, :num] = 1
    system[:num, num + 1:] = control
    system[num + 1:, :num] = control.T
    return torch.linalg.inv(system)


def tps_interpolation_weights(query: Tensor, control: Tensor,
                              system_inverse: Optional[Tensor] = None) -> Tensor:
    """Linear weights of the TPS interpolant at ``query``: ``f(query) = weights @ V``.

    For any values ``V`` [N, D] given at the control points, the thin-plate spline through them
    evaluated at the query points is ``weights @ V``; at a control point the weights are that
    point's indicator.

    Args:
        query (Tensor): [Q, 2] points to evaluate the spline at.
        control (Tensor): [N, 2] control points.
        system_inverse (Tensor, optional): :func:`tps_system_inverse` of ``control``, if known.

    Returns:
        Tensor: [Q, N] weights.
    """
    if system_inverse is None:
        system_inverse = tps_system_inverse(control)
    num = control.shape[0]
    query_repr = torch.cat([_radial_basis(query, control), query.new_ones(query.shape[0], 1),
                            query], dim=1)
    # The last three rows of the right-hand side are zeros: only the first N columns count.
    return query_repr @ system_inverse[:, :num]


def edge_target_points(output_size: Tuple[int, int], num_points_per_side: int) -> Tensor:
    """The ``2K`` target points in output pixels: ``K`` on the top edge, ``K`` on the bottom.

    Args:
        output_size (tuple[int, int]): ``(H_r, W_r)``.
        num_points_per_side (int): ``K``.

    Returns:
        Tensor: [2K, 2] float64 ``(x, y)``, the top points left to right, then the bottom ones
        left to right; ``x`` from 0 to ``W_r`` (the outer edges), ``y`` 0 or ``H_r``.
    """
    height, width = output_size
    xs = torch.linspace(0, width, num_points_per_side, dtype=torch.float64)
    top = torch.stack([xs, torch.zeros_like(xs)], dim=1)
    bottom = torch.stack([xs, torch.full_like(xs, float(height))], dim=1)
    return torch.cat([top, bottom])


@MODELS.register_module()
class ShapeTransformModule(BaseModule):
    """Rectifies each text instance's region of a feature map with a thin-plate spline.

    See the module docstring for the coordinate conventions. The module has no parameters;
    its outputs are differentiable w.r.t. ``feats`` (and the points).

    Args:
        output_size (tuple[int, int]): ``(H_r, W_r)`` of each rectified instance.
        num_points_per_side (int): ``K``, fiducial points per side (at least 2).
        spatial_scale (float): Factor from input-image pixels to feature-map pixels (1/stride).
        init_cfg (dict, optional): MMEngine's initialisation config (nothing to initialise).

    Attributes:
        grid_weights (Tensor): [H_r W_r, 2K] weights of the fiducial points at each output pixel
            centre, row-major; the sampling grid is ``grid_weights @ points``. Non-persistent.
    """

    def __init__(self,
                 output_size: Tuple[int, int] = (8, 32),
                 num_points_per_side: int = 7,
                 spatial_scale: float = 0.25,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if len(output_size) != 2 or min(output_size) < 1:
            raise ValueError(f'ShapeTransformModule: `output_size` must be (H_r, W_r) of '
                             f'positive ints, got {output_size}')
        if num_points_per_side < 2:
            raise ValueError(f'ShapeTransformModule: `num_points_per_side` must be at least 2, '
                             f'got {num_points_per_side}')
        if not spatial_scale > 0:
            raise ValueError(f'ShapeTransformModule: `spatial_scale` must be positive, '
                             f'got {spatial_scale}')
        self.output_size = (int(output_size[0]), int(output_size[1]))
        self.num_points_per_side = int(num_points_per_side)
        self.spatial_scale = float(spatial_scale)

        height, width = self.output_size
        # Solved in float64: the radial terms reach (W_r / H_r)^2 log (...), the affine ones 1.
        control = edge_target_points(self.output_size, self.num_points_per_side) / height
        inverse = tps_system_inverse(control)
        rows, cols = torch.meshgrid(torch.arange(height, dtype=torch.float64) + 0.5,
                                    torch.arange(width, dtype=torch.float64) + 0.5,
                                    indexing='ij')
        centres = torch.stack([cols.reshape(-1), rows.reshape(-1)], dim=1) / height
        weights = tps_interpolation_weights(centres, control, inverse)
        # Derived from the configuration: not worth a checkpoint entry.
        self.register_buffer('grid_weights', weights.float(), persistent=False)

    def forward(self, feats: Tensor,
                batch_points: Sequence[Union[Tensor, np.ndarray]]) -> Tensor:
        """Rectified features of every instance, in image order.

        Args:
            feats (Tensor): [B, C, H, W] feature map (of stride ``1 / spatial_scale``).
            batch_points (Sequence[Tensor]): Per image, [n_i, 2K, 2] fiducial points ``(x, y)``
                in input-image pixels (see the module docstring); NumPy arrays are accepted.

        Returns:
            Tensor: [sum n_i, C, H_r, W_r] in ``feats``' dtype; with no instance at all an
            empty tensor that is still in ``feats``' graph.

        Raises:
            ValueError: If ``batch_points`` has not one entry per image, or an entry is not
                [n, 2K, 2].
        """
        num_images, channels, feat_h, feat_w = feats.shape
        out_h, out_w = self.output_size
        num_fiducial = 2 * self.num_points_per_side
        if len(batch_points) != num_images:
            raise ValueError(f'ShapeTransformModule: `batch_points` has {len(batch_points)} '
                             f'entries for a batch of {num_images} feature maps')
        # Grid and sampling in at least float32: bfloat16 rounds a normalised coordinate to
        # 1/512, a fifth of a pixel on a 200-pixel map, and its sums of 2K products worse.
        work_dtype = torch.promote_types(feats.dtype, torch.float32)
        points = []
        for index, image_points in enumerate(batch_points):
            image_points = torch.as_tensor(image_points, dtype=work_dtype, device=feats.device)
            if image_points.dim() != 3 or tuple(image_points.shape[1:]) != (num_fiducial, 2):
                raise ValueError(
                    f'ShapeTransformModule: the fiducial points of image {index} have shape '
                    f'{tuple(image_points.shape)}; expected (n, {num_fiducial}, 2) '
                    f'({self.num_points_per_side} per side)')
            points.append(image_points)
        counts = [int(image_points.shape[0]) for image_points in points]
        if sum(counts) == 0:
            # A slice of the map keeps the (empty) result in its graph.
            return feats[:0, :, :1, :1].expand(0, channels, out_h, out_w)

        # Input-image pixels -> the map's normalised coordinates (align_corners=False).
        to_unit = points[0].new_tensor([2 * self.spatial_scale / feat_w,
                                        2 * self.spatial_scale / feat_h])
        normalised = torch.cat(points) * to_unit - 1
        with torch.autocast(feats.device.type, enabled=False):
            # linear(x [N, 2, 2K], W [HW, 2K]): N x 2 x 2K x HW multiply-adds, as counted.
            grids = F.linear(normalised.transpose(1, 2), self.grid_weights.to(work_dtype))
        grids = grids.transpose(1, 2).reshape(-1, out_h, out_w, 2)

        crops = []
        start = 0
        work_feats = feats.to(work_dtype)
        for index, count in enumerate(counts):
            if count == 0:
                continue
            # An image's instances stacked along the grid's height: one sampling call each.
            grid = grids[start:start + count].reshape(1, count * out_h, out_w, 2)
            sampled = F.grid_sample(work_feats[index:index + 1], grid, mode='bilinear',
                                    padding_mode='zeros', align_corners=False)
            crops.append(sampled.reshape(channels, count, out_h, out_w).transpose(0, 1))
            start += count
        return torch.cat(crops).to(feats.dtype)
