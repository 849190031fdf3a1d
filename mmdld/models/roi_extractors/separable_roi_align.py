"""MMCV's RoIAlign (average mode) as two batched matrix products, for CPU without autograd.

Ours because MMCV's CPU ``roi_align`` kernel is scalar code over RoIs, channels, bins and samples.

In average mode, RoIAlign is separable: a sample's bilinear weight is a product of a row weight
and a column weight, its validity test (inside ``[-1, H] x [-1, W]``) is a product of a row test
and a column test, and a bin averages over a grid of rows times a grid of columns. So each RoI's
output is ``A_y @ F @ A_x^T`` per channel, where ``A_y`` (``out_h x rows``) holds the averaged
row weights and ``A_x`` (``out_w x cols``) the column weights over the window of rows and
columns that the RoI touches. For a group of RoIs this is one gather of their windows, padded to
the group's largest, and two batched matrix products (speed against MMCV's kernel: "RoI-Masking
crops" in ``docs/benchmarks.md``). RoIs are grouped by window size, and a group's padded windows
are kept under ``max_window_elements``, so that one large RoI does not pad every other RoI's
window to its size. The sample positions follow MMCV's
float32 arithmetic step by step; outputs agree with MMCV's to float32 rounding (the sums run in
another order).
"""
from typing import List, NamedTuple, Tuple

import torch
from torch import Tensor

#: Default bound on the elements of one group's gathered windows (64 MB in float32).
MAX_WINDOW_ELEMENTS = 1 << 24


def separable_roi_align(feat: Tensor,
                        rois: Tensor,
                        output_size: Tuple[int, int],
                        spatial_scale: float,
                        sampling_ratio: int,
                        aligned: bool,
                        max_window_elements: int = MAX_WINDOW_ELEMENTS) -> Tensor:
    """``mmcv.ops.roi_align(..., pool_mode='avg')`` computed as batched matrix products.

    Args:
        feat (Tensor): (B, C, H, W) features, any memory layout (channels-last reads fastest).
        rois (Tensor): (R, 5) finite rows ``(batch_idx, x1, y1, x2, y2)``, ``x2 >= x1`` and
            ``y2 >= y1``, in the coordinates that ``spatial_scale`` maps onto ``feat``.
        output_size (tuple[int, int]): (out_h, out_w) bins.
        spatial_scale (float): Factor from RoI coordinates to feature coordinates.
        sampling_ratio (int): Samples per bin along each axis; 0 or less: ``ceil`` of the bin
            size, per RoI, as MMCV does.
        aligned (bool): Shift the RoI by -0.5 feature pixels (MMCV's ``aligned=True``).
        max_window_elements (int): Bound on the gathered (padded) windows of one group of
            RoIs; a single RoI above it forms a group of its own.

    Returns:
        Tensor: (R, C, out_h, out_w), in channels-last memory layout, in ``feat``'s dtype (or
        autocast's).
    """
    out_h, out_w = output_size
    num_rois, channels = rois.size(0), feat.size(1)
    height, width = feat.shape[-2:]
    if num_rois == 0:
        return feat.new_zeros(0, channels, out_h, out_w)
    # Coordinates and weights in at least float32 (bfloat16 would round a coordinate of 300
    # to a multiple of 2); the products run in the features' dtype.
    rois = rois.to(torch.promote_types(feat.dtype, torch.float32))
    offset = 0.5 if aligned else 0.0
    start_x = rois[:, 1] * spatial_scale - offset
    start_y = rois[:, 2] * spatial_scale - offset
    size_x = rois[:, 3] * spatial_scale - offset - start_x
    size_y = rois[:, 4] * spatial_scale - offset - start_y
    if not aligned:
        size_x, size_y = size_x.clamp(min=1.), size_y.clamp(min=1.)
    rows = _axis_samples(start_y, size_y, out_h, height, sampling_ratio)
    cols = _axis_samples(start_x, size_x, out_w, width, sampling_ratio)
    batch_index = rois[:, 0].long()
    # The (B, H, W, C) view: a window row of a channels-last map is one contiguous block.
    feat_hwc = feat.permute(0, 2, 3, 1)
    order, groups = _groups_by_window(rows.span, cols.span, channels, max_window_elements)
    if len(groups) == 1:
        # The usual case: one group, in the RoIs' own order (no copy of the output).
        out = _crop(feat_hwc, batch_index, rows, cols, out_h, out_w)
    else:
        out = None
        for group in groups:
            idx = order[group]
            piece = _crop(feat_hwc, batch_index[idx], rows.select(idx), cols.select(idx),
                          out_h, out_w)
            if out is None:
                out = piece.new_empty((num_rois, ) + piece.shape[1:])
            out.index_copy_(0, idx, piece)
    # (R, out_h, out_w, C) -> (R, C, out_h, out_w), a channels-last view.
    return out.permute(0, 3, 1, 2)


class _AxisSamples(NamedTuple):
    """MMCV's bilinear samples of each RoI along one axis (shapes (R, bins, grid) unless noted).

    ``low``/``high``: the two neighbouring indices of each sample; ``w_low``/``w_high``: their
    weights, already divided by the samples per bin and zero for unused samples (outside the
    map, or beyond the RoI's own grid); ``first`` (R,): the lowest index a used sample reads;
    ``span`` (R,): how many indices from ``first`` its samples read (at least 1).
    """
    low: Tensor
    high: Tensor
    w_low: Tensor
    w_high: Tensor
    first: Tensor
    span: Tensor

    def select(self, idx: Tensor) -> '_AxisSamples':
        return _AxisSamples(*(t.index_select(0, idx) for t in self))


