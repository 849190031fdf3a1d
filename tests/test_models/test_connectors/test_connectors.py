"""Tests of the student-teacher connectors and of Table 4's deconv student in DLD."""
import copy
import functools
import os.path as osp

import pytest
import torch
from helpers import CONFIG_DIR, batch, packed_sample, rect
from mmengine.config import Config

from mmdld.models.connectors import (DeconvFeatureAligner, RoIAlignModule,
                                     SuperResolvedRoIExtractor)
from mmdld.registry import MODELS

TINY = osp.join(CONFIG_DIR, 'spotter', 'maskrcnn_r18_fpn_spotter_synthetic_tiny.py')
ABLATIONS = osp.join(CONFIG_DIR, 'dld', 'ablations')
SCALES, COSTS, GFLOPS = (0.8, 0.5), [0.7, 0.4], [8.0, 5.0]

packed = functools.partial(packed_sample, shape=(96, 128))


def two_images():
    return batch(
        packed([rect(10, 20, 110, 45), rect(20, 55, 120, 85)], ['HELLO', 'world'], seed=1),
        packed([rect(30, 10, 90, 40)], ['xyz'], seed=3))


# ----------------------------------------------------------------------------- modules
def test_deconv_aligner_super_resolves_to_the_teacher_shape():
    aligner = MODELS.build(dict(type='DeconvFeatureAligner', in_channels=4, in_size=(8, 32),
                                out_size=(16, 64), out_channels=6))
    deconv = aligner.layers[0]
    assert isinstance(deconv, torch.nn.ConvTranspose2d)
    assert deconv.kernel_size == (2, 2) and deconv.stride == (2, 2)
    out = aligner(torch.randn(3, 4, 8, 32))
    assert out.shape == (3, 6, 16, 64)
    assert aligner(torch.zeros(0, 4, 8, 32)).shape == (0, 6, 16, 64)


def test_deconv_aligner_hand_set_weights_give_nearest_neighbour_upsampling():
    """With a deconvolution of ones, no activation and a 3x3 convolution that only keeps the
    centre, each input cell becomes a 2 x 4 patch of its value."""
    aligner = DeconvFeatureAligner(in_channels=1, in_size=(2, 3), out_size=(4, 12),
                                   act_cfg=None)
    deconv, conv = aligner.layers
    with torch.no_grad():
        deconv.weight.fill_(1.0)
        deconv.bias.zero_()
        conv.weight.zero_()
        conv.weight[0, 0, 1, 1] = 1.0
        conv.bias.zero_()
    x = torch.tensor([[[[1., 2., 3.], [4., 5., 6.]]]])
    expected = x.repeat_interleave(2, dim=2).repeat_interleave(4, dim=3)
    torch.testing.assert_close(aligner(x), expected)


@pytest.mark.parametrize('in_size, out_size', [((8, 32), (12, 64)), ((16, 64), (8, 32))])
def test_deconv_aligner_needs_integer_upsampling(in_size, out_size):
    with pytest.raises(ValueError, match='must be an integer multiple of `in_size`'):
        DeconvFeatureAligner(in_channels=4, in_size=in_size, out_size=out_size)


def test_roi_align_module_still_imports_from_losses():
    from mmdld.models.losses import RoIAlignModule as FromLosses
    assert FromLosses is RoIAlignModule
    assert MODELS.get('RoIAlignModule') is RoIAlignModule
    assert issubclass(DeconvFeatureAligner, RoIAlignModule)


def _extractor(**aligner):
    return SuperResolvedRoIExtractor(
        extractor=dict(type='RoIMaskingExtractor', out_channels=8, output_size=(8, 32)),
        aligner=dict(type='DeconvFeatureAligner', out_size=(16, 64), **aligner))


def test_super_resolved_extractor_crops_then_super_resolves():
    extractor = _extractor()
    assert (extractor.num_inputs, extractor.out_channels, extractor.output_size) == (1, 8,
                                                                                  (16, 64))
    feats = (torch.randn(2, 8, 24, 32), )
    rois = torch.tensor([[0., 4., 8., 100., 40.], [1., 10., 10., 60., 30.]])
    masks = torch.ones(2, 28, 28)
    small = extractor.extractor(feats, rois, masks)
    assert small.shape == (2, 8, 8, 32)
    torch.testing.assert_close(extractor(feats, rois, masks), extractor.aligner(small))

    with pytest.raises(ValueError, match=r'`aligner` reads 4 channels .* `extractor` gives 8'):
        _extractor(in_channels=4)


