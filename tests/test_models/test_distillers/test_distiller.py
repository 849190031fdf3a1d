"""Tests of DLDDistiller: teacher handling, gradient routing, batching, modes, inference."""
import copy
import functools
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import CONFIG_DIR, batch, packed_sample, rect
from mmdet.structures.mask import PolygonMasks
from mmengine.config import Config

from mmdld.engine.hooks import GumbelTemperatureHook
from mmdld.models.distillers import (DLDDistiller, group_by_index, instance_indices,
                                     merge_group_losses)
from mmdld.models.selectors import DynamicResolutionSelector
from mmdld.models.losses import DRSLoss
from mmdld.models.task_modules import count_predict_flops
from mmdld.models.utils import resize_batch
from mmdld.registry import MODELS

TINY = osp.join(CONFIG_DIR, 'spotter', 'maskrcnn_r18_fpn_spotter_synthetic_tiny.py')
SCALES = (0.8, 0.7, 0.6, 0.5, 0.4, 0.3)
COSTS = [0.83, 0.76, 0.69, 0.65, 0.61, 0.57]
GFLOPS = [9.5, 8.8, 8.0, 7.5, 7.0, 6.6]


def spotter_cfg(**rcnn_test):
    cfg = Config.fromfile(TINY).model
    # Random weights score low: keep every detection so that predictions are not empty.
    cfg.test_cfg.rcnn.update(dict(score_thr=0.0, max_per_img=10), **rcnn_test)
    return cfg


def distiller(**kwargs):
    cfg = spotter_cfg()
    args = dict(
        type='DLDDistiller',
        student=cfg,
        teacher=cfg,
        selector=dict(type='DynamicResolutionSelector', scales=SCALES, input_size=(32, 32)),
        scale_costs=COSTS,
        scale_gflops=GFLOPS,
        selector_gflops=0.04)
    args.update(kwargs)
    return MODELS.build(args)


@pytest.fixture(scope='module')
def dld():
    torch.manual_seed(0)
    return distiller()


packed = functools.partial(packed_sample, shape=(96, 128), seed=0)


def three_images():
    return batch(
        packed([rect(10, 20, 110, 45), rect(20, 55, 120, 85)], ['HELLO', 'world'], seed=1),
        packed([rect(5, 5, 60, 30)], ['ab'], shape=(80, 96), seed=2),
        packed([rect(30, 10, 90, 40)], ['xyz'], seed=3))


def preprocess(model, data, training):
    return model.data_preprocessor(data, training)


# ----------------------------------------------------------------------------- helpers
def test_group_by_index_and_instance_indices():
    groups = group_by_index(torch.tensor([3, 0, 3, 1]))
    assert groups == [(0, [1]), (1, [3]), (3, [0, 2])]
    # Images with 2, 0, 3, 1 instances: image 2 holds instances 2..4, image 0 holds 0..1.
    idx = instance_indices([2, 0, 3, 1], [2, 0, 1], torch.device('cpu'))
    assert idx.tolist() == [2, 3, 4, 0, 1]


def test_merge_group_losses_is_the_batch_mean():
    g1 = dict(loss_cls=torch.tensor(2.0), loss_rpn_cls=[torch.tensor(1.0), torch.tensor(3.0)])
    g2 = dict(loss_cls=torch.tensor(5.0), loss_rpn_cls=[torch.tensor(4.0), torch.tensor(0.0)])
    # 1 image at 2.0 and 2 images at 5.0: mean (2 + 5 + 5) / 3 = 4.
    merged = merge_group_losses([g1, g2], [1 / 3, 2 / 3])
    assert merged['loss_cls'].item() == pytest.approx(4.0)
    assert [v.item() for v in merged['loss_rpn_cls']] == pytest.approx([3.0, 1.0])
    with pytest.raises(ValueError, match='group 1 has losses'):
        merge_group_losses([g1, dict(loss_cls=torch.tensor(1.0))], [0.5, 0.5])


# ----------------------------------------------------------------------------- teacher
def test_teacher_is_frozen_hidden_and_moves_with_the_model(dld):
    teacher_params = {id(p) for p in dld.teacher.parameters()}
    assert teacher_params and not teacher_params & {id(p) for p in dld.parameters()}
    assert not any(p.requires_grad for p in dld.teacher.parameters())
    assert not any(k.startswith('teacher') for k in dld.state_dict())
    assert all(m is not dld.teacher for m in dld.modules())
    dld.train()
    assert dld.student.training and dld.selector.training and not dld.teacher.training
    assert not any(m.training for m in dld.teacher.modules())
    dld.double()
    try:
        assert next(dld.teacher.parameters()).dtype == torch.float64
        assert next(dld.student.parameters()).dtype == torch.float64
    finally:
        dld.float()
    assert next(dld.teacher.parameters()).dtype == torch.float32


