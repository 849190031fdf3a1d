import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.analysis import FlopAnalyzer, get_model_complexity_info

from mmdld.models.selectors import DynamicResolutionSelector
from mmdld.registry import MODELS


def _drs(**kwargs) -> DynamicResolutionSelector:
    drs = DynamicResolutionSelector(**kwargs)
    drs.init_weights()
    return drs


def test_architecture_has_ten_convs_gap_and_fc():
    drs = _drs()
    convs = [m for m in drs.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 10
    assert isinstance(drs.gap, nn.AdaptiveAvgPool2d)
    linears = [m for m in drs.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 1 and linears[0].out_features == 6
    # Residual layers: each has a projection shortcut.
    assert all(layer[0].downsample is not None for layer in drs.layers)


def test_build_from_registry_with_custom_scales():
    drs = MODELS.build(dict(type='DynamicResolutionSelector', scales=[0.6, 0.5, 0.4]))
    assert drs.scales == (0.6, 0.5, 0.4)
    assert drs.num_scales == 3
    assert drs.fc.out_features == 3
    assert drs.temperature == 5.0


def test_forward_shape_and_padding_is_ignored_with_img_shapes():
    torch.manual_seed(0)
    drs = _drs(input_size=(32, 32)).eval()
    img = torch.randn(1, 3, 40, 56)
    padded_zeros = F.pad(img, (0, 8, 0, 24))
    padded_noise = padded_zeros.clone()
    padded_noise[:, :, 40:, :] = 7.0
    padded_noise[:, :, :, 56:] = -7.0
    with torch.no_grad():
        ref = drs(img)
        out_zero = drs(padded_zeros, img_shapes=[(40, 56)])
        out_noise = drs(padded_noise, img_shapes=[(40, 56)])
        out_uncropped = drs(padded_noise)
    assert ref.shape == (1, 6)
    torch.testing.assert_close(out_zero, ref)
    torch.testing.assert_close(out_noise, ref)
    # Without img_shapes the padding is part of the picture.
    assert not torch.allclose(out_uncropped, ref)


def test_resize_inputs_crops_each_image_to_its_valid_region():
    drs = _drs(input_size=(8, 8), antialias=False)
    batch = torch.randn(2, 3, 20, 24)
    out = drs.resize_inputs(batch, img_shapes=[(20, 24), (10, 12)])
    assert out.shape == (2, 3, 8, 8)
    torch.testing.assert_close(
        out[1:], F.interpolate(batch[1:, :, :10, :12], size=(8, 8), mode='bilinear',
                               align_corners=False))
    with pytest.raises(ValueError, match='img_shapes\\[1\\]=\\(30, 12\\)'):
        drs.resize_inputs(batch, img_shapes=[(20, 24), (30, 12)])
    with pytest.raises(ValueError, match='got 1 img_shapes for a batch of 2'):
        drs.resize_inputs(batch, img_shapes=[(20, 24)])


def test_sample_is_hard_gumbel_argmax_with_generator():
    drs = _drs()
    logits = torch.tensor([[0.5, 1.0, -0.2, 0.0, 0.3, 2.0], [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    h, index = drs.sample(logits, tau=1.0, generator=torch.Generator().manual_seed(3))
    u = torch.rand(logits.shape, generator=torch.Generator().manual_seed(3))
    expected = (logits - torch.log(-torch.log(u))).argmax(dim=-1)  # eq. 5
    assert torch.equal(index, expected)
    assert torch.equal(h, F.one_hot(expected, 6).float())
    # Same generator state, same draw; the noise, hence the draw, changes with the seed.
    h2, _ = drs.sample(logits, tau=1.0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(h, h2)
    draws = [drs.sample(logits, tau=1.0, generator=torch.Generator().manual_seed(seed))[1]
             for seed in range(4, 24)]
    assert any(not torch.equal(d, index) for d in draws)


def test_sample_straight_through_gradient_is_that_of_relaxed_softmax():
    drs = _drs()
    tau = 2.0
    logits = torch.tensor([[0.2, -0.4, 1.1, 0.0, 0.3, -1.0]], requires_grad=True)
    weights = torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]])
    h, _ = drs.sample(logits, tau=tau, generator=torch.Generator().manual_seed(11))
    (h * weights).sum().backward()

    u = torch.rand(logits.shape, generator=torch.Generator().manual_seed(11))
    gumbel = -torch.log(-torch.log(u))
    soft = F.softmax((logits.detach() + gumbel) / tau, dim=-1)  # eq. 6
    # d/dz sum_j w_j softmax(z/tau)_j = soft * (w - sum_j w_j soft_j) / tau
    expected = soft * (weights - (weights * soft).sum()) / tau
    torch.testing.assert_close(logits.grad, expected)


def test_sample_uses_temperature_attribute():
    drs = _drs()
    drs.temperature = 0.5
    logits = torch.randn(3, 6, requires_grad=True)
    h1, _ = drs.sample(logits, generator=torch.Generator().manual_seed(5))
    h1.mul(torch.arange(6.)).sum().backward()
    g1 = logits.grad.clone()
    logits.grad = None
    h2, _ = drs.sample(logits, tau=0.5, generator=torch.Generator().manual_seed(5))
    h2.mul(torch.arange(6.)).sum().backward()
    torch.testing.assert_close(g1, logits.grad)
    with pytest.raises(ValueError, match='tau must be > 0'):
        drs.sample(logits, tau=0.0)


def test_sample_frequencies_follow_softmax():
    # Gumbel-max: argmax(logits + g) ~ Categorical(softmax(logits)).
    drs = _drs()
    logits = torch.tensor([1.0, 0.0, -1.0, 0.5, 2.0, 0.0]).expand(20000, 6)
    _, index = drs.sample(logits, generator=torch.Generator().manual_seed(0))
    freq = torch.bincount(index, minlength=6).float() / 20000
    torch.testing.assert_close(freq, F.softmax(logits[0], dim=0), atol=0.015, rtol=0)


def test_select_is_deterministic_argmax():
    drs = _drs()
    logits = torch.tensor([[0.0, 0.01, 0.0, 0.0, 0.0, 0.0], [3.0, 0.0, 0.0, 0.0, 0.0, 2.9]])
    for _ in range(20):
        assert drs.select(logits).tolist() == [1, 0]
    with pytest.raises(ValueError, match=r'logits must be \[B, 6\]'):
        drs.select(torch.zeros(2, 5))


@pytest.mark.parametrize('kwargs, match', [
    (dict(scales=(0.5, )), 'at least 2'),
    (dict(scales=(0.5, 1.2)), r'in \(0, 1\]'),
    (dict(channels=(16, )), 'residual layer'),
    (dict(temperature=0), 'temperature'),
])
def test_bad_config_is_reported(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DynamicResolutionSelector(**kwargs)


def test_flops_are_countable_and_match_hand_count():
    drs = _drs().eval()
    # Any input size: the network always sees a 224 x 224 copy.
    x = torch.randn(1, 3, 300, 410)
    analyzer = FlopAnalyzer(drs, (x, ))
    analyzer.unsupported_ops_warnings(False)
    by_op = analyzer.by_operator()
    # stem 16*112^2*27 + per residual layer (3x3 s2, 3x3, 1x1 s2 projection), by hand:
    # 32*28^2*(144+288+16), 64*14^2*(288+576+32), 128*7^2*(576+1152+64)
    assert by_op['conv'] == 5419008 + 3 * 11239424
    assert by_op['linear'] == 128 * 6
    info = get_model_complexity_info(drs, inputs=(x, ), show_table=False, show_arch=False)
    assert info['flops'] >= by_op['conv'] + by_op['linear']
    assert info['params'] == sum(p.numel() for p in drs.parameters())
    assert math.isclose(info['flops'] / 1e9, 0.04, rel_tol=0.1)
