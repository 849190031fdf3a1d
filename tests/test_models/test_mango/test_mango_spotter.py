"""Tests of MANGOSpotter: training losses, the protocol's GT recognition, inference."""
import numpy as np
import pytest
import torch
from helpers import batch, packed_sample, rect
from mmengine.structures import InstanceData
from tiny_mango import CHANNELS, MAX_SEQ_LEN, NUM_GRID, build_tiny_spotter, head_maps

from mmdld.evaluation import E2ESpottingMetric
from mmdld.models.mango import MANGOSpotter, grid_targets, mask_polygon
from mmdld.models.spotters import DistillableSpotter
from mmdld.models.task_modules import count_flops

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
    assert (spec.roi_size, spec.roi_channels, spec.feature_levels) == ((1, MAX_SEQ_LEN + 1),
                                                                       CHANNELS, 1)
    assert spec.max_seq_len == MAX_SEQ_LEN and spec.num_classes == len(spec.dictionary) - 1
    inputs = torch.zeros(1, 3, 64, 96)
    feats = spotter.extract_feat(inputs)
    assert feats[0].shape[-2:] == (16, 24)
    assert [f.shape for f in spotter.feature_network()(inputs)] == [f.shape for f in feats]


def test_parts_that_do_not_fit_are_refused():
    with pytest.raises(ValueError, match=r'det_head.num_positions 5 != rec_head.max_seq_len '
                       r'\+ 1 \(9\)'):
        build_tiny_spotter(det_head=dict(type='MANGOHead', in_channels=CHANNELS,
                                         feat_channels=16, kernel_channels=8,
                                         num_grid=NUM_GRID, num_positions=5, num_convs=1))
    with pytest.raises(ValueError, match=r"unknown test_cfg keys \['rcnn'\]"):
        build_tiny_spotter(test_cfg=dict(rcnn=dict(score_thr=0.5)))
    with pytest.raises(ValueError, match='rec_train_cells must be one of'):
        build_tiny_spotter(rec_train_cells='all')


def test_loss_has_the_grid_mask_and_recognition_terms_and_trains_every_part(spotter):
    data = train_batch(spotter)
    losses = spotter(**data, mode='loss')
    assert set(losses) == {'loss_cate', 'loss_mask', 'loss_rec'}
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    params = dict(spotter.named_parameters())
    names = ['backbone.conv1.weight', 'det_head.conv_cate.weight', 'det_head.conv_ima.weight',
             'det_head.conv_cma.weight', 'rec_head.lstm.weight_ih_l0']
    rec = torch.autograd.grad(losses['loss_rec'], [params[n] for n in names],
                              allow_unused=True, retain_graph=True)
    # Recognition reaches the backbone and both attentions (the IMA gates the CMA), not the
    # category logits.
    assert rec[1] is None
    assert all(g.abs().sum() > 0 for i, g in enumerate(rec) if i != 1)
    cate, mask = (torch.autograd.grad(losses[k], [params[n] for n in names[:3]],
                                      allow_unused=True, retain_graph=True)
                  for k in ('loss_cate', 'loss_mask'))
    assert cate[0].abs().sum() > 0 and cate[1].abs().sum() > 0 and cate[2] is None
    assert mask[0].abs().sum() > 0 and mask[1] is None and mask[2].abs().sum() > 0


def test_loss_trains_the_recogniser_on_every_text_cell_or_on_the_centre_cells(spotter):
    data = train_batch(spotter)
    gts = [s.gt_instances for s in data['data_samples']]
    feat = spotter.extract_feat(data['inputs'])[0]
    maps = spotter.det_head(feat)
    input_shape = tuple(data['inputs'].shape[-2:])
    targets = grid_targets(WORDS, input_shape, NUM_GRID)
    positive = np.flatnonzero(targets['labels'] == 1)
    rec = spotter._gt_recognition(feat, maps, gts, 'positive')
    assert rec.num_per_img == [len(positive), 0] and len(positive) > 2
    words = spotter.rec_head.indices_to_texts(rec.targets)
    assert words == [['ab', 'cde'][k] for k in targets['instance'][positive]]
    centre = spotter._gt_recognition(feat, maps, gts, 'centre')
    assert centre.num_per_img == [2, 0]
    assert spotter.rec_head.indices_to_texts(centre.targets) == ['ab', 'cde']
    # The centre cells' features are rows of the positive cells' ones.
    rows = [positive.tolist().index(c) for c in targets['centre_cells']]
    torch.testing.assert_close(centre.roi_feats, rec.roi_feats[rows])


