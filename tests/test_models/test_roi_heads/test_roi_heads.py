"""Tests of SpottingRoIHead (box + mask + recognition) and the mask -> polygon helpers."""
from unittest import mock

import cv2
import numpy as np
import pytest
import torch
from helpers import det_sample as data_sample
from helpers import rect
from helpers import text_instances as gt_instances
from mmdet.structures.mask import PolygonMasks
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData

from mmdld.models.roi_heads import SpottingRoIHead, box_polygon, mask_to_polygon
from mmdld.models.spotters import GTRecognition
from mmdld.registry import MODELS

C = 8  # feature channels


def head_cfg(**test_cfg):
    rcnn_test = dict(score_thr=0.0, nms=dict(type='nms', iou_threshold=0.5), max_per_img=10,
                     mask_thr_binary=0.5)
    rcnn_test.update(test_cfg)
    return dict(
        type='SpottingRoIHead',
        bbox_roi_extractor=dict(
            type='SingleRoIExtractor', roi_layer=dict(type='RoIAlign', output_size=7,
                                                      sampling_ratio=0),
            out_channels=C, featmap_strides=[4, 8]),
        bbox_head=dict(
            type='Shared2FCBBoxHead', in_channels=C, fc_out_channels=16, roi_feat_size=7,
            num_classes=1,
            bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0., 0., 0., 0.],
                            target_stds=[0.1, 0.1, 0.2, 0.2]),
            loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
            loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
        mask_roi_extractor=dict(
            type='SingleRoIExtractor', roi_layer=dict(type='RoIAlign', output_size=14,
                                                      sampling_ratio=0),
            out_channels=C, featmap_strides=[4, 8]),
        mask_head=dict(type='FCNMaskHead', num_convs=1, in_channels=C, conv_out_channels=C,
                       num_classes=1),
        rec_roi_extractor=dict(type='RoIMaskingExtractor', out_channels=C, featmap_strides=[4]),
        rec_head=dict(type='BiLSTMAttnHead', in_channels=C, conv_channels=8, lstm_hidden=8,
                      embed_dims=8, attn_dims=8, decoder_hidden=8, max_seq_len=10),
        train_cfg=ConfigDict(
            assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.5,
                          min_pos_iou=0.5, match_low_quality=True, ignore_iof_thr=-1),
            sampler=dict(type='RandomSampler', num=32, pos_fraction=0.25, neg_pos_ub=-1,
                         add_gt_as_proposals=True),
            mask_size=28, pos_weight=-1, debug=False),
        test_cfg=ConfigDict(rcnn_test))


def build_head(**test_cfg) -> SpottingRoIHead:
    return MODELS.build(head_cfg(**test_cfg))