def test_student_is_initialised_from_the_teacher(dld):
    teacher_sd = dld.teacher.state_dict()
    for key, value in dld.student.state_dict().items():
        assert torch.equal(value, teacher_sd[key]), key
    # Runner-style init: the selector is (re)initialised, the student copied again.
    with torch.no_grad():
        next(dld.student.parameters()).add_(1.0)
    dld.init_weights()
    key = next(iter(dld.student.state_dict()))
    assert torch.equal(dld.student.state_dict()[key], teacher_sd[key])


def test_teacher_in_state_dict_round_trip():
    model = distiller(teacher_in_state_dict=True)
    sd = model.state_dict()
    teacher_keys = [k for k in sd if k.startswith('teacher.')]
    assert len(teacher_keys) == len(model.teacher.state_dict())
    other = distiller(teacher_in_state_dict=True, init_student_from_teacher=False)
    key = 'teacher.backbone.conv1.weight'
    assert not torch.equal(other.state_dict()[key], sd[key])
    other.load_state_dict(sd, strict=True)
    assert torch.equal(other.teacher.backbone.conv1.weight, sd[key])
    # Without the option, teacher weights in a checkpoint are ignored, not "unexpected".
    plain = distiller(init_student_from_teacher=False)
    result = plain.load_state_dict(sd, strict=True)
    assert not result.missing_keys and not result.unexpected_keys


def test_teacher_checkpoint_is_loaded_strictly(tmp_path):
    cfg = spotter_cfg()
    good = MODELS.build(cfg)
    good_ckpt = tmp_path / 'teacher.pth'
    torch.save(dict(state_dict=good.state_dict(), meta=dict()), good_ckpt)
    model = distiller(teacher_ckpt=str(good_ckpt))
    assert torch.equal(model.teacher.backbone.conv1.weight, good.backbone.conv1.weight)
    assert torch.equal(model.student.backbone.conv1.weight, good.backbone.conv1.weight)

    narrow = spotter_cfg()
    narrow.neck.out_channels = 32
    bad_ckpt = tmp_path / 'narrow_teacher.pth'
    torch.save(dict(state_dict=MODELS.build(narrow).state_dict()), bad_ckpt)
    teacher_file = tmp_path / 'teacher_cfg.py'
    Config(dict(model=cfg)).dump(str(teacher_file))
    with pytest.raises(RuntimeError) as err:
        distiller(teacher=str(teacher_file), teacher_ckpt=str(bad_ckpt))
    msg = str(err.value)
    assert str(bad_ckpt) in msg and str(teacher_file) in msg
    assert 'shape mismatches' in msg and 'neck.lateral_convs.0.conv.weight' in msg
    # A model-dict teacher is named by its config key and architecture.
    with pytest.raises(RuntimeError, match=r'`model.teacher` \(MaskRCNNSpotter, ResNet-18, '
                       r'FPN-64\)'):
        distiller(teacher_ckpt=str(bad_ckpt))


def test_bad_configs_are_reported():
    with pytest.raises(ValueError, match='either `model.selector`'):
        distiller(fixed_scale=0.5)
    with pytest.raises(ValueError, match='`model.fixed_scale` must be a scale'):
        distiller(selector=None)
    with pytest.raises(ValueError, match='`model.scale_costs` needs one value per candidate'):
        distiller(scale_costs=[0.5, 0.4])
    other_dict = spotter_cfg()
    other_dict.roi_head.rec_head.max_seq_len = 16
    with pytest.raises(ValueError, match='same dictionary and max_seq_len'):
        distiller(student=other_dict, init_student_from_teacher=False)


# ----------------------------------------------------------------------------- training
def test_loss_keys_logs_and_hand_computed_drs_terms(dld):
    dld.train()
    dld.selector.temperature = 2.5
    data = preprocess(dld, three_images(), True)
    losses = dld(**data, mode='loss')
    for key in ('loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'loss_bbox', 'loss_mask',
                'loss_rec', 'loss_skd_roi', 'loss_skd_con', 'loss_skd_seq', 'loss_drs_acc',
                'loss_drs_flops'):
        assert key in losses, key
    for key in ('drs_avg_scale', 'drs_tau', 'drs_cost'):
        assert 'loss' not in key and key in losses
    assert losses['drs_tau'].item() == pytest.approx(2.5)
    # h is one-hot in the forward pass: L_flops = mean over images of T_chosen, so
    # drs_cost pins down the chosen scales' mean cost and drs_avg_scale their mean scale.
    cost = losses['drs_cost'].item()
    assert losses['loss_drs_flops'].item() == pytest.approx(0.1 * cost)
    assert min(COSTS) <= cost <= max(COSTS)
    assert min(SCALES) <= losses['drs_avg_scale'].item() <= max(SCALES)
    total, log_vars = dld.parse_losses(losses)
    assert torch.isfinite(total)
    assert 'drs_avg_scale' in log_vars


def _grads(loss, params):
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return [g for g in grads if g is not None and bool(g.abs().sum() > 0)]