def test_gt_recognition_reads_the_centre_cells_and_leaves_out_dont_care(spotter):
    data = train_batch(spotter)
    losses, rec = spotter.loss_and_gt_recognition(data['inputs'], data['data_samples'])
    assert set(losses) == {'loss_cate', 'loss_mask'}
    assert rec.num_per_img == [2, 0]
    assert rec.roi_feats.shape == (2, CHANNELS, 1, MAX_SEQ_LEN + 1)
    assert rec.context.shape == (2, MAX_SEQ_LEN + 1, 16)
    targets, valid = spotter.rec_head.encode_texts(['ab', 'cde'])
    assert torch.equal(rec.targets, targets) and torch.equal(rec.valid, valid)
    feats = spotter.extract_feat(data['inputs'])
    maps = spotter.det_head(feats[0])
    centres = grid_targets(WORDS, tuple(data['inputs'].shape[-2:]), NUM_GRID)['centre_cells']
    expected = spotter.det_head.sequence_features(feats[0], maps, torch.tensor([0, 0]),
                                                  torch.from_numpy(centres))
    roi_feats, num_per_img = spotter.gt_roi_feats(feats, [s.gt_instances for s in
                                                          data['data_samples']])
    assert num_per_img == [2, 0]
    torch.testing.assert_close(roi_feats, expected)
    torch.testing.assert_close(spotter.encode_context(roi_feats), rec.context)
    full = spotter.rec_head.position_log_probs(rec.context)
    torch.testing.assert_close(spotter.step_log_probs(rec.context, rec.targets),
                               full[:, :rec.targets.size(1)])


def test_recognition_loss_of_no_instance_is_a_zero_on_every_recognition_parameter(spotter):
    data = spotter.data_preprocessor(batch(packed_sample([], [], seed=3)), True)
    losses, rec = spotter.loss_and_gt_recognition(data['inputs'], data['data_samples'])
    assert len(rec) == 0 and torch.isfinite(losses['loss_mask'])
    loss = spotter.recognition_loss(rec)['loss_rec']
    assert float(loss.detach()) == 0
    loss.backward()
    assert all(p.grad is not None for p in spotter.rec_head.parameters())
    assert spotter.det_head.conv_cma.weight.grad is not None
    assert spotter.backbone.conv1.weight.grad is not None


def test_mask_polygon_is_the_min_area_rectangle_of_the_largest_component():
    mask = np.zeros((8, 12), bool)
    mask[1:3, 2:6] = True  # 8 pixels: x 2..5, y 1..2
    mask[6, 10] = True  # a stray pixel
    # Pixel squares [1.5, 5.5] x [0.5, 2.5] -> input (x + 0.5) * 4: [8, 24] x [4, 12].
    np.testing.assert_allclose(mask_polygon(mask, 4, (32, 48)), rect(8, 4, 24, 12), atol=1e-4)
    # Clipped to the image.
    np.testing.assert_allclose(mask_polygon(mask, 4, (10, 20)), rect(8, 4, 20, 10), atol=1e-4)


def test_predict_reports_words_in_the_original_frame(spotter, monkeypatch):
    # The input is the original image resized by 0.5: its words are reported at twice the size.
    words = [rect(40, 20, 120, 52), rect(16, 80, 80, 104)]
    data = spotter.data_preprocessor(
        batch(packed_sample(words, ['ab', 'c'], shape=(128, 192), scale=0.5, seed=4)), False)
    maps = head_maps(words, tuple(data['inputs'].shape[-2:]))
    monkeypatch.setattr(spotter.det_head, 'forward', lambda feat: maps)
    spotter.eval()
    with torch.no_grad():
        [result] = spotter.predict(data['inputs'], data['data_samples'], rescale=True)
    pred = result.pred_instances
    assert len(pred) == 2 and len(pred.texts) == 2 and pred.text_scores.shape == (2, )
    assert torch.equal(pred.labels, torch.zeros(2, dtype=torch.long))
    # sigmoid(10) for the cell, times the mean mask probability sigmoid(10).
    torch.testing.assert_close(pred.scores, torch.full((2, ), torch.sigmoid(
        torch.tensor(10.)).item() ** 2))
    order = np.argsort([p[1] for p in pred.polygons])
    for i, word in zip(order, words):
        # The mask is the word's pixels exactly: its rectangle is the word's.
        np.testing.assert_allclose(pred.polygons[i], word * 2, atol=1e-3)
        np.testing.assert_allclose(pred.bboxes[i].numpy(), [word[0] * 2, word[1] * 2,
                                                            word[4] * 2, word[5] * 2], atol=1e-3)
    # The texts are what the recogniser reads at the words' centre cells.
    feats = spotter.extract_feat(data['inputs'])
    roi, _ = spotter.gt_roi_feats(feats, [InstanceData(polygons=[words[i] for i in order])])
    assert [pred.texts[i] for i in order] == spotter.rec_head.predict(roi)[0]
    # The project's metric reads the results (GT in the original frame): both words detected,
    # both predictions with their texts in the end-to-end count.
    result.gt_instances.polygons = [w * 2 for w in words]
    metric = E2ESpottingMetric(iou_thr=0.1)
    metric.dataset_meta = {}
    metric.process({}, [result.to_dict()])
    scores = metric.evaluate(1)
    assert scores['det/hmean'] == 1.0 and scores['e2e/none/num_det'] == 2
    with torch.no_grad():
        [unscaled] = spotter.predict(data['inputs'], data['data_samples'], rescale=False)
    np.testing.assert_allclose(unscaled.pred_instances.polygons[0] * 2, pred.polygons[0],
                               rtol=1e-6)


