"""TextPerceptronHead: forward shapes, the Dice and smooth-L1 losses, predict's outputs."""
import numpy as np
import pytest
import torch
from helpers import rect

from mmdld.models.text_perceptron.tp_head import TextPerceptronHead, softmax_dice_loss
from mmdld.models.text_perceptron.tp_targets import NUM_REG_CHANNELS, text_perceptron_targets
from mmdld.registry import MODELS

# These tensors are tiny: intra-op threads only add contention on a shared CPU.
pytestmark = pytest.mark.usefixtures('single_thread')

STRIDE = 4
FEAT_SHAPE = (14, 24)
RECT = rect(8, 8, 88, 48)  # feature x in [1.5, 21.5], y in [1.5, 11.5]


def small_head(**kwargs) -> TextPerceptronHead:
    return MODELS.build(dict(type='TextPerceptronHead', in_channels=8, feat_channels=16,
                             num_points_per_side=4, **kwargs))


def perfect_maps(polygons, shape=FEAT_SHAPE):
    """Logits and offsets that a perfect head would output for ``polygons`` (batch of one)."""
    targets = text_perceptron_targets(polygons, shape, STRIDE)
    logits = 20.0 * torch.from_numpy(np.eye(5, dtype=np.float32)[targets['seg']])
    return logits.permute(2, 0, 1)[None], torch.from_numpy(targets['reg'])[None], targets


def test_forward_shapes_and_registry():
    head = small_head()
    assert isinstance(head, TextPerceptronHead) and len(head.convs) == 2
    seg, reg = head(torch.randn(2, 8, *FEAT_SHAPE))
    assert seg.shape == (2, 5) + FEAT_SHAPE
    assert reg.shape == (2, NUM_REG_CHANNELS) + FEAT_SHAPE


def test_dice_of_uniform_logits_by_hand():
    # 2 x 3 map, labels: one centre, two head pixels, no tail, no boundary; p = 1/5 everywhere.
    labels = torch.tensor([[[0, 1, 2], [2, 0, 0]]])
    loss = softmax_dice_loss(torch.zeros(1, 5, 2, 3), labels, smooth=1.0)
    total_p = 6 / 5
    dice = [(2 * n / 5 + 1) / (total_p + n + 1) for n in (1, 2, 0, 0)]
    assert loss.item() == pytest.approx(np.mean([1 - d for d in dice]), rel=1e-6)


def test_seg_loss_is_weighted_dice_plus_cross_entropy():
    head = small_head(loss_seg=dict(dice_weight=0.5, ce_weight=2.0))
    losses = head.loss(torch.zeros(1, 5, *FEAT_SHAPE), torch.zeros(1, 12, *FEAT_SHAPE), [[RECT]],
                       STRIDE)
    # The rectangle's pixels (test_tp_targets): 84 centre, 30 head, 30 tail, 56 boundary of
    # 14 x 24; uniform logits give p = 1/5 and a cross-entropy of log 5 everywhere.
    total_p = 14 * 24 / 5
    dice = np.mean([1 - (2 * n / 5 + 1) / (total_p + n + 1) for n in (84, 30, 30, 56)])
    assert losses['loss_tp_seg'].item() == pytest.approx(0.5 * dice + 2 * np.log(5), rel=1e-6)


def test_losses_of_perfect_and_offset_maps():
    head = small_head()
    logits, reg, targets = perfect_maps([RECT])
    losses = head.loss(logits, reg, [[RECT]], STRIDE)
    assert set(losses) == {'loss_tp_seg', 'loss_tp_reg'}
    assert losses['loss_tp_seg'].item() < 1e-6
    assert losses['loss_tp_reg'].item() == 0.0
    # Every target off by 0.5 px: smooth-L1 (beta 1) 0.5 * 0.5^2 = 0.125 per channel, 4 target
    # channels per pixel, averaged over the weighted pixels: 0.5.
    losses = head.loss(logits, reg + 0.5, [[RECT]], STRIDE)
    assert losses['loss_tp_reg'].item() == pytest.approx(0.5, rel=1e-6)
    # loss_weight scales it.
    weighted = small_head(loss_reg=dict(type='mmdet.SmoothL1Loss', beta=1.0, loss_weight=2.0))
    assert weighted.loss(logits, reg + 0.5, [[RECT]], STRIDE)['loss_tp_reg'].item() == \
        pytest.approx(1.0, rel=1e-6)