def test_gradient_routing(dld):
    dld.train()
    data = preprocess(dld, three_images(), True)
    losses = dld(**data, mode='loss')
    drs = losses['loss_drs_acc'] + losses['loss_drs_flops']
    student_total = sum(
        (sum(v) if isinstance(v, list) else v) for k, v in losses.items()
        if 'loss' in k and not k.startswith('loss_drs'))
    selector_params = list(dld.selector.parameters())
    student_params = [p for p in dld.student.parameters() if p.requires_grad]
    teacher_params = list(dld.teacher.parameters())
    # L_DRS reaches the DRS, and only the DRS.
    assert _grads(drs, selector_params)
    assert not _grads(drs, student_params)
    # The student's losses reach the student and never the DRS.
    assert len(_grads(student_total, student_params)) > 0.8 * len(student_params)
    assert not _grads(student_total, selector_params)
    assert not any(p.requires_grad for p in teacher_params)
    dld.zero_grad()
    (drs + student_total).backward()
    assert all(p.grad is not None for p in selector_params if p.requires_grad)


def test_nothing_reaches_the_teacher_even_when_its_weights_require_grad(dld):
    """Isolation does not rest on ``requires_grad=False``: with every teacher weight
    switched to ``requires_grad=True``, the teacher runs without a graph (no grad) and the
    backward of every loss leaves its gradients empty."""
    teacher_params = list(dld.teacher.parameters())
    dld.train()
    data = preprocess(dld, three_images(), True)
    try:
        for p in teacher_params:
            p.requires_grad_(True)
            p.grad = None
        out = dld._teacher(data['inputs'], [s.gt_instances for s in data['data_samples']],
                           True, dld.teacher_beam_width, 1)
        for name, value in (('roi_feats', out.rec.roi_feats), ('context', out.rec.context),
                            ('step_log_probs', out.step_log_probs),
                            ('beam log_probs', out.beams.log_probs)):
            assert not value.requires_grad, name
        losses = dld(**data, mode='loss')
        total, _ = dld.parse_losses(losses)
        assert total.requires_grad
        total.backward()
        assert all(p.grad is None or not bool(p.grad.any()) for p in teacher_params)
        # The student did learn from the same step (so the check above is not vacuous).
        assert any(p.grad is not None and bool(p.grad.any()) for p in dld.student.parameters())
    finally:
        for p in teacher_params:
            p.requires_grad_(False)
            p.grad = None
        dld.zero_grad()


def test_k_scale_passes_are_batched(dld):
    dld.train()
    torch.manual_seed(3)
    data = preprocess(dld, three_images(), True)
    dld(**data, mode='loss')  # builds the folded copy that the k passes run
    shapes = []
    scale_pass_shapes = []
    handle = dld.student.backbone.register_forward_hook(
        lambda m, args, out: shapes.append(tuple(args[0].shape)))
    k_handle = dld.scale_pass.extractor.copy.backbone.register_forward_hook(
        lambda m, args, out: scale_pass_shapes.append(tuple(args[0].shape)))
    teacher_calls = []
    t_handle = dld.teacher.backbone.register_forward_hook(
        lambda m, args, out: teacher_calls.append(tuple(args[0].shape)))
    chosen = []
    sample = dld.selector.sample

    def recording_sample(*args, **kwargs):
        h, index = sample(*args, **kwargs)
        chosen.extend(index.tolist())
        return h, index

    dld.selector.sample = recording_sample
    try:
        torch.manual_seed(3)
        data = preprocess(dld, three_images(), True)
        dld(**data, mode='loss')
    finally:
        handle.remove()
        k_handle.remove()
        t_handle.remove()
        del dld.selector.sample
    num_imgs = data['inputs'].size(0)
    # k no-grad passes of the whole batch (on the folded copy), then one student pass per
    # distinct chosen scale (not k * B).
    assert len(chosen) == num_imgs
    assert len(scale_pass_shapes) == len(SCALES)
    assert all(s[0] == num_imgs for s in scale_pass_shapes)
    assert len(shapes) == len(set(chosen))
    assert sum(s[0] for s in shapes) == num_imgs
    assert teacher_calls == [tuple(data['inputs'].shape)]


def _scale_log_probs_one_by_one(model, data):
    """y_{s_i} by hand: one student pass and one recognition call per scale."""
    inputs, samples = data['inputs'], data['data_samples']
    model.student.eval()
    out = []
    with torch.no_grad():
        gts = [s.gt_instances for s in samples]
        targets = model.teacher.gt_recognition(model.teacher.extract_feat(inputs), gts).targets
        for scale in SCALES:
            small, small_samples = resize_batch(inputs, samples, scale, size_divisor=32)
            rec = model.student.gt_recognition(
                model.student.extract_feat(small), [s.gt_instances for s in small_samples])
            out.append(model.student.step_log_probs(rec.context, targets))
    model.student.train()
    return torch.stack(out), targets


def _scale_pass(model, data, targets):
    """The distiller's k no-grad passes (step 3) on a pre-processed batch."""
    return model.scale_pass(model.student, data['inputs'], data['data_samples'], model.scales,
                            targets, model._resize)