def _axis_samples(start: Tensor, size: Tensor, bins: int, length: int,
                  sampling_ratio: int) -> _AxisSamples:
    """One axis of MMCV's ``pre_calc_for_bilinear_interpolate``, for all RoIs at once.

    Args:
        start (Tensor): (R,) RoI start on this axis, in feature pixels.
        size (Tensor): (R,) RoI extent on this axis.
        bins (int): Output bins on this axis.
        length (int): Feature map extent on this axis.
        sampling_ratio (int): As in :func:`separable_roi_align`.
    """
    bin_size = size / bins
    if sampling_ratio > 0:
        grid = torch.full_like(size, float(sampling_ratio))
    else:
        grid = torch.ceil(size / bins)
    max_grid = max(int(grid.max().item()), 1)
    # A zero-size RoI has no sample (grid 0); dividing by 1 keeps its unused positions finite.
    divisor = grid.clamp(min=1.)[:, None, None]
    bin_index = torch.arange(bins, device=start.device, dtype=start.dtype)[None, :, None]
    sample = torch.arange(max_grid, device=start.device, dtype=start.dtype)[None, None, :]
    bin_size = bin_size[:, None, None]
    # MMCV: start + bin * bin_size + (sample + .5) * bin_size / grid, in this order.
    pos = (start[:, None, None] + bin_index * bin_size) + (sample + 0.5) * bin_size / divisor
    used = (sample < grid[:, None, None]) & (pos >= -1.0) & (pos <= length)
    pos = pos.clamp(min=0.)
    low = pos.long()  # pos >= 0: truncation is floor, as MMCV's (int) cast.
    at_end = low >= length - 1
    low = low.clamp(max=length - 1)
    high = torch.where(at_end, low, low + 1)
    frac = torch.where(at_end, torch.zeros_like(pos), pos - low.to(pos.dtype))
    share = used.to(pos.dtype) / divisor
    num_rois = start.size(0)
    first = torch.where(used, low, torch.full_like(low, length)).view(num_rois, -1).amin(1)
    first = first.clamp(max=length - 1)
    last = torch.where(used, high, torch.full_like(high, -1)).view(num_rois, -1).amax(1)
    span = (last - first + 1).clamp(min=1)
    # Unused samples point at `first` (inside every window that holds the RoI), weight 0.
    low = torch.where(used, low, first[:, None, None])
    high = torch.where(used, high, first[:, None, None])
    return _AxisSamples(low, high, (1. - frac) * share, frac * share, first, span)


def _groups_by_window(rows: Tensor, cols: Tensor, channels: int,
                      max_elements: int) -> Tuple[Tensor, List[slice]]:
    """RoIs sorted by window area (largest first), cut into groups whose padded windows
    (``count x max rows x max cols x channels``) stay under ``max_elements``.

    Returns:
        tuple: ``order`` (R,) the sorting permutation, and the groups as slices of it.
    """
    order = torch.argsort(rows * cols, descending=True)
    groups, begin, max_rows, max_cols = [], 0, 0, 0
    for i, (r, c) in enumerate(zip(rows[order].tolist(), cols[order].tolist())):
        new_rows, new_cols = max(max_rows, r), max(max_cols, c)
        if i > begin and (i - begin + 1) * new_rows * new_cols * channels > max_elements:
            groups.append(slice(begin, i))
            begin, new_rows, new_cols = i, r, c
        max_rows, max_cols = new_rows, new_cols
    groups.append(slice(begin, rows.size(0)))
    return order, groups


def _crop(feat_hwc: Tensor, batch_index: Tensor, rows: _AxisSamples, cols: _AxisSamples,
          out_h: int, out_w: int) -> Tensor:
    """The (n, out_h, out_w, C) crops of one group of RoIs from the (B, H, W, C) features."""
    num, channels = batch_index.size(0), feat_hwc.size(-1)
    row_weights, row_index = _window_weights(rows, feat_hwc.size(1))
    col_weights, col_index = _window_weights(cols, feat_hwc.size(2))
    # (n, rows, cols, C): each RoI's window, padded to the group's largest.
    windows = feat_hwc[batch_index[:, None, None], row_index[:, :, None], col_index[:, None, :]]
    # Columns first: (n, 1, out_w, cols) @ (n, rows, cols, C) -> (n, rows, out_w, C).
    by_cols = torch.matmul(col_weights.to(feat_hwc.dtype)[:, None], windows)
    span_rows = row_index.size(1)
    # Then rows: (n, out_h, rows) @ (n, rows, out_w * C) -> (n, out_h, out_w * C).
    out = torch.bmm(row_weights.to(feat_hwc.dtype),
                    by_cols.reshape(num, span_rows, out_w * channels))
    return out.view(num, out_h, out_w, channels)


def _window_weights(samples: _AxisSamples, length: int) -> Tuple[Tensor, Tensor]:
    """The (n, bins, span) averaged weights on the group's common window and its (n, span)
    map indices; the window starts at each RoI's ``first`` (moved back to fit in the map)."""
    span = min(int(samples.span.max().item()), length)
    first = samples.first.clamp(max=length - span)
    num, bins = samples.low.shape[:2]
    weights = samples.w_low.new_zeros(num * bins, span)
    for index, weight in ((samples.low, samples.w_low), (samples.high, samples.w_high)):
        local = (index - first[:, None, None]).view(num * bins, -1)
        weights.scatter_add_(1, local, weight.view(num * bins, -1))
    window = first[:, None] + torch.arange(span, device=first.device)
    return weights.view(num, bins, span), window
