import math

import numpy as np
import pytest
import torch
from mmdet.structures.mask import BitmapMasks

from mmdld.models.roi_extractors import RoIMaskingExtractor
from mmdld.registry import MODELS

# These tensors are tiny: intra-op threads only add contention on a shared CPU.
pytestmark = pytest.mark.usefixtures('single_thread')

STRIDE = 4


def make_extractor(**kwargs) -> RoIMaskingExtractor:
    cfg = dict(type='RoIMaskingExtractor', out_channels=3, featmap_strides=[STRIDE])
    cfg.update(kwargs)
    return MODELS.build(cfg)


def const_feats(value: float = 2.0, batch: int = 1, size: int = 32):
    """A single-level pyramid (plus a coarser level that must be ignored)."""
    level0 = torch.full((batch, 3, size, size), value)
    return (level0, torch.randn(batch, 3, size // 2, size // 2))


def test_build_and_shapes():
    extractor = make_extractor()
    feats = (torch.randn(2, 3, 32, 32), )
    rois = torch.tensor([[0, 8., 8., 72., 24.], [1, 0., 0., 127., 127.], [1, 30., 4., 40., 90.]])
    out = extractor(feats, rois, torch.rand(3, 28, 28))
    assert out.shape == (3, 3, 8, 32)
    # The wider setting of Table 4.
    big = make_extractor(
        roi_layer=dict(type='RoIAlign', output_size=(32, 128), sampling_ratio=0, aligned=True),
        output_size=(16, 64))
    assert big(feats, rois).shape == (3, 3, 16, 64)


def test_constant_feature_without_mask_is_kept():
    extractor = make_extractor()
    out = extractor(const_feats(2.0), torch.tensor([[0, 10., 20., 90., 44.]]))
    torch.testing.assert_close(out, torch.full_like(out, 2.0))


def test_soft_mask_scales_features():
    extractor = make_extractor()
    rois = torch.tensor([[0, 10., 20., 90., 44.], [0, 40., 4., 60., 100.]])
    out = extractor(const_feats(2.0), rois, torch.full((2, 7, 5), 0.5))
    torch.testing.assert_close(out, torch.full_like(out, 1.0))


def test_horizontal_roi_masked_region_is_exactly_zero():
    extractor = make_extractor()
    rois = torch.tensor([[0, 16., 16., 80., 32.], [0, 16., 16., 80., 32.]])
    masks = torch.ones(2, 28, 28)
    masks[0, :, :14] = 0  # left half of the box is background
    masks[1, :14, :] = 0  # top half of the box is background
    out = extractor(const_feats(2.0), rois, masks)
    # Hand computation: a 28 -> 64 bilinear resize keeps grid columns 0..30 at exactly 0
    # ((j + .5) * 28 / 64 - .5 <= 13), and 64 -> 32 averages column pairs, so output columns
    # 0..14 are exact zeros; likewise 28 -> 16 rows keep rows 0..7, output rows 0..3.
    # Grid columns >= 33 (rows >= 8) only see mask ones, so output columns >= 17 (rows >= 4)
    # keep the feature.
    assert torch.all(out[0, :, :, :15] == 0)
    torch.testing.assert_close(out[0, :, :, 17:], torch.full_like(out[0, :, :, 17:], 2.0))
    assert torch.all(out[1, :, :4] == 0)
    torch.testing.assert_close(out[1, :, 4:], torch.full_like(out[1, :, 4:], 2.0))


def test_vertical_roi_is_rotated_and_masked():
    extractor = make_extractor()
    # 16 px wide, 96 px tall: h > 1.5 w, so it is vertical.
    rois = torch.tensor([[0, 40., 8., 56., 104.]])
    masks = torch.ones(1, 28, 28)
    masks[0, :14, :] = 0  # the upper half of the tall box is background
    out = extractor(const_feats(2.0), rois, masks)
    # The top of the RoI becomes the left of the output (rotation by 90 degrees
    # counter-clockwise), so the masked upper half is the left half of F_roi.
    assert out.shape == (1, 3, 8, 32)
    assert torch.all(out[..., :15] == 0)
    torch.testing.assert_close(out[..., 17:], torch.full_like(out[..., 17:], 2.0))

    # Direction check on ramps: y grows to the right, x grows upwards in the output.
    ys, xs = torch.meshgrid(torch.arange(32.), torch.arange(32.), indexing='ij')
    y_out = extractor((ys.expand(1, 3, 32, 32), ), rois)[0, 0]
    x_out = extractor((xs.expand(1, 3, 32, 32), ), rois)[0, 0]
    assert torch.all(y_out[:, 1:] > y_out[:, :-1])
    assert torch.all(x_out[:-1, :] > x_out[1:, :])
    # A RoI just under the ratio stays horizontal (no rotation): y grows downwards.
    flat = torch.tensor([[0, 40., 8., 56., 31.]])  # h = 23 < 1.5 * 16
    y_flat = extractor((ys.expand(1, 3, 32, 32), ), flat)[0, 0]
    assert torch.all(y_flat[1:, :] > y_flat[:-1, :])


def test_gt_masks_cropped_with_mmdet():
    """RoI-local masks produced by mmdet's ``crop_and_resize`` from full-image GT masks."""
    extractor = make_extractor()
    full = np.zeros((1, 128, 128), dtype=np.uint8)
    full[0, 16:32, 48:80] = 1  # the text covers the right half of the box below
    box = np.array([[16., 16., 80., 32.]], dtype=np.float32)
    roi_masks = BitmapMasks(full, 128, 128).crop_and_resize(
        box, (28, 28), np.array([0]), binarize=True).to_tensor(torch.float32, 'cpu')
    rois = torch.cat([torch.zeros(1, 1), torch.from_numpy(box)], dim=1)
    out = extractor(const_feats(2.0), rois, roi_masks)
    assert torch.all(out[..., :14] == 0)
    torch.testing.assert_close(out[..., 18:], torch.full_like(out[..., 18:], 2.0))


def test_degenerate_rois_give_zeros():
    extractor = make_extractor()
    nan = math.nan
    rois = torch.tensor([
        [0, 10., 10., 10., 40.],  # zero width
        [0, 10., 10., 60., 10.],  # zero height
        [0, 60., 10., 20., 40.],  # x2 < x1
        [0, nan, 10., 60., 40.],  # NaN
        [0, 10., 10., math.inf, 40.],  # inf
        [0, 200., 200., 260., 240.],  # outside the 128 x 128 image
        [0, -50., -40., -10., -2.],  # outside, negative side
        [0, 10., 20., 90., 44.],  # a normal one
    ])
    out = extractor(const_feats(2.0), rois, torch.ones(8, 28, 28))
    assert out.shape == (8, 3, 8, 32)
    assert torch.all(out[:7] == 0)
    torch.testing.assert_close(out[7], torch.full_like(out[7], 2.0))


def test_empty_rois():
    extractor = make_extractor()
    out = extractor(const_feats(), torch.zeros(0, 5), torch.zeros(0, 28, 28))
    assert out.shape == (0, 3, 8, 32)
    assert extractor(const_feats(), torch.zeros(0, 5)).shape == (0, 3, 8, 32)


def test_gradient_reaches_features():
    extractor = make_extractor()
    feat = torch.randn(1, 3, 32, 32, requires_grad=True)
    out = extractor((feat, ), torch.tensor([[0, 10., 20., 90., 44.], [0, 40., 4., 60., 100.]]),
                    torch.rand(2, 28, 28))
    out.sum().backward()
    assert feat.grad is not None and feat.grad.abs().sum() > 0


def test_roi_scale_factor_enlarges_boxes():
    extractor = make_extractor()
    feat = torch.zeros(1, 3, 32, 32)
    # A bright band at feature rows 12..13 (pixels 48..56), under the box below: RoIAlign
    # samples of the box reach feature row 9.31 at most (rows 9 and 10), those of the box
    # doubled around its centre (y 4..52 px) reach row 12.1.
    feat[..., 12:14, :] = 1.0
    rois = torch.tensor([[0, 16., 16., 112., 40.]])
    assert extractor((feat, ), rois).abs().sum() == 0
    assert extractor((feat, ), rois, roi_scale_factor=2.0).abs().sum() > 0


def test_bad_inputs_raise_clear_errors():
    extractor = make_extractor()
    with pytest.raises(ValueError, match='batch indices'):
        extractor(const_feats(), torch.tensor([[3, 0., 0., 10., 10.]]))
    with pytest.raises(ValueError, match='roi_masks'):
        extractor(const_feats(), torch.tensor([[0, 0., 0., 10., 10.]]), torch.ones(2, 28, 28))
    with pytest.raises(ValueError, match=r'\(N, 5\)'):
        extractor(const_feats(), torch.zeros(2, 4))
    with pytest.raises(ValueError, match='featmap_strides'):
        make_extractor(featmap_strides=[4, 8])
    with pytest.raises(ValueError, match='output_size'):
        make_extractor(output_size=(8, ))
