"""Tests of TextPerceptronSpotter: training losses, the protocol's GT recognition, inference."""
import numpy as np
import pytest
import torch
from helpers import batch, packed_sample, rect
from mmengine.structures import InstanceData
from tiny_text_perceptron import (CHANNELS, POINTS_PER_SIDE, ROI_SIZE, build_tiny_spotter,
                                  head_maps)

from mmdld.models.spotters import DistillableSpotter
from mmdld.models.task_modules import count_flops, spotter_parts
from mmdld.models.text_perceptron import TextPerceptronSpotter, gt_fiducial_points

pytestmark = pytest.mark.usefixtures('single_thread')

WORDS = [rect(10, 10, 90, 40), rect(20, 60, 150, 100)]


@pytest.fixture
def spotter():
    return build_tiny_spotter()


def train_batch(model):
    """Two images: two words and a don't-care one; no word at all."""
    data = batch(
        packed_sample(WORDS, ['ab', 'cde'], ignored=[rect(100, 5, 180, 30)], seed=1),
        packed_sample([], [], seed=2))
    return model.data_preprocessor(data, True)


def test_is_a_distillable_spotter_reading_the_first_level(spotter):
    assert isinstance(spotter, DistillableSpotter)
    spec = spotter.recognition_spec
    assert (spec.roi_size, spec.roi_channels, spec.feature_levels) == (ROI_SIZE, CHANNELS, 1)
    assert spec.max_seq_len == 8 and spec.num_classes == len(spec.dictionary) - 1
    inputs = torch.zeros(1, 3, 64, 96)
    feats = spotter.extract_feat(inputs)
    assert feats[0].shape[-2:] == (16, 24)
    assert [f.shape for f in spotter.feature_network()(inputs)] == [f.shape for f in feats]


def test_parts_that_do_not_fit_are_refused():
    with pytest.raises(ValueError, match=r'shape_transform.output_size \(8, 32\) != '
                       r'rec_head.roi_size \(4, 16\)'):
        build_tiny_spotter(shape_transform=dict(
            type='ShapeTransformModule', output_size=(8, 32),
            num_points_per_side=POINTS_PER_SIDE, spatial_scale=0.25))
    with pytest.raises(ValueError, match=r'unknown test_cfg keys \[\'rcnn\'\]'):
        build_tiny_spotter(test_cfg=dict(rcnn=dict(score_thr=0.5)))
    with pytest.raises(ValueError, match='rec_train_jitter must be'):
        build_tiny_spotter(rec_train_jitter=dict(num=2, ratio=0.7))


def test_loss_has_the_detection_and_recognition_terms_and_trains_every_part(spotter):
    data = train_batch(spotter)
    losses = spotter(**data, mode='loss')
    assert set(losses) == {'loss_tp_seg', 'loss_tp_reg', 'loss_rec'}
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    params = dict(spotter.named_parameters())
    # Recognition alone reaches the backbone through the STM crops, not the detection head.
    rec_grads = torch.autograd.grad(
        losses['loss_rec'], [params['backbone.conv1.weight'], params['det_head.conv_seg.weight'],
                             params['rec_head.lstm.weight_ih_l0']], allow_unused=True,
        retain_graph=True)
    assert rec_grads[0].abs().sum() > 0 and rec_grads[2].abs().sum() > 0
    assert rec_grads[1] is None
    det_grads = torch.autograd.grad(losses['loss_tp_seg'] + losses['loss_tp_reg'],
                                    [params['det_head.conv_seg.weight'],
                                     params['det_head.conv_reg.weight'],
                                     params['backbone.conv1.weight']])
    assert all(g.abs().sum() > 0 for g in det_grads)


def test_gt_recognition_crops_the_gt_fiducial_points_and_leaves_out_dont_care(spotter):
    data = train_batch(spotter)
    losses, rec = spotter.loss_and_gt_recognition(data['inputs'], data['data_samples'])
    assert set(losses) == {'loss_tp_seg', 'loss_tp_reg'}
    # The don't-care word of image 0 is not among the recognised instances.
    assert rec.num_per_img == [2, 0]
    assert rec.roi_feats.shape == (2, CHANNELS, *ROI_SIZE)
    assert rec.context.shape == (2, ROI_SIZE[1], 32)
    targets, valid = spotter.rec_head.encode_texts(['ab', 'cde'])
    assert torch.equal(rec.targets, targets) and torch.equal(rec.valid, valid)
    feats = spotter.extract_feat(data['inputs'])
    points = torch.from_numpy(np.stack([gt_fiducial_points(w, POINTS_PER_SIDE) for w in WORDS]))
    expected = spotter.shape_transform(feats[0], [points, torch.zeros(0, 2 * POINTS_PER_SIDE, 2)])
    roi_feats, num_per_img = spotter.gt_roi_feats(feats, [s.gt_instances for s in
                                                          data['data_samples']])
    assert num_per_img == [2, 0]
    torch.testing.assert_close(roi_feats, expected)
    torch.testing.assert_close(spotter.encode_context(roi_feats), rec.context)


def test_jittered_copies_are_read_in_loss_only(spotter):
    jittered = build_tiny_spotter(rec_train_jitter=dict(num=2, ratio=0.1))
    data = train_batch(jittered)
    gts = [s.gt_instances for s in data['data_samples']]
    feats = jittered.extract_feat(data['inputs'])
    rec = jittered._gt_recognition(feats, gts, jitter=jittered.rec_train_jitter)
    assert rec.num_per_img == [6, 0]
    # Originals first, then each copy of every word, with its word's text.
    assert [jittered.rec_head.indices_to_texts(t[None])[0] for t in rec.targets] == \
        ['ab', 'cde'] * 3
    assert jittered.gt_recognition(feats, gts).num_per_img == [2, 0]