def test_loss_gradients_reach_the_convolutions():
    head = small_head()
    feat = torch.randn(2, 8, *FEAT_SHAPE)
    losses = head.loss(*head(feat), [[RECT], []], STRIDE)  # the second image has no text
    assert all(torch.isfinite(v) and v.item() > 0 for v in losses.values())
    sum(losses.values()).backward()
    for param in (head.convs[0].conv.weight, head.convs[1].conv.weight, head.conv_seg.weight,
                  head.conv_reg.weight):
        assert param.grad is not None and param.grad.abs().sum() > 0


def test_no_text_gives_a_zero_regression_loss_in_the_graph():
    head = small_head()
    seg, reg = head(torch.randn(2, 8, *FEAT_SHAPE))
    losses = head.loss(seg, reg, [[], []], STRIDE)
    assert losses['loss_tp_reg'].item() == 0.0 and losses['loss_tp_reg'].requires_grad
    # Dice's smoothing still pushes the absent classes down.
    assert losses['loss_tp_seg'].item() > 0
    sum(losses.values()).backward()
    assert head.conv_reg.weight.grad is not None
    assert head.conv_seg.weight.grad.abs().sum() > 0


def test_loss_rejects_a_batch_mismatch_and_unknown_seg_options():
    head = small_head()
    seg, reg = head(torch.randn(2, 8, *FEAT_SHAPE))
    with pytest.raises(ValueError, match='1 polygon lists for a batch of 2 images'):
        head.loss(seg, reg, [[RECT]], STRIDE)
    with pytest.raises(ValueError, match=r"loss_seg takes \['ce_weight', 'dice_weight', "
                       r"'smooth'\], got unknown \['gamma'\]"):
        small_head(loss_seg=dict(gamma=2.0))


def test_predict_rectangle_in_image_pixels():
    head = small_head()
    logits, reg, _ = perfect_maps([RECT])
    result = head.predict(logits, reg, STRIDE)
    assert len(result) == 1
    instances = result[0]
    assert len(instances) == 1
    # K = 4 points per side of the 80 x 40 px rectangle from (8, 8) to (88, 48).
    xs = np.linspace(8, 88, 4)
    expected = np.concatenate([np.stack([xs, np.full(4, 8.0)], 1),
                               np.stack([xs, np.full(4, 48.0)], 1)])
    assert instances.fiducial_points.dtype == torch.float32
    np.testing.assert_allclose(instances.fiducial_points[0].numpy(), expected, atol=1e-4)
    # The polygon: top points, then the bottom points right to left.
    np.testing.assert_allclose(instances.polygons[0],
                               np.concatenate([expected[:4], expected[4:][::-1]]).reshape(-1),
                               atol=1e-4)
    np.testing.assert_allclose(instances.bboxes.numpy(), [[8, 8, 88, 48]], atol=1e-4)
    assert instances.scores.shape == (1, ) and instances.scores[0].item() > 0.99


def test_predict_without_text_and_threshold_overrides():
    head = small_head()
    empty = head.predict(torch.zeros(2, 5, *FEAT_SHAPE), torch.zeros(2, 12, *FEAT_SHAPE), STRIDE)
    assert len(empty) == 2
    for instances in empty:
        assert instances.fiducial_points.shape == (0, 8, 2)
        assert instances.scores.shape == (0, ) and instances.bboxes.shape == (0, 4)
        assert instances.polygons == []
    # Centre probability of these logits: e^2 / (e^2 + 4) = 0.65.
    logits, reg, _ = perfect_maps([RECT])
    soft = logits / 10.0
    assert len(head.predict(soft, reg, STRIDE)[0]) == 1
    assert len(head.predict(soft, reg, STRIDE, centre_thr=0.7)[0]) == 0
    assert len(small_head(test_cfg=dict(centre_thr=0.7)).predict(soft, reg, STRIDE)[0]) == 0