def test_matrix_nms_drops_a_duplicate_cell_and_thresholds_apply(spotter, monkeypatch):
    words = [rect(40, 20, 120, 52)]
    sample = packed_sample(words, ['ab'], shape=(128, 192), scale=0.5, seed=5)
    gt = sample['data_samples'].gt_instances
    gt.polygons = [p * 2 for p in gt.polygons]  # test pipelines keep the GT in the original frame
    data = spotter.data_preprocessor(batch(sample), False)
    maps = head_maps(words, tuple(data['inputs'].shape[-2:]))
    # A second cell predicts the same mask with a lower score: (linear) Matrix NMS decays it
    # to 0.
    cell = int(maps.cate_logits[0].argmax())
    maps.cate_logits[0, cell + 1] = 2.
    maps.ima_kernels[0, cell + 1] = maps.ima_kernels[0, cell]
    monkeypatch.setattr(spotter.det_head, 'forward', lambda feat: maps)
    spotter.eval()
    spotter.test_cfg.update(rec_on_gt=True)
    with torch.no_grad():
        [result] = spotter.predict(data['inputs'], data['data_samples'])
    assert len(result.pred_instances) == 1
    [gt_text] = result.pred_gt_texts
    feats = spotter.extract_feat(data['inputs'])
    crops, _ = spotter.gt_roi_feats(feats, [InstanceData(polygons=words)])
    assert gt_text == spotter.rec_head.predict(crops)[0][0]
    spotter.test_cfg.update(score_thr=0.99995)  # above sigmoid(10) ** 2 = 0.99991
    with torch.no_grad():
        [result] = spotter.predict(data['inputs'], data['data_samples'])
    assert len(result.pred_instances) == 0 and result.pred_instances.texts == []


class TensorForward(torch.nn.Module):
    """``spotter._forward(inputs)`` as a module (what the counter traces)."""

    def __init__(self, spotter: MANGOSpotter) -> None:
        super().__init__()
        self.spotter = spotter

    def forward(self, inputs):
        return self.spotter._forward(inputs)


def test_tensor_forward_is_counted_with_the_mask_attention(spotter, monkeypatch):
    words = [rect(40, 20, 120, 52), rect(16, 80, 80, 104)]
    inputs = torch.randn(1, 3, 128, 192)
    maps = head_maps(words, (128, 192))
    spotter.eval()
    cate, mask_feats, roi_feats, context = spotter._forward(inputs)
    assert cate.shape == (1, NUM_GRID**2) and mask_feats.shape[-2:] == (32, 48)
    monkeypatch.setattr(spotter.det_head, 'forward', lambda feat: maps)
    cate, mask_feats, roi_feats, context = spotter._forward(inputs)
    assert roi_feats.shape == (2, CHANNELS, 1, MAX_SEQ_LEN + 1)
    assert context.shape == (2, MAX_SEQ_LEN + 1, 16)
    count = count_flops(TensorForward(spotter), (inputs, ))
    # The gathering: 2 words x L positions x C channels x H x W multiply-adds.
    assert count.by_module['spotter.rec_head.lstm'] > 0 and count.by_module['spotter.backbone'] > 0
    assert count.total > count.by_module['spotter.backbone'] + count.by_module['spotter.neck'] + \
        2 * (MAX_SEQ_LEN + 1) * CHANNELS * 32 * 48