def feats(batch=1, h=32, w=48, value=None):
    """Two FPN levels (strides 4 and 8) of a (4h x 4w) input."""
    if value is not None:
        return (torch.full((batch, C, h, w), value), torch.full((batch, C, h // 2, w // 2), value))
    return (torch.randn(batch, C, h, w), torch.randn(batch, C, h // 2, w // 2))


def proposals(boxes):
    boxes = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    return InstanceData(bboxes=boxes, scores=torch.linspace(0.9, 0.5, len(boxes)))


# --------------------------------------------------------------------- gt_recognition
def test_gt_recognition_shapes_and_order():
    head = build_head()
    batch = [gt_instances([rect(10, 10, 90, 40), rect(20, 60, 180, 100)], ['AB', 'HELLO']),
             gt_instances([], []),
             gt_instances([rect(30, 30, 60, 90)], ['XYZ'])]
    out = head.gt_recognition(feats(batch=3), batch)
    assert isinstance(out, GTRecognition) and len(out) == 3
    assert out.num_per_img == [2, 0, 1]
    assert out.roi_feats.shape == (3, C, 8, 32)
    assert out.context.shape == (3, 32, 16)
    assert out.targets.shape == (3, 6) and out.targets.dtype == torch.long
    assert out.valid.sum(1).tolist() == [3, 6, 4]  # characters + END
    # Row order is the images' GT order: the targets decode back to the words.
    assert head.rec_head.indices_to_texts(out.targets) == ['AB', 'HELLO', 'XYZ']


@pytest.mark.parametrize('masks', ['polygon', 'bitmap', 'none'])
def test_gt_recognition_masks_with_the_gt_mask(masks):
    """On a constant feature map, F_roi is the GT mask cropped to the box: the left half of
    the box is text, the right half background."""
    head = build_head()
    poly = rect(16, 16, 80, 48)  # the left half of the box below
    gt = gt_instances([poly], ['A'], masks=masks)
    gt.bboxes = torch.tensor([[16., 16., 144., 48.]])
    if masks == 'none':
        gt.polygons = [poly]  # the test-time case: masks are built from the polygons
    f = head.gt_recognition(feats(value=1.0), [gt]).roi_feats[0]
    assert torch.allclose(f[:, :, :15], torch.ones_like(f[:, :, :15]), atol=1e-5)
    assert torch.allclose(f[:, :, 17:], torch.zeros_like(f[:, :, 17:]), atol=1e-5)


def test_gt_recognition_without_texts_is_an_error():
    head = build_head()
    gt = gt_instances([rect(10, 10, 90, 40)], ['AB'])
    gt2 = InstanceData(bboxes=torch.tensor([[1., 1., 20., 20.]]), labels=torch.zeros(1).long())
    with pytest.raises(ValueError, match='gt_instances of image 1 in the batch have no `texts`'):
        head.gt_recognition(feats(batch=2), [gt, gt2])


# ---------------------------------------------------------------------------- losses
def test_loss_has_detection_and_recognition_terms_with_gradients():
    head = build_head()
    x = tuple(f.requires_grad_() for f in feats(batch=2))
    samples = [data_sample(gt_instances([rect(10, 10, 90, 40), rect(20, 60, 180, 100)],
                                        ['AB', 'HELLO'])),
               data_sample(gt_instances([rect(30, 30, 60, 90)], ['XYZ']))]
    rpn = [proposals([[8, 8, 92, 44], [0, 0, 50, 50]]), proposals([[28, 28, 62, 92]])]
    losses = head.loss(x, rpn, samples)
    assert {'loss_cls', 'loss_bbox', 'loss_mask', 'loss_rec'} <= set(losses)
    # loss_rec is the recogniser's cross entropy of the GT crops.
    out = head.gt_recognition(x, [s.gt_instances for s in samples])
    logits = head.rec_head.forward_train(out.context, out.targets)
    expected = head.rec_head.loss_from_logits(logits, out.targets, out.valid)
    torch.testing.assert_close(losses['loss_rec'], expected)
    head.zero_grad()
    losses['loss_rec'].backward()
    assert x[0].grad is not None and x[0].grad.abs().sum() > 0
    assert x[1].grad is None or x[1].grad.abs().sum() == 0  # the rec branch reads stride 4 only
    assert all(p.grad is not None for p in head.rec_head.parameters())


def test_deferring_recognition_hands_back_the_gt_recognition_instead_of_loss_rec():
    head = build_head()
    x = feats(batch=2)
    samples = [data_sample(gt_instances([rect(10, 10, 90, 40)], ['AB'])),
               data_sample(gt_instances([rect(30, 30, 60, 90)], ['XYZ']))]

    def rpn():  # StandardRoIHead.loss turns the proposals' boxes into priors in place
        return [proposals([[8, 8, 92, 44]]), proposals([[28, 28, 62, 92]])]

    torch.manual_seed(0)
    full = head.loss(x, rpn(), samples)
    torch.manual_seed(0)
    with head.deferring_recognition() as recognitions:
        deferred = head.loss(x, rpn(), samples)
    # The same box and mask losses (same sampling), no recognition loss, one record.
    assert set(full) - set(deferred) == {'loss_rec'}
    for key in deferred:
        torch.testing.assert_close(deferred[key], full[key])
    assert len(recognitions) == 1 and recognitions[0].num_per_img == [1, 1]
    # Its recognition loss is the head's loss_rec.
    torch.testing.assert_close(head.recognition_loss(recognitions[0])['loss_rec'],
                               full['loss_rec'])
    # Outside the context the head computes loss_rec again.
    assert 'loss_rec' in head.loss(x, rpn(), samples)


def test_recognition_loss_of_no_instance_keeps_every_term_in_the_graph():
    head = MODELS.build(dict(head_cfg(), rec_head=dict(head_cfg()['rec_head'], aux_ctc_weight=1.)))
    x = tuple(f.requires_grad_() for f in feats(batch=1))
    losses = head.recognition_loss(head.gt_recognition(x, [gt_instances([], [])]))
    assert set(losses) == {'loss_rec', 'loss_rec_ctc'}
    sum(losses.values()).backward()
    assert all(v.item() == 0 for v in losses.values())
    assert all(p.grad is not None for p in head.rec_head.parameters())


def test_loss_without_gt_is_zero_with_a_graph():
    head = build_head()
    x = tuple(f.requires_grad_() for f in feats(batch=2))
    samples = [data_sample(gt_instances([], [])), data_sample(gt_instances([], []))]
    rpn = [proposals([[8, 8, 92, 44]]), proposals([[28, 28, 62, 92]])]
    losses = head.loss(x, rpn, samples)
    assert losses['loss_rec'].item() == 0.0 and losses['loss_rec'].requires_grad
    total = sum(v for k, v in losses.items() if k.startswith('loss'))
    assert torch.isfinite(total)
    total.backward()
    for p in head.rec_head.parameters():
        assert p.grad is not None and torch.all(p.grad == 0)


# --------------------------------------------------------------------------- predict
def test_predict_outputs_in_the_original_frame():
    head = build_head().eval()
    x = feats()
    sample = data_sample(gt_instances([rect(10, 10, 90, 40)], ['AB']), scale=2.0)
    rpn = [proposals([[10, 10, 90, 40], [100, 60, 180, 110], [12, 12, 88, 38]])]
    with torch.no_grad():
        res = head.predict(x, rpn, [sample], rescale=True)[0]
        raw = head.predict(x, [proposals([[10, 10, 90, 40], [100, 60, 180, 110],
                                          [12, 12, 88, 38]])], [sample], rescale=False)[0]
    m = len(res)
    assert m >= 1
    assert res.masks.shape == (m, 64, 96) and res.masks.dtype == torch.bool
    torch.testing.assert_close(res.bboxes, raw.bboxes / 2)
    assert raw.masks.shape == (m, 128, 192)
    assert isinstance(res.texts, list) and len(res.texts) == m
    assert all(isinstance(t, str) for t in res.texts)
    assert res.text_scores.shape == (m, )
    assert (res.text_scores >= 0).all() and (res.text_scores <= 1).all()
    assert res.texts == raw.texts  # recognition reads the input frame either way
    assert len(res.polygons) == m
    for poly, box in zip(res.polygons, res.bboxes.numpy()):
        assert poly.dtype == np.float32 and poly.size >= 6 and poly.size % 2 == 0
        assert (poly[0::2] >= box[0] - 1).all() and (poly[0::2] <= box[2] + 1).all()
        assert (poly[1::2] >= box[1] - 1).all() and (poly[1::2] <= box[3] + 1).all()
    assert 'pred_gt_texts' not in sample.metainfo


def test_predict_reads_detections_with_their_predicted_masks():
    head = build_head().eval()
    x = feats()
    calls = []
    original = head.rec_roi_extractor.forward

    def spy(feats_, rois, roi_masks=None):
        calls.append((rois.clone(), None if roi_masks is None else roi_masks.clone()))
        return original(feats_, rois, roi_masks)

    sample = data_sample(gt_instances([], []))
    with (mock.patch.object(head.rec_roi_extractor, 'forward', side_effect=spy),
          torch.no_grad()):
        res = head.predict(x, [proposals([[10, 10, 90, 40], [100, 60, 180, 110]])],
                           [sample], rescale=False)[0]
    rois, roi_masks = calls[0]
    torch.testing.assert_close(rois[:, 1:], res.bboxes)
    assert roi_masks.shape == (len(res), 28, 28)
    assert set(roi_masks.unique().tolist()) <= {0.0, 1.0}


def test_predict_without_detections():
    head = build_head().eval()
    sample = data_sample(gt_instances([], []), scale=2.0)
    with torch.no_grad():
        res = head.predict(feats(), [proposals([])], [sample], rescale=True)[0]
    assert res.bboxes.shape == (0, 4) and res.masks.shape == (0, 64, 96)
    assert res.texts == [] and res.polygons == [] and res.text_scores.shape == (0, )


def test_predict_can_drop_masks():
    head = build_head(return_masks=False).eval()
    with torch.no_grad():
        res = head.predict(feats(), [proposals([[10, 10, 90, 40]])],
                           [data_sample(gt_instances([], []))])[0]
    assert 'masks' not in res and len(res.polygons) == len(res)


def test_rec_on_gt_reads_gt_scaled_into_the_input_frame():
    head = build_head(rec_on_gt=True).eval()
    calls = []
    original = head.rec_roi_extractor.forward

    def spy(feats_, rois, roi_masks=None):
        calls.append((rois.clone(), roi_masks.clone()))
        return original(feats_, rois, roi_masks)

    # GT in the original frame (half the input size); the left half of each box is text.
    gts = gt_instances([rect(8, 8, 24, 16), rect(40, 20, 56, 40)], ['AB', 'C'], masks=None)
    gts.bboxes = torch.tensor([[8., 8., 40., 16.], [40., 20., 72., 40.]])
    sample = data_sample(gts, scale=2.0)
    with (mock.patch.object(head.rec_roi_extractor, 'forward', side_effect=spy),
          torch.no_grad()):
        head.predict(feats(), [proposals([])], [sample], rescale=True)
    rois, roi_masks = calls[-1]
    torch.testing.assert_close(rois, torch.tensor([[0., 16., 16., 80., 32.],
                                                   [0., 80., 40., 144., 80.]]))
    assert torch.all(roi_masks[:, :, :13] == 1) and torch.all(roi_masks[:, :, 15:] == 0)
    texts = sample.metainfo['pred_gt_texts']
    assert isinstance(texts, list) and len(texts) == 2
    assert all(isinstance(t, str) for t in texts)


def test_tensor_forward_includes_recognition():
    head = build_head()
    outs = head.forward(feats(), [proposals([[10, 10, 90, 40], [100, 60, 180, 110]])])
    cls_score, bbox_pred, mask_preds, context = outs
    assert cls_score.shape == (2, 2) and mask_preds.shape == (2, 1, 28, 28)
    assert context.shape == (2, 32, 16)


def test_head_without_mask_branch_is_rejected():
    cfg = head_cfg()
    cfg.pop('mask_head')
    cfg.pop('mask_roi_extractor')
    with pytest.raises(ValueError, match='needs `mask_roi_extractor`/`mask_head`'):
        MODELS.build(cfg)


# ---------------------------------------------------------------- mask -> polygon
def test_mask_to_polygon_rectangle_and_fallbacks():
    mask = np.zeros((60, 100), bool)
    mask[10:30, 20:80] = True
    poly = mask_to_polygon(mask, np.array([20, 10, 80, 30]))
    pts = poly.reshape(-1, 2)
    assert sorted(map(tuple, pts.tolist())) == [(20, 10), (20, 29), (79, 10), (79, 29)]
    # Empty mask inside the box: the box outline.
    np.testing.assert_array_equal(mask_to_polygon(np.zeros((60, 100), bool),
                                                  np.array([5, 6, 50, 20])),
                                  box_polygon([5, 6, 50, 20]))


def test_mask_to_polygon_keeps_the_largest_component_and_simplifies_curves():
    mask = np.zeros((200, 300), np.uint8)
    cv2.ellipse(mask, (150, 200), (120, 120), 0, 200, 340, 1, thickness=30)  # curved word
    mask[5:8, 5:8] = 1  # a speck
    mask = mask.astype(bool)
    poly = mask_to_polygon(mask, np.array([0, 0, 300, 200]))
    contour_len = len(cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                       cv2.CHAIN_APPROX_NONE)[-2][0])
    assert 3 <= poly.size // 2 < contour_len // 4
    back = PolygonMasks([[poly]], 200, 300).to_ndarray()[0].astype(bool)
    assert back[5:8, 5:8].sum() == 0
    assert (back & mask).sum() / (back | mask).sum() > 0.9


def test_jitter_gt_instances_keeps_originals_and_moves_copies_within_ratio():
    from mmdld.models.roi_heads.spotting_roi_head import jitter_gt_instances
    gt = gt_instances([rect(10, 10, 110, 30), rect(20, 60, 60, 100)], ['hello', 'ab'])
    out = jitter_gt_instances(gt, num=3, ratio=0.2)
    assert len(out) == 8
    assert out.texts == ['hello', 'ab'] * 4
    assert torch.equal(out.bboxes[:2], gt.bboxes)
    size = (gt.bboxes[:, 2:] - gt.bboxes[:, :2]).repeat(1, 2).repeat(3, 1)
    moves = out.bboxes[2:] - gt.bboxes.repeat(3, 1)
    assert (moves.abs() <= 0.2 * size + 1e-4).all() and moves.abs().max() > 0
    assert (out.bboxes[:, 2:] > out.bboxes[:, :2]).all()
    # Masks follow their instance: copy k of instance i is cropped from GT mask i.
    assert len(out.masks) == 8 and out.masks.masks[6][0] is gt.masks.masks[0][0]
    assert jitter_gt_instances(gt, num=0, ratio=0.2) is gt


def test_rec_train_jitter_adds_samples_to_loss_rec_only():
    head = MODELS.build(dict(head_cfg(), rec_train_jitter=dict(num=2, ratio=0.1)))
    x = feats()
    gts = [gt_instances([rect(10, 10, 110, 30), rect(20, 60, 60, 100)], ['hello', 'ab'])]
    seen = []
    original = head.rec_head.forward_train

    def spy(context, targets):
        seen.append(targets.size(0))
        return original(context, targets)

    with mock.patch.object(head.rec_head, 'forward_train', side_effect=spy):
        loss = head.rec_loss(x, gts)['loss_rec']
    assert seen == [6] and torch.isfinite(loss)
    # Distillation reads the GT boxes only.
    assert len(head.gt_recognition(x, gts)) == 2
    with pytest.raises(ValueError, match='roi_head.rec_train_jitter'):
        MODELS.build(dict(head_cfg(), rec_train_jitter=dict(num=2, ratio=0.7)))
