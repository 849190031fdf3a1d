"""Tests of MaskRCNNSpotter and of the spotter configs."""
import functools
import os.path as osp

import pytest
import torch
from helpers import CONFIG_DIR, batch, packed_sample, rect
from mmengine.config import Config

from mmdld.models.spotters import DistillableSpotter, GTRecognition, MaskRCNNSpotter
from mmdld.registry import MODELS

SMALL = osp.join(CONFIG_DIR, 'spotter', 'maskrcnn_r18_fpn_spotter_synthetic_small.py')
TINY = osp.join(CONFIG_DIR, 'spotter', 'maskrcnn_r18_fpn_spotter_synthetic_tiny.py')
TEACHERS = {
    'totaltext': 896,
    'icdar2015': 1280,
    'icdar2013': 768,
    'mixture': 896,  # validated on Total-Text
}


@pytest.fixture(scope='module')
def small_model():
    """The small config's model, at half backbone width and with few detections per image
    (as the demo config runs it) to keep the tests quick on 2 CPU cores."""
    torch.manual_seed(0)
    cfg = Config.fromfile(SMALL).model
    cfg.backbone.base_channels = 32
    cfg.neck.in_channels = [32, 64, 128, 256]
    cfg.test_cfg.rcnn.max_per_img = 5
    return MODELS.build(cfg)


packed = functools.partial(packed_sample, shape=(128, 160))


# --------------------------------------------------------------------------- model
def test_loss_trains_every_branch_including_images_without_text(small_model):
    model = small_model.train()
    data = model.data_preprocessor(
        batch(packed([rect(10, 20, 120, 50), rect(30, 70, 150, 110)], ['HELLO', 'world'],
                     ignored=[rect(5, 112, 60, 126)]),
              packed([], [], ignored=[rect(40, 40, 100, 60)])), True)
    losses = model(**data, mode='loss')
    for key in ('loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'loss_bbox', 'loss_mask',
                'loss_rec'):
        assert key in losses
    total, _ = model.parse_losses(losses)
    assert torch.isfinite(total) and losses['loss_rec'] > 0
    model.zero_grad()
    total.backward()
    for name in ('backbone.conv1.weight', 'rpn_head.rpn_conv.weight',
                 'roi_head.mask_head.conv_logits.weight', 'roi_head.rec_head.lstm.weight_ih_l0'):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_batch_without_any_text_trains(small_model):
    model = small_model.train()
    data = model.data_preprocessor(batch(packed([], []), packed([], [])), True)
    losses = model(**data, mode='loss')
    total, _ = model.parse_losses(losses)
    assert torch.isfinite(total)
    assert losses['loss_rec'].item() == 0.0
    total.backward()


def test_protocol_losses_are_the_spotters_own_without_loss_rec(small_model):
    model = small_model.train()
    assert isinstance(model, DistillableSpotter)
    spec = model.recognition_spec
    rec_head = model.roi_head.rec_head
    assert spec.dictionary == tuple(rec_head.dictionary.dict) and spec.roi_size == (8, 32)
    assert (spec.num_classes, spec.roi_channels, spec.feature_levels) == (
        rec_head.num_classes, rec_head.in_channels, 1)
    data = model.data_preprocessor(
        batch(packed([rect(10, 20, 120, 50), rect(30, 70, 150, 110)], ['HELLO', 'world']),
              packed([rect(20, 20, 90, 60)], ['ab'])), True)
    torch.manual_seed(3)
    own = model(**data, mode='loss')
    torch.manual_seed(3)
    losses, rec = model.loss_and_gt_recognition(data['inputs'], data['data_samples'])
    # MMDetection's TwoStageDetector.loss, with the recognition loss left to the caller.
    assert set(own) - set(losses) == {'loss_rec'}
    for key, value in losses.items():
        torch.testing.assert_close(value, own[key], msg=key)
    assert isinstance(rec, GTRecognition) and rec.num_per_img == [2, 1]
    assert rec.context.requires_grad
    torch.testing.assert_close(model.recognition_loss(rec)['loss_rec'], own['loss_rec'])
    # The decoding methods of the protocol agree with each other.
    with torch.no_grad():
        beams = model.beam_search(rec.context, beam_width=3, topk=2)
        best = model.sequence_log_prob(rec.context, beams.indices[:, 0], beams.valid[:, 0])
        steps = model.step_log_probs(rec.context, rec.targets)
    assert beams.indices.shape[:2] == (3, 2)
    torch.testing.assert_close(best, beams.log_probs[:, 0], atol=1e-4, rtol=1e-4)
    assert steps.shape == (3, rec.targets.size(1), spec.num_classes)


def test_predict_reports_in_the_original_frame(small_model):
    model = small_model.eval()
    model.roi_head.test_cfg.score_thr = 0.0  # an untrained model: keep whatever it finds
    item = packed([rect(10, 20, 120, 50)], ['HELLO'], scale=2.0)
    data = model.data_preprocessor(batch(item), False)
    with torch.no_grad():
        result = model(**data, mode='predict')[0]
    pred = result.pred_instances
    m = len(pred)
    assert m > 0
    assert pred.masks.shape == (m, 64, 80)
    assert (pred.bboxes[:, 2] <= 80 + 1e-3).all() and (pred.bboxes[:, 3] <= 64 + 1e-3).all()
    assert len(pred.texts) == m and len(pred.polygons) == m
    assert pred.text_scores.shape == (m, )
    assert pred.scores.shape == (m, )