def test_super_resolved_extractor_keeps_its_aligner_when_the_state_dict_has_none():
    extractor = _extractor()
    before = copy.deepcopy(extractor.aligner.state_dict())
    result = extractor.load_state_dict({}, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    for key, value in extractor.aligner.state_dict().items():
        assert torch.equal(value, before[key]), key
    # A state dict that has the aligner's weights loads them, and all of them.
    other = _extractor()
    extractor.load_state_dict(other.state_dict(), strict=True)
    assert torch.equal(extractor.aligner.layers[0].weight, other.aligner.layers[0].weight)
    partial = {k: v for k, v in other.state_dict().items() if not k.endswith('bias')}
    with pytest.raises(RuntimeError, match='Missing key'):
        extractor.load_state_dict(partial, strict=True)


# ----------------------------------------------------------------------------- DLD, Table 4
def tiny_spotter(roi_size):
    cfg = Config.fromfile(TINY).model
    cfg.test_cfg.rcnn.update(dict(score_thr=0.0, max_per_img=5))
    h, w = roi_size
    cfg.roi_head.rec_roi_extractor.roi_layer.output_size = (2 * h, 2 * w)
    cfg.roi_head.rec_roi_extractor.output_size = (h, w)
    cfg.roi_head.rec_head.roi_size = (h, w)
    return cfg


def deconv_student():
    """The "†" student: 8 x 32 RoI-Masking, deconv to 16 x 64, the 16 x 64 teacher's head."""
    cfg = tiny_spotter((16, 64))
    small = tiny_spotter((8, 32)).roi_head.rec_roi_extractor
    cfg.roi_head.rec_roi_extractor = dict(
        type='SuperResolvedRoIExtractor', extractor=small,
        aligner=dict(type='DeconvFeatureAligner', out_size=(16, 64)))
    return cfg


def tiny_dld(student, **kwargs):
    args = dict(type='DLDDistiller', student=student, teacher=tiny_spotter((16, 64)),
                selector=dict(type='DynamicResolutionSelector', scales=SCALES,
                              input_size=(32, 32)),
                scale_costs=COSTS, scale_gflops=GFLOPS, selector_gflops=0.04)
    args.update(kwargs)
    return MODELS.build(args)


def _grads(loss, params):
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return [g for g in grads if g is not None and bool(g.abs().sum() > 0)]


def test_deconv_student_trains_against_a_larger_teacher_and_predicts():
    model = tiny_dld(deconv_student())
    aligner = model.student.roi_head.rec_roi_extractor.aligner
    assert model.roi_align is None  # the student reports the teacher's RoI size
    # Initialised from the teacher everywhere but the aligner, which the teacher lacks.
    teacher_sd = model.teacher.state_dict()
    for key, value in model.student.state_dict().items():
        if '.aligner.' not in key:
            assert torch.equal(value, teacher_sd[key]), key
    assert not any('.aligner.' in key for key in teacher_sd)

    teacher_params = list(model.teacher.parameters())
    for p in teacher_params:
        p.requires_grad_(True)
    model.train()
    data = model.data_preprocessor(two_images(), True)
    losses = model(**data, mode='loss')
    total, _ = model.parse_losses(losses)
    assert torch.isfinite(total)
    for key in ('loss_skd_roi', 'loss_skd_con', 'loss_skd_seq', 'loss_rec', 'loss_drs_acc'):
        assert torch.isfinite(losses[key]) and losses[key] > 0, key
    # L_roi and L_con each reach every weight of the deconvolution module.
    aligner_params = list(aligner.parameters())
    assert len(_grads(losses['loss_skd_roi'], aligner_params)) == len(aligner_params)
    assert len(_grads(losses['loss_skd_con'], aligner_params)) == len(aligner_params)
    assert not _grads(losses['loss_drs_acc'], aligner_params)
    # Nothing reaches the teacher, although its weights would take gradients.
    total.backward()
    assert all(p.grad is None or not bool(p.grad.any()) for p in teacher_params)

    model.eval()
    with torch.no_grad():
        results = model(**model.data_preprocessor(two_images(), False), mode='predict')
    for sample in results:
        assert sample.dld_scale in SCALES
        assert len(sample.pred_instances.texts) == len(sample.pred_instances.bboxes) > 0


def test_smaller_student_without_the_deconv_is_refused_with_the_fix():
    model = tiny_dld(tiny_spotter((8, 32)), init_student_from_teacher=False)
    assert isinstance(model.roi_align, RoIAlignModule)  # F_roi only
    model.train()
    data = model.data_preprocessor(two_images(), True)
    with pytest.raises(ValueError, match=r'ContextDistillLoss: .*\(3, 32, 128\) and .*'
                       r'\(3, 64, 128\).*SuperResolvedRoIExtractor.*DeconvFeatureAligner'):
        model(**data, mode='loss')
    # Without L_con (eta1 = 0) the F_roi connector suffices.
    no_con = tiny_dld(tiny_spotter((8, 32)), init_student_from_teacher=False,
                      skd_loss=dict(type='SKDLoss', eta1=0.0))
    no_con.train()
    losses = no_con(**no_con.data_preprocessor(two_images(), True), mode='loss')
    assert losses['loss_skd_con'].item() == 0
    roi_align = list(no_con.roi_align.parameters())
    assert len(_grads(losses['loss_skd_roi'], roi_align)) == len(roi_align)


# ----------------------------------------------------------------------------- configs
def test_table4_configs_follow_the_paper():
    teacher = Config.fromfile(
        osp.join(ABLATIONS, 'maskrcnn_r50_fpn_spotter_totaltext_roi16x64.py')).model
    assert tuple(teacher.roi_head.rec_roi_extractor.output_size) == (16, 64)
    assert tuple(teacher.roi_head.rec_head.roi_size) == (16, 64)

    both = Config.fromfile(osp.join(ABLATIONS, 'dld_r50_totaltext_roi16x64.py'))
    for spotter in (both.model.student, both.model.teacher):
        assert tuple(spotter.roi_head.rec_roi_extractor.output_size) == (16, 64)
        assert tuple(spotter.roi_head.rec_head.roi_size) == (16, 64)
        assert spotter.backbone.depth == 50

    dagger = Config.fromfile(
        osp.join(ABLATIONS, 'dld_r50_totaltext_roi16x64_student8x32_deconv.py'))
    assert dagger.model.teacher == both.model.teacher
    extractor = dagger.model.student.roi_head.rec_roi_extractor
    assert extractor.type == 'SuperResolvedRoIExtractor'
    assert extractor.extractor.type == 'RoIMaskingExtractor'
    assert tuple(extractor.extractor.output_size) == (8, 32)
    assert extractor.aligner.type == 'DeconvFeatureAligner'
    assert tuple(extractor.aligner.out_size) == (16, 64)
    assert tuple(dagger.model.student.roi_head.rec_head.roi_size) == (16, 64)
    for cfg in (both, dagger):
        assert cfg.model.type == 'DLDDistiller'
        assert tuple(cfg.model.selector.scales) == (0.8, 0.7, 0.6, 0.5, 0.4, 0.3)
        assert cfg.model.drs_loss.gamma == 0.1
        assert cfg.custom_hooks[0].by_epoch is True and cfg.train_cfg.max_epochs == 50


@pytest.mark.parametrize('name', ['dld_r50_totaltext_roi16x64.py',
                                  'dld_r50_totaltext_roi16x64_student8x32_deconv.py'])
def test_table4_configs_build(name):
    """The R50 distillers build (no download: the ImageNet ``init_cfg`` is not run)."""
    cfg = Config.fromfile(osp.join(ABLATIONS, name))
    model = MODELS.build(cfg.model)
    assert model.roi_align is None
    assert model.student.recognition_spec.roi_size == (16, 64)
    extractor = model.student.roi_head.rec_roi_extractor
    if 'deconv' in name:
        assert isinstance(extractor, SuperResolvedRoIExtractor)
        assert isinstance(extractor.aligner, DeconvFeatureAligner)
        assert extractor.extractor.output_size == (8, 32)
        out = extractor.aligner(torch.zeros(1, 256, 8, 32))
        assert out.shape == (1, 256, 16, 64)
    else:
        assert extractor.output_size == (16, 64)
