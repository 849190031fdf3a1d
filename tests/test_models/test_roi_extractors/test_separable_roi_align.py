"""The separable RoIAlign against MMCV's kernel, and where RoI-Masking uses it."""
import pytest
import torch
from mmcv.ops import roi_align

import mmdld.models.roi_extractors.roi_masking_extractor as masking
from mmdld.models.roi_extractors.separable_roi_align import (_groups_by_window,
                                                             separable_roi_align)
from mmdld.registry import MODELS
from mmdld.utils import register_all_modules

register_all_modules()


def random_rois(num: int, img_w: float, img_h: float, seed: int = 0) -> torch.Tensor:
    """Boxes of every kind: inside, across and beyond the borders, zero width or height."""
    g = torch.Generator().manual_seed(seed)
    x1 = torch.rand(num, generator=g) * (img_w + 40) - 20
    y1 = torch.rand(num, generator=g) * (img_h + 40) - 20
    w = torch.rand(num, generator=g) * img_w / 2
    h = torch.rand(num, generator=g) * img_h / 2
    w[:4], h[4:8] = 0., 0.
    batch = torch.randint(0, 2, (num, ), generator=g).float()
    return torch.stack([batch, x1, y1, x1 + w, y1 + h], dim=1)


@pytest.mark.parametrize('aligned', [True, False])
@pytest.mark.parametrize('sampling_ratio', [0, 2])
@pytest.mark.parametrize('output_size', [(4, 16), (16, 4)])
def test_matches_mmcv(aligned, sampling_ratio, output_size):
    feat = torch.randn(2, 5, 20, 30, generator=torch.Generator().manual_seed(1))
    rois = random_rois(120, 30 * 4, 20 * 4)
    expected = roi_align(feat, rois, output_size, 0.25, sampling_ratio, 'avg', aligned)
    got = separable_roi_align(feat, rois, output_size, 0.25, sampling_ratio, aligned)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    # RoIs beyond the map give zeros, as in MMCV (the test would be void without some).
    assert (expected.flatten(1).abs().sum(1) == 0).sum() >= 4


def test_layouts_and_large_windows():
    """Channels-last input gives the same values; a RoI larger than the map is clipped."""
    feat = torch.randn(2, 8, 24, 40, generator=torch.Generator().manual_seed(2))
    rois = torch.cat([random_rois(30, 160, 96, seed=3),
                      torch.tensor([[1, -50., -30., 400., 300.]])])
    expected = roi_align(feat, rois, (16, 64), 0.25, 0, 'avg', True)
    for layout in (torch.contiguous_format, torch.channels_last):
        got = separable_roi_align(feat.contiguous(memory_format=layout), rois, (16, 64), 0.25,
                                  0, True)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
        assert got.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize('max_elements', [1, 5000, 1 << 24])
def test_groups_bound_the_padded_windows(max_elements):
    """One huge RoI among small ones: grouped by window size, the crops stay in RoI order."""
    feat = torch.randn(2, 4, 30, 50, generator=torch.Generator().manual_seed(6))
    rois = torch.cat([random_rois(40, 200, 120, seed=7),
                      torch.tensor([[0, 0., 0., 199., 119.], [1, 10., 10., 14., 12.]])])
    expected = roi_align(feat, rois, (8, 16), 0.25, 0, 'avg', True)
    got = separable_roi_align(feat, rois, (8, 16), 0.25, 0, True, max_window_elements=max_elements)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_window_groups():
    rows = torch.tensor([2, 10, 3, 10, 1])
    cols = torch.tensor([2, 10, 3, 9, 1])
    order, groups = _groups_by_window(rows, cols, channels=1, max_elements=200)
    # Largest windows first; a group's count x max rows x max cols stays within the bound.
    assert order.tolist() == [1, 3, 2, 0, 4]
    assert [(g.start, g.stop) for g in groups] == [(0, 2), (2, 5)]
    order, groups = _groups_by_window(rows, cols, channels=1, max_elements=50)
    assert [(g.start, g.stop) for g in groups] == [(0, 1), (1, 2), (2, 5)]


def test_half_precision_features_keep_float32_coordinates():
    """bfloat16 would round a coordinate near 300 to a multiple of 2 pixels; on a feature that
    changes every pixel, that error would be of the order of the feature itself."""
    xs = torch.arange(400.)
    feat = torch.sin(xs)[None, None, None, :].expand(1, 2, 8, 400).contiguous()
    rois = torch.tensor([[0, 301.3, 1.0, 309.7, 5.0], [0, 297.1, 0.5, 299.4, 6.0]])
    expected = roi_align(feat, rois, (4, 16), 1.0, 0, 'avg', True)
    got = separable_roi_align(feat.bfloat16(), rois, (4, 16), 1.0, 0, True)
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), expected, rtol=0, atol=0.03)
    assert (expected.abs().max() > 0.5)


def test_no_rois():
    out = separable_roi_align(torch.randn(1, 3, 8, 8), torch.zeros(0, 5), (2, 4), 1.0, 0, True)
    assert out.shape == (0, 3, 2, 4)


def spy_on_separable(monkeypatch) -> list:
    calls = []

    def spy(*args, **kwargs):
        calls.append(args[1].size(0))
        return separable_roi_align(*args, **kwargs)

    monkeypatch.setattr(masking, 'separable_roi_align', spy)
    return calls


def test_extractor_uses_it_on_cpu_without_autograd_only(monkeypatch):
    calls = spy_on_separable(monkeypatch)
    extractor = MODELS.build(dict(type='RoIMaskingExtractor', out_channels=3,
                                  featmap_strides=[4]))
    feat = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    rois = torch.tensor([[0, 10., 20., 90., 44.], [1, 40., 4., 60., 100.], [1, 3., 3., 50., 20.]])
    masks = torch.rand(3, 28, 28, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        fast = extractor((feat, ), rois, masks)
    # Two groups: the horizontal RoIs and the vertical one.
    assert sorted(calls) == [1, 2]
    calls.clear()
    leaf = feat.clone().requires_grad_(True)
    slow = extractor((leaf, ), rois, masks)
    assert calls == []
    torch.testing.assert_close(fast, slow.detach(), rtol=1e-5, atol=1e-5)
    # Under autocast the crops, hence the output, are in the low precision.
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        low = extractor((feat, ), rois, masks)
    assert low.dtype == torch.bfloat16
    torch.testing.assert_close(low.float(), slow.detach(), rtol=0.02, atol=0.02)


def test_extractor_keeps_mmcv_when_traced_for_flops(monkeypatch):
    """FLOP counting traces the model: MMCV's op stays in the traced graph."""
    calls = spy_on_separable(monkeypatch)
    extractor = MODELS.build(dict(type='RoIMaskingExtractor', out_channels=3,
                                  featmap_strides=[4]))
    rois = torch.tensor([[0, 10., 20., 90., 44.]])
    with torch.no_grad():
        torch.jit.trace(lambda f: extractor((f, ), rois), torch.randn(1, 3, 32, 32),
                        check_trace=False)
    assert calls == []