def test_stacked_recognition_of_the_k_scales_equals_one_pass_per_scale(dld):
    dld.train()
    data = preprocess(dld, three_images(), True)
    expected, targets = _scale_log_probs_one_by_one(dld, data)
    got = _scale_pass(dld, data, targets)
    assert got.shape == expected.shape == (len(SCALES), 4, targets.size(1),
                                           dld.student.recognition_spec.num_classes)
    assert torch.allclose(got, expected, atol=1e-4)
    assert dld.student.training  # restored after the eval-mode passes


def test_low_precision_scale_passes_stay_close_to_full_precision():
    model = distiller(scale_pass_dtype='bfloat16')
    model.train()
    data = preprocess(model, three_images(), True)
    expected, targets = _scale_log_probs_one_by_one(model, data)
    got = _scale_pass(model, data, targets)
    assert got.dtype == torch.float32
    # bfloat16 keeps ~3 significant digits: the distributions agree to a few hundredths.
    assert (got.exp() - expected.exp()).abs().max() < 0.05
    assert not torch.equal(got, expected)
    with pytest.raises(ValueError, match='`model.scale_pass_dtype` must be None'):
        distiller(scale_pass_dtype='bf16')


def test_low_precision_scale_passes_write_each_weight_once():
    # The k passes run a BatchNorm-folded bfloat16 copy of the backbone and neck: the stem's
    # weight is written into it once per step (refresh) and never cast by autocast, and no
    # BatchNorm runs.
    model = distiller(scale_pass_dtype='bfloat16')
    model.train()
    data = preprocess(model, three_images(), True)
    targets = torch.full((4, 3), 1, dtype=torch.long)
    stem_shape = list(model.student.backbone.conv1.weight.shape)
    _scale_pass(model, data, targets)
    with torch.profiler.profile(record_shapes=True) as prof:
        _scale_pass(model, data, targets)
    events = [e for e in prof.events() if e.input_shapes and e.input_shapes[0] == stem_shape]
    assert len([e for e in events if e.name == 'aten::_to_copy']) == 0
    assert len([e for e in events if e.name == 'aten::copy_']) == 1
    num_imgs = data['inputs'].size(0)
    norms = [e.input_shapes[0] for e in prof.events() if e.name == 'aten::native_batch_norm']
    # Only the recognition encoder's norms run (on the k x N crops), none on the images.
    assert norms and all(shape[0] == len(SCALES) * targets.size(0) for shape in norms)
    assert len(SCALES) * targets.size(0) != num_imgs
    assert model.scale_pass.extractor.copy.backbone.conv1.weight.dtype == torch.bfloat16