def test_tensor_mode(small_model):
    model = small_model.eval()
    data = model.data_preprocessor(batch(packed([rect(10, 20, 120, 50)], ['HI'])), False)
    with torch.no_grad():
        (outs, ) = model(**data, mode='tensor')
    assert outs[-1].dim() == 3 and outs[-1].shape[1:] == (32, 128)  # F_con of the rec head


def test_spotter_needs_a_recognition_branch():
    cfg = Config.fromfile(SMALL).model
    cfg.roi_head.type = 'StandardRoIHead'
    for key in ('rec_roi_extractor', 'rec_head', 'rec_mask_size'):
        cfg.roi_head.pop(key)
    with pytest.raises(ValueError, match='RoI head with a recognition branch'):
        MODELS.build(cfg)
    cfg = Config.fromfile(SMALL).model
    cfg.pop('test_cfg')
    with pytest.raises(ValueError, match='test_cfg with `rpn` and `rcnn`'):
        MODELS.build(cfg)


# ------------------------------------------------------------------------- configs
@pytest.mark.parametrize('name, short', sorted(TEACHERS.items()))
def test_teacher_configs(name, short):
    cfg = Config.fromfile(osp.join(CONFIG_DIR, 'spotter', f'maskrcnn_r50_fpn_spotter_{name}.py'))
    assert cfg.default_scope == 'mmdld'
    model = cfg.model
    assert model.type == 'MaskRCNNSpotter' and model.roi_head.type == 'SpottingRoIHead'
    assert model.backbone.depth == 50
    assert model.backbone.init_cfg.type == 'Pretrained'
    assert model.backbone.init_cfg.checkpoint.endswith('resnet50-0676ba61.pth')
    assert model.neck.out_channels == 256
    assert model.rpn_head.anchor_generator.ratios == [0.17, 0.44, 1.13, 2.90, 7.46]
    assert model.roi_head.rec_roi_extractor.output_size == (8, 32)
    assert model.roi_head.rec_head.lstm_hidden == 256
    assert model.train_cfg.rpn.assigner.ignore_iof_thr == 0.5  # don't-care is not background
    assert model.train_cfg.rcnn.assigner.ignore_iof_thr == 0.5
    assert cfg.optim_wrapper.optimizer.type == 'AdamW' and cfg.optim_wrapper.optimizer.lr == 1e-3
    assert cfg.train_cfg.max_epochs == 50
    assert cfg.param_scheduler[-1].milestones == [30, 40]
    test_resize = cfg.test_dataloader.dataset.pipeline[1]
    assert min(test_resize.scale) == short and test_resize.keep_ratio
    assert cfg.test_evaluator.type == 'E2ESpottingMetric'
    train = cfg.train_dataloader.dataset
    members = train.datasets if train.type == 'ConcatDataset' else [train]
    for member in members:
        assert member.ann_file == 'textspotting_train.json'
        assert member.data_root.startswith('data/')
        resize = [t for t in member.pipeline if t.type == 'RandomResize'][0]
        assert resize.ratio_range == (0.3, 1.0)
        rotate = [t for t in member.pipeline if t.type == 'mmocr.RandomRotate'][0]
        assert rotate.max_angle == 15
    if name == 'mixture':
        roots = [m.data_root for m in members]
        assert roots == ['data/mlt2017', 'data/icdar2013', 'data/icdar2015', 'data/totaltext']


def test_teacher_model_builds():
    cfg = Config.fromfile(osp.join(CONFIG_DIR, 'spotter', 'maskrcnn_r50_fpn_spotter_totaltext.py'))
    model = MODELS.build(cfg.model)
    assert isinstance(model, MaskRCNNSpotter)
    n_params = sum(p.numel() for p in model.parameters())
    assert 40e6 < n_params < 80e6


def test_small_and_tiny_configs_inherit():
    with open(SMALL) as f:
        assert '_base_/models/mask_rcnn_r50_fpn_spotter.py' in f.read()
    small = Config.fromfile(SMALL)
    assert small.model.backbone.depth == 18 and small.model.backbone.init_cfg is None
    assert small.model.neck.in_channels == [64, 128, 256, 512]
    assert small.model.neck.out_channels == 64
    assert small.model.roi_head.rec_head.in_channels == 64
    # Inherited, not copied: the text anchors come from the base model.
    assert small.model.rpn_head.anchor_generator.ratios == [0.17, 0.44, 1.13, 2.90, 7.46]
    assert min(small.test_dataloader.dataset.pipeline[1].scale) == 320
    tiny = Config.fromfile(TINY)
    assert tiny.train_cfg.max_iters == 2
    assert tiny.model == small.model
    assert tiny.train_dataloader.dataset.data_root != small.train_dataloader.dataset.data_root