def test_recognition_loss_of_no_instance_is_a_zero_on_every_recognition_parameter(spotter):
    data = spotter.data_preprocessor(batch(packed_sample([], [], seed=3)), True)
    _, rec = spotter.loss_and_gt_recognition(data['inputs'], data['data_samples'])
    assert len(rec) == 0
    losses = spotter.recognition_loss(rec)
    assert float(losses['loss_rec'].detach()) == 0
    losses['loss_rec'].backward()
    assert all(p.grad is not None for p in spotter.rec_head.parameters())
    assert spotter.backbone.conv1.weight.grad is not None


def test_predict_reports_words_in_the_original_frame(spotter, monkeypatch):
    # The input is the original image resized by 0.5: its words are reported at twice the size.
    words = [rect(40, 20, 120, 52), rect(16, 80, 80, 104)]
    data = spotter.data_preprocessor(
        batch(packed_sample(words, ['ab', 'c'], shape=(128, 192), scale=0.5, seed=4)), False)
    feat_shape = (data['inputs'].shape[-2] // 4, data['inputs'].shape[-1] // 4)
    maps = head_maps(words, feat_shape)
    monkeypatch.setattr(spotter.det_head, 'forward', lambda feat: maps)
    spotter.eval()
    with torch.no_grad():
        [result] = spotter.predict(data['inputs'], data['data_samples'], rescale=True)
    pred = result.pred_instances
    assert len(pred) == 2 and len(pred.texts) == 2 and pred.text_scores.shape == (2, )
    assert torch.equal(pred.labels, torch.zeros(2, dtype=torch.long))
    order = np.argsort([p[1] for p in pred.polygons])
    for i, word in zip(order, words):
        # Polygons from the fiducial points: K top points, then K bottom ones reversed.
        polygon = pred.polygons[i].reshape(-1, 2)
        assert polygon.shape == (2 * POINTS_PER_SIDE, 2)
        expected = word.reshape(-1, 2) * 2
        np.testing.assert_allclose(polygon.min(0), expected.min(0), atol=2.)
        np.testing.assert_allclose(polygon.max(0), expected.max(0), atol=2.)
        np.testing.assert_allclose(pred.bboxes[i].numpy(),
                                   np.concatenate([expected.min(0), expected.max(0)]), atol=2.)
    with torch.no_grad():
        [unscaled] = spotter.predict(data['inputs'], data['data_samples'], rescale=False)
    np.testing.assert_allclose(unscaled.pred_instances.polygons[0] * 2, pred.polygons[0],
                               rtol=1e-6)


def test_score_threshold_and_gt_reading(spotter, monkeypatch):
    words = [rect(40, 20, 120, 52)]
    sample = packed_sample(words, ['ab'], shape=(128, 192), scale=0.5, seed=5)
    # Test pipelines keep the GT in the original frame.
    gt = sample['data_samples'].gt_instances
    gt.polygons = [p * 2 for p in gt.polygons]
    data = spotter.data_preprocessor(batch(sample), False)
    maps = head_maps(words, (data['inputs'].shape[-2] // 4, data['inputs'].shape[-1] // 4))
    monkeypatch.setattr(spotter.det_head, 'forward', lambda feat: maps)
    spotter.eval()
    spotter.test_cfg.update(score_thr=1.01, rec_on_gt=True)
    with torch.no_grad():
        [result] = spotter.predict(data['inputs'], data['data_samples'])
    assert len(result.pred_instances) == 0 and result.pred_instances.texts == []
    [gt_text] = result.pred_gt_texts
    feats = spotter.extract_feat(data['inputs'])
    crops, _ = spotter.gt_roi_feats(feats, [InstanceData(polygons=words)])
    assert gt_text == spotter.rec_head.predict(crops)[0][0]


class TensorForward(torch.nn.Module):
    """``spotter._forward(inputs)`` as a module (what the counter traces)."""

    def __init__(self, spotter: TextPerceptronSpotter) -> None:
        super().__init__()
        self.spotter = spotter

    def forward(self, inputs):
        return self.spotter._forward(inputs)


def test_tensor_forward_is_counted_with_the_shape_transform(spotter, monkeypatch):
    words = [rect(40, 20, 120, 52), rect(16, 80, 80, 104)]
    inputs = torch.randn(1, 3, 128, 192)
    maps = head_maps(words, (32, 48))
    monkeypatch.setattr(spotter.det_head, 'forward', lambda feat: maps)
    spotter.eval()
    seg, reg, roi_feats, context = spotter._forward(inputs)
    assert roi_feats.shape == (2, CHANNELS, *ROI_SIZE) and context.shape[:2] == (2, 16)
    count = count_flops(TensorForward(spotter), (inputs, ))
    # Two words x C channels x H_r x W_r output elements, 4 taps each (bilinear).
    assert count.by_operator['grid_sampler'] == 4 * 2 * CHANNELS * ROI_SIZE[0] * ROI_SIZE[1]
    assert count.by_module['spotter.shape_transform'] > count.by_operator['grid_sampler']
    assert count.by_module['spotter.rec_head'] > 0 and count.by_module['spotter.backbone'] > 0
    # The cost report names Text Perceptron's parts; only the untraced post-processing is other.
    parts = spotter_parts(count)
    assert parts['shape transform'] == count.by_module['spotter.shape_transform']
    assert parts['BiLSTM'] == count.by_module['spotter.rec_head.lstm'] > 0
    assert parts['recognition convs'] == count.by_module['spotter.rec_head.convs'] > 0