def test_skd_only_mode_equals_student_losses_plus_hand_computed_skd():
    model = distiller(selector=None, fixed_scale=0.5, scale_costs=None, scale_gflops=[7.5],
                      selector_gflops=None)
    model.train()
    data = preprocess(model, three_images(), True)
    torch.manual_seed(7)
    losses = model(**data, mode='loss')
    assert not any(k.startswith('loss_drs') or k.startswith('drs_') for k in losses)

    # The same step by hand: the student at half size (bilinear, per image), its own losses.
    inputs, samples = data['inputs'], data['data_samples']
    imgs, metas = [], []
    for img, sample in zip(inputs, samples):
        h, w = sample.img_shape
        nh, nw = round(h * 0.5), round(w * 0.5)
        imgs.append(F.interpolate(img[None, :, :h, :w], size=(nh, nw), mode='bilinear',
                                  align_corners=False)[0])
        metas.append((h, w, nh, nw))
    pad_h = max(-(-m[2] // 32) * 32 for m in metas)
    pad_w = max(-(-m[3] // 32) * 32 for m in metas)
    small = inputs.new_zeros(len(imgs), 3, pad_h, pad_w)
    small_samples = []
    for i, (img, sample, (h, w, nh, nw)) in enumerate(zip(imgs, samples, metas)):
        small[i, :, :nh, :nw] = img
        s = copy.deepcopy(sample)  # clone() would share gt_instances with `samples`
        s.set_metainfo(dict(img_shape=(nh, nw), batch_input_shape=(pad_h, pad_w),
                            pad_shape=(-(-nh // 32) * 32, -(-nw // 32) * 32),
                            scale_factor=(nw / w, nh / h)))
        gt = s.gt_instances
        gt.bboxes = gt.bboxes * torch.tensor([nw / w, nh / h, nw / w, nh / h])
        xy = np.array([nw / w, nh / h], np.float32)
        gt.masks = PolygonMasks([[p * np.tile(xy, len(p) // 2) for p in obj]
                                 for obj in gt.masks.masks], nh, nw)
        gt.polygons = [p * np.tile(xy, len(p) // 2) for p in gt.polygons]
        small_samples.append(s)
    torch.manual_seed(7)
    own = model.student.loss(small, small_samples)
    for key in ('loss_cls', 'loss_bbox', 'loss_mask', 'loss_rec'):
        assert losses[key].item() == pytest.approx(own[key].item(), rel=1e-4), key
    rpn_cls = sum(own['loss_rpn_cls']).item()
    assert sum(losses['loss_rpn_cls']).item() == pytest.approx(rpn_cls, rel=1e-4)

    # L_roi and L_con: mean squared error between student and teacher features (eq. 7-8).
    with torch.no_grad():
        gts = [s.gt_instances for s in samples]
        t_out = model.teacher.gt_recognition(model.teacher.extract_feat(inputs), gts)
        s_out = model.student.gt_recognition(
            model.student.extract_feat(small), [s.gt_instances for s in small_samples])
        roi = ((s_out.roi_feats - t_out.roi_feats)**2).mean()
        con = ((s_out.context - t_out.context)**2).mean()
        # L_seq with K = 1: minus the student's log-probability of the teacher's best beam.
        beams = model.teacher.roi_head.rec_head.beam_search(t_out.context, 3, 1)
        steps = beams['indices'].size(-1)
        valid = torch.arange(steps) < beams['lengths'][:, 0, None]
        seq = -model.student.roi_head.rec_head.sequence_log_prob(
            s_out.context, beams['indices'][:, 0], valid).mean()
    assert losses['loss_skd_roi'].item() == pytest.approx(roi.item(), rel=1e-4)
    assert losses['loss_skd_con'].item() == pytest.approx(con.item(), rel=1e-4)
    assert losses['loss_skd_seq'].item() == pytest.approx(seq.item(), rel=1e-4)


def test_drs_only_mode_has_no_skd_and_no_beam_search(monkeypatch):
    model = distiller(skd_loss=dict(type='SKDLoss', loss_weight=0.0))
    assert model.skd_loss is None

    def no_beam_search(*args, **kwargs):
        raise AssertionError('beam search must not run without SKD')

    monkeypatch.setattr(model.teacher, 'beam_search', no_beam_search)
    model.train()
    losses = model(**preprocess(model, three_images(), True), mode='loss')
    assert not any(k.startswith('loss_skd') for k in losses)
    assert 'loss_drs_acc' in losses and 'loss_rec' in losses


def test_images_without_text_keep_every_branch_in_the_graph():
    model = distiller()
    model.train()
    data = preprocess(model, batch(packed([], [], seed=4), packed([], [], seed=5)), True)
    losses = model(**data, mode='loss')
    total, _ = model.parse_losses(losses)
    assert torch.isfinite(total)
    total.backward()
    rec_params = list(model.student.roi_head.rec_head.parameters())
    assert all(p.grad is not None for p in rec_params)


# ----------------------------------------------------------------------------- costs
@pytest.mark.usefixtures('single_thread')
def test_costs_are_measured_once_before_the_first_step():
    # The costs count every detection's heads and decoder steps: two detections keep it short.
    few = spotter_cfg(max_per_img=2)
    model = distiller(student=few, teacher=few, scale_costs=None, scale_gflops=None,
                      selector_gflops=None)
    assert not model.costs_ready and model.drs_loss is None
    model.eval()
    data = preprocess(model, batch(packed([rect(10, 20, 110, 45)], ['HI'], seed=6)), False)
    # The steps themselves do not measure: forward prepares the costs before calling them.
    with pytest.raises(RuntimeError, match='call `prepare_costs'):
        model.predict(data['inputs'], data['data_samples'])
    with torch.no_grad():
        model(**data, mode='predict')
    assert model.costs_ready and model.drs_loss is not None
    costs, gflops = model.scale_costs, model.scale_gflops
    # Smaller scales cost less (equal where the padding to a multiple of 32 is the same).
    assert all(a >= b for a, b in zip(costs, costs[1:])) and 0 < costs[-1] < costs[0] <= 1
    assert all(a >= b for a, b in zip(gflops, gflops[1:]))
    # Measured, not a formula: the student's test-step FLOPs on the half-size image over the
    # teacher's.
    model.eval()
    half, half_samples = resize_batch(data['inputs'], data['data_samples'], 0.5,
                                      size_divisor=32, rescale_gt=False)
    student_flops = count_predict_flops(model.student, half, half_samples)[0].total
    teacher_flops = count_predict_flops(model.teacher, data['inputs'],
                                        data['data_samples'])[0].total
    assert costs[SCALES.index(0.5)] == pytest.approx(student_flops / teacher_flops, rel=1e-6)
    assert gflops[SCALES.index(0.5)] == pytest.approx(student_flops / 1e9, rel=1e-6)
    assert model.drs_loss.flops_loss.scale_costs.tolist() == pytest.approx(costs)
    sample = data['data_samples'][0]
    index = SCALES.index(sample.dld_scale)
    assert sample.dld_gflops == pytest.approx(gflops[index] + model.cost_table.selector_gflops)
    assert model.cost_table.selector_gflops > 0
    # Measured once: the values stay put.
    with torch.no_grad():
        model(**preprocess(model, batch(packed([], [], seed=7)), False), mode='predict')
    assert model.scale_costs == costs


# ----------------------------------------------------------------------------- inference
def test_predict_is_deterministic_and_reports_scale_and_gflops(dld):
    dld.eval()
    runs = []
    for _ in range(2):
        data = preprocess(dld, three_images(), False)
        with torch.no_grad():
            runs.append(dld(**data, mode='predict'))
    for a, b in zip(*runs):
        assert a.dld_scale == b.dld_scale and a.dld_scale in SCALES
        assert a.dld_gflops == pytest.approx(GFLOPS[SCALES.index(a.dld_scale)] + 0.04)
        assert torch.equal(a.pred_instances.bboxes, b.pred_instances.bboxes)
        assert a.pred_instances.texts == b.pred_instances.texts


def test_predictions_map_back_to_the_original_image(dld):
    dld.eval()
    # The pipeline already resized this image by 0.5 (ori 192 x 256 -> 96 x 128).
    item = packed([rect(10, 20, 110, 45)], ['HELLO'], shape=(96, 128), ori_shape=(192, 256),
                  seed=8)
    data = preprocess(dld, batch(item), False)
    inputs, sample = data['inputs'], data['data_samples'][0]
    with torch.no_grad():
        logits = dld.selector(inputs, [sample.img_shape])
        scale = SCALES[int(logits.argmax())]
        result = dld(inputs, [sample.clone()], mode='predict')[0]
    assert result.dld_scale == scale
    assert result.img_shape == (96, 128) and result.scale_factor == (0.5, 0.5)
    pred = result.pred_instances
    assert len(pred) > 0
    assert tuple(pred.masks.shape[1:]) == (192, 256)

    # The student run by hand on the image resized by `scale`; mmdet's rescale divides by the
    # total scale factor (pipeline x DLD) to reach the original frame.
    h, w = round(96 * scale), round(128 * scale)
    small = F.interpolate(inputs[:, :, :96, :128], size=(h, w), mode='bilinear',
                          align_corners=False)
    pad = inputs.new_zeros(1, 3, -(-h // 32) * 32, -(-w // 32) * 32)
    pad[:, :, :h, :w] = small
    manual = sample.clone()
    manual.set_metainfo(dict(img_shape=(h, w), batch_input_shape=tuple(pad.shape[2:]),
                             pad_shape=tuple(pad.shape[2:]),
                             scale_factor=(0.5 * w / 128, 0.5 * h / 96)))
    with torch.no_grad():
        direct = dld.student.predict(pad, [manual], rescale=True)[0].pred_instances
    assert torch.allclose(pred.bboxes, direct.bboxes, atol=1e-3)
    assert pred.texts == direct.texts
    assert float(pred.bboxes[:, 2].max()) <= 256 + 1e-3
    assert float(pred.bboxes[:, 3].max()) <= 192 + 1e-3


def test_tensor_mode_runs_selector_and_student(dld):
    dld.eval()
    data = preprocess(dld, three_images(), False)
    with torch.no_grad():
        outs = dld(**data, mode='tensor')
    assert outs[0].shape == (3, len(SCALES))
    assert all(isinstance(o, torch.Tensor) for o in outs) and len(outs) > 1


# ----------------------------------------------------------------------------- schedule
class _Runner:

    def __init__(self, model, epoch=0, it=0):
        from mmengine.logging import MessageHub, MMLogger
        self.model, self.epoch, self.iter = model, epoch, it
        self.logger = MMLogger.get_instance('test_distiller')
        self.message_hub = MessageHub.get_instance('test_distiller')


def test_gumbel_hook_sets_the_temperature_that_the_loss_uses(dld, monkeypatch):
    hook = GumbelTemperatureHook(tau_init=5.0, sigma=0.965, by_epoch=True)
    used = []
    sample = dld.selector.sample

    def recording_sample(logits, tau=None, generator=None):
        used.append(dld.selector.temperature if tau is None else tau)
        return sample(logits, tau, generator)

    monkeypatch.setattr(dld.selector, 'sample', recording_sample)
    dld.train()
    data = preprocess(dld, three_images(), True)
    for epoch in (0, 10, 30):
        runner = _Runner(dld, epoch=epoch)
        hook.before_train_epoch(runner)
        hook.before_train_iter(runner, 0)
        tau = 5.0 * 0.965**epoch
        assert dld.selector.temperature == pytest.approx(tau)
        losses = dld(**data, mode='loss')
        # The Gumbel-softmax of this step drew h at the hook's tau, and the log says so.
        assert used[-1] == pytest.approx(tau)
        assert losses['drs_tau'].item() == pytest.approx(tau)
    # After a resume the runner's epoch is restored, and so is tau (no state in the hook).
    fresh = GumbelTemperatureHook(tau_init=5.0, sigma=0.965, by_epoch=True)
    dld.selector.temperature = 5.0
    fresh.before_train_epoch(_Runner(dld, epoch=30))
    assert dld.selector.temperature == pytest.approx(5.0 * 0.965**30)


# ----------------------------------------------------------------------------- gamma
def _toy_drs_training(gamma, steps=150):
    """Trains only a DRS on fixed student/teacher outputs; returns the mean chosen scale.

    Eight images whose content encodes a difficulty d in [0, 1]; the student's distributions
    at scale s move away from the teacher's by (1 - s) * d, so harder images need larger
    scales. T_i are the costs of the small synthetic spotter.
    """
    torch.manual_seed(0)
    selector = DynamicResolutionSelector(scales=SCALES, input_size=(16, 16), channels=(8, 16))
    loss_fn = DRSLoss(scale_costs=COSTS, gamma=gamma)
    num_imgs, per_img, length, num_classes = 8, 2, 5, 12
    difficulty = torch.linspace(0, 1, num_imgs)
    images = difficulty[:, None, None, None].expand(num_imgs, 3, 16, 16).contiguous()
    images = images + 0.05 * torch.randn_like(images)
    teacher_logits = 3 * torch.randn(num_imgs * per_img, length, num_classes)
    noise = 3 * torch.randn(num_imgs * per_img, length, num_classes)
    img_inds = torch.arange(num_imgs).repeat_interleave(per_img)
    d = difficulty[img_inds][:, None, None]
    student = torch.stack([
        (teacher_logits + (1 - s) * 4 * d * noise).log_softmax(-1) for s in SCALES])
    teacher = teacher_logits.log_softmax(-1)
    valid = torch.ones(num_imgs * per_img, length, dtype=torch.bool)
    optim = torch.optim.Adam(selector.parameters(), lr=0.01)
    for step in range(steps):
        h, _ = selector.sample(selector(images), tau=max(5.0 * 0.97**step, 0.5))
        out = loss_fn(h, student, teacher, valid, img_inds)
        optim.zero_grad()
        (out['loss_drs_acc'] + out['loss_drs_flops']).backward()
        optim.step()
    selector.eval()
    with torch.no_grad():
        chosen = selector.select(selector(images))
    return float(torch.tensor(SCALES)[chosen].mean())


def test_raising_gamma_lowers_the_average_chosen_scale():
    # Figures of this toy for gamma 0 / 0.1 / 0.3 / 1 / 3 / 10 / 100 are in docs/dld.md.
    avg = {gamma: _toy_drs_training(gamma) for gamma in (0.0, 0.3, 3.0, 100.0)}
    assert avg[0.0] > avg[0.3] > avg[3.0] > avg[100.0], avg
    # No cost: every image at the most accurate scale; a huge cost: all at the cheapest.
    assert avg[0.0] == pytest.approx(0.8) and avg[100.0] == pytest.approx(0.3), avg


# ----------------------------------------------------------------------------- configs
DLD_DIR = osp.join(CONFIG_DIR, 'dld')


def test_dld_configs_follow_the_paper():
    cfg = Config.fromfile(osp.join(DLD_DIR, 'dld_r50_totaltext.py'))
    m = cfg.model
    assert m.type == 'DLDDistiller' and m.student.type == m.teacher.type == 'MaskRCNNSpotter'
    assert m.student.backbone.depth == 50 and m.init_student_from_teacher
    assert tuple(m.selector.scales) == SCALES
    assert m.drs_loss.gamma == 0.1 and m.drs_loss.loss_weight == 1.0
    assert (m.skd_loss.eta1, m.skd_loss.eta2, m.skd_loss.loss_weight) == (1.0, 1.0, 1.0)
    assert m.skd_loss.seq_loss.topk == 1 and m.rec_loss_weight == 1.0
    hook = cfg.custom_hooks[0]
    assert (hook.type, hook.tau_init, hook.sigma, hook.by_epoch) == (
        'GumbelTemperatureHook', 5.0, 0.965, True)
    assert cfg.train_cfg.max_epochs == 50 and cfg.train_dataloader.batch_size == 3
    assert cfg.optim_wrapper.optimizer.type == 'AdamW' and cfg.optim_wrapper.optimizer.lr == 1e-3
    assert cfg.param_scheduler[-1].milestones == [30, 40]
    for dataset, short in (('icdar2015', 1280), ('icdar2013', 768)):
        for suffix, gamma in (('', 0.1), ('_gamma0.3', 0.3)):
            c = Config.fromfile(osp.join(DLD_DIR, f'dld_r50_{dataset}{suffix}.py'))
            assert c.model.drs_loss.gamma == gamma
            assert c.test_dataloader.dataset.pipeline[1].scale == (4 * short, short)
    skd = Config.fromfile(osp.join(DLD_DIR, 'skd_only_r50_totaltext.py'))
    assert skd.model.selector is None and skd.model.fixed_scale == 0.5 and not skd.custom_hooks
    for gamma in (0.1, 0.3):
        drs = Config.fromfile(osp.join(DLD_DIR, f'drs_only_r50_totaltext_gamma{gamma}.py'))
        assert drs.model.skd_loss.loss_weight == 0 and drs.model.drs_loss.gamma == gamma
    for gamma in (0.1, 0.2, 0.3, 0.4, 0.5):
        c = Config.fromfile(osp.join(DLD_DIR, 'ablations', f'dld_r50_totaltext_gamma{gamma}.py'))
        assert c.model.drs_loss.gamma == gamma
    sets = {'0.8_0.7_0.6': (0.8, 0.7, 0.6), '0.5_0.4_0.3': (0.5, 0.4, 0.3), '0.8_to_0.3': SCALES}
    for name, scales in sets.items():
        c = Config.fromfile(osp.join(DLD_DIR, 'ablations', f'dld_r50_totaltext_scales_{name}.py'))
        assert tuple(c.model.selector.scales) == scales
    single = Config.fromfile(osp.join(DLD_DIR, 'ablations', 'dld_r50_totaltext_scales_0.5.py'))
    assert single.model.selector is None and single.model.fixed_scale == 0.5


@pytest.mark.parametrize('name, default, short', [('vanilla_r50_totaltext.py', 448, 640),
                                                   ('vanilla_r18_synthetic.py', 160, 96)])
def test_vanilla_configs_test_the_spotter_at_a_fixed_short_side(name, default, short,
                                                                monkeypatch):
    monkeypatch.delenv('VANILLA_SHORT_SIDE', raising=False)
    for env, expected in ((None, default), (str(short), short)):
        if env is not None:
            monkeypatch.setenv('VANILLA_SHORT_SIDE', env)
        cfg = Config.fromfile(osp.join(DLD_DIR, name))
        assert cfg.model.type == 'MaskRCNNSpotter'
        pipeline = cfg.test_dataloader.dataset.pipeline
        resize = [t for t in pipeline if t.type.endswith('Resize')]
        assert len(resize) == 1 and resize[0].scale == (4 * expected, expected)
        assert cfg.val_dataloader.dataset.pipeline == pipeline


def test_small_dld_config_builds_a_distiller():
    cfg = Config.fromfile(osp.join(DLD_DIR, 'dld_r18_synthetic_small.py'))
    model = MODELS.build(cfg.model)
    assert isinstance(model, DLDDistiller) and model.selector is not None
    assert cfg.custom_hooks[0].by_epoch is False
    skd = Config.fromfile(osp.join(DLD_DIR, 'skd_only_r18_synthetic_small.py'))
    assert skd.model.selector is None and skd.model.fixed_scale == 0.5
    drs = Config.fromfile(osp.join(DLD_DIR, 'drs_only_r18_synthetic_small.py'))
    assert drs.model.skd_loss.loss_weight == 0


def test_student_with_aux_ctc_trains_it():
    """A student whose recogniser has the auxiliary CTC aid (as the demo teacher's config)
    gets ``loss_rec_ctc``, which reaches its CTC classifier and encoder, never the DRS."""
    with_ctc = copy.deepcopy(spotter_cfg())
    with_ctc.roi_head.rec_head.aux_ctc_weight = 1.0
    torch.manual_seed(0)
    model = distiller(student=with_ctc, teacher=with_ctc)
    model.init_weights()
    assert torch.equal(model.student.roi_head.rec_head.aux_ctc_fc.weight,
                       model.teacher.roi_head.rec_head.aux_ctc_fc.weight)
    model.train()
    losses = model(**preprocess(model, three_images(), True), mode='loss')
    ctc = losses['loss_rec_ctc']
    assert torch.isfinite(ctc) and ctc > 0
    fc = list(model.student.roi_head.rec_head.aux_ctc_fc.parameters())
    assert len(_grads(ctc, fc)) == len(fc)
    assert _grads(ctc, list(model.student.roi_head.rec_head.lstm.parameters()))
    assert not _grads(ctc, list(model.selector.parameters()))

    # A student without the aid starts from such a teacher: the CTC weights are left out.
    plain = distiller(teacher=with_ctc)
    plain.init_weights()
    assert plain.student.roi_head.rec_head.aux_ctc_fc is None
    assert torch.equal(plain.student.roi_head.rec_head.lstm.weight_ih_l0,
                       plain.teacher.roi_head.rec_head.lstm.weight_ih_l0)


def test_folded_copy_of_the_scale_passes_is_not_part_of_the_model(dld):
    dld.train()
    keys = set(dld.state_dict())
    num_params = len(list(dld.parameters()))
    data = preprocess(dld, three_images(), True)
    dld(**data, mode='loss')
    copy_params = {id(p) for p in dld.scale_pass.extractor.copy.parameters()}
    assert copy_params and not copy_params & {id(p) for p in dld.parameters()}
    assert set(dld.state_dict()) == keys
    assert len(list(dld.parameters())) == num_params
    assert all(m is not dld.scale_pass.extractor.copy for m in dld.modules())


def test_scale_passes_of_a_spotter_with_its_own_extract_feat_use_its_modules():
    model = distiller()
    model.train()
    data = preprocess(model, three_images(), True)
    expected, targets = _scale_log_probs_one_by_one(model, data)

    class OwnFeatures(type(model.student)):

        def extract_feat(self, batch_inputs):
            return super().extract_feat(batch_inputs)

    model.student.__class__ = OwnFeatures
    assert model.student.feature_network() is None
    got = _scale_pass(model, data, targets)
    assert model.scale_pass.extractor is None
    assert torch.allclose(got, expected, atol=1e-4)
