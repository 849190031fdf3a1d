"""LogitsDistillLoss (Table 3, "SKD replaced Logits"): its value by hand, SKDLoss with it, and a
DLD training step that distils the teacher's step distributions."""
import functools
import math
import os.path as osp

import pytest
import torch
from helpers import CONFIG_DIR, batch, packed_sample, rect
from mmengine.config import Config

from mmdld.models.losses import LogitsDistillLoss
from mmdld.registry import MODELS

NAN = float('nan')


def kl(p, q):
    return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q) if pi > 0)


def soften(p, tau):
    powered = [pi**(1 / tau) for pi in p]
    return [x / sum(powered) for x in powered]


# Two instances, two steps, two classes. Instance 1's second step is padding: NaN there must
# not count. Its teacher gives class 1 no probability (log 0 = -inf).
TEACHER = [[[0.5, 0.5], [0.8, 0.2]], [[1.0, 0.0], [NAN, NAN]]]
STUDENT = [[[0.25, 0.75], [0.5, 0.5]], [[0.9, 0.1], [NAN, NAN]]]
VALID = torch.tensor([[1, 1], [1, 0]])


def _log(probs):
    return torch.tensor(probs).log()


def _expected(tau=1.0):
    t = [[soften(p, tau) for p in inst] for inst in TEACHER]
    s = [[soften(p, tau) for p in inst] for inst in STUDENT]
    inst0 = (kl(t[0][0], s[0][0]) + kl(t[0][1], s[0][1])) / 2  # mean over its valid steps
    inst1 = kl(t[1][0], s[1][0])
    return tau**2 * (inst0 + inst1) / 2  # then over instances


@pytest.mark.parametrize('tau', [1.0, 2.0])
def test_value_is_the_step_kl_averaged_per_instance_then_over_instances(tau):
    loss = LogitsDistillLoss(temperature=tau, loss_weight=1.0)
    out = loss(_log(STUDENT), _log(TEACHER), VALID)
    assert out.item() == pytest.approx(_expected(tau), rel=1e-5)
    assert LogitsDistillLoss(temperature=tau, loss_weight=0.5)(
        _log(STUDENT), _log(TEACHER), VALID).item() == pytest.approx(0.5 * _expected(tau),
                                                                     rel=1e-5)


def test_zero_when_the_student_matches_the_teacher_and_positive_otherwise():
    loss = LogitsDistillLoss()
    teacher = torch.log_softmax(torch.randn(3, 4, 5), dim=-1)
    assert loss(teacher.clone(), teacher).item() == pytest.approx(0.0, abs=1e-6)
    assert loss(torch.log_softmax(torch.randn(3, 4, 5), dim=-1), teacher).item() > 0


def test_gradient_reaches_the_student_only():
    student = _log([[[0.25, 0.75], [0.5, 0.5]]]).requires_grad_()
    teacher = _log([[[0.5, 0.5], [0.8, 0.2]]]).requires_grad_()
    LogitsDistillLoss()(student, teacher).backward()
    assert teacher.grad is None
    assert student.grad is not None and bool(student.grad.abs().sum() > 0)
    assert bool(torch.isfinite(student.grad).all())


def test_no_instance_or_no_valid_step_is_a_zero_in_the_graph():
    student = torch.zeros(0, 3, 4, requires_grad=True)
    out = LogitsDistillLoss()(student, torch.zeros(0, 3, 4))
    assert out.item() == 0 and out.requires_grad
    student = torch.randn(2, 3, 4, requires_grad=True)
    out = LogitsDistillLoss()(student, torch.randn(2, 3, 4), torch.zeros(2, 3))
    assert out.item() == 0 and out.requires_grad


def test_bad_inputs_are_reported():
    loss = LogitsDistillLoss()
    with pytest.raises(ValueError, match='must have the same shape'):
        loss(torch.zeros(2, 3, 4), torch.zeros(2, 3, 5))
    with pytest.raises(ValueError, match=r'`valid_mask` must have shape \(2, 3\)'):
        loss(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4), torch.ones(2, 4))
    with pytest.raises(ValueError, match='student_log_probs` contains 1 NaN'):
        loss(_log([[[NAN, 0.5]]]), _log([[[0.5, 0.5]]]))
    with pytest.raises(ValueError, match='temperature'):
        LogitsDistillLoss(temperature=0)


# ---------------------------------------------------------------- SKDLoss with the logits term
def _skd(**kwargs):
    return MODELS.build(dict(type='SKDLoss', seq_loss=dict(type='LogitsDistillLoss'), **kwargs))


def test_skd_loss_with_the_logits_term():
    skd = _skd(eta2=2.0, loss_weight=3.0)
    assert skd.reads_step_log_probs and skd.needs_step_log_probs and skd.seq_topk is None
    roi, con = torch.zeros(2, 1, 2, 2), torch.zeros(2, 3, 1)
    losses = skd(roi, roi, con, con, _log(STUDENT), VALID, _log(TEACHER))
    assert losses['loss_skd_seq'].item() == pytest.approx(6.0 * _expected(), rel=1e-5)
    with pytest.raises(ValueError, match='needs `teacher_step_log_probs`'):
        skd(roi, roi, con, con, _log(STUDENT), VALID)
    # eta2 = 0: neither beams nor step distributions are needed, and the term is zero.
    off = _skd(eta2=0.0)
    assert not off.needs_step_log_probs and off.seq_topk is None
    assert off(roi, roi, con, con, None)['loss_skd_seq'].item() == 0
    with pytest.raises(ValueError, match='eta2 != 0'):
        skd(roi, roi, con, con, None)
    beams = MODELS.build(dict(type='SKDLoss', seq_loss=dict(type='SequenceDistillLoss', topk=2)))
    assert not beams.reads_step_log_probs and beams.seq_topk == 2


# ---------------------------------------------------------------- a DLD training step
TINY = osp.join(CONFIG_DIR, 'spotter', 'maskrcnn_r18_fpn_spotter_synthetic_tiny.py')
SCALES = (0.8, 0.5, 0.3)
packed = functools.partial(packed_sample, shape=(96, 128), seed=0)


def _distiller(**kwargs):
    spotter = Config.fromfile(TINY).model
    args = dict(type='DLDDistiller', student=spotter, teacher=spotter,
                skd_loss=dict(type='SKDLoss', seq_loss=dict(type='LogitsDistillLoss')),
                scale_costs=[0.8, 0.5, 0.3], scale_gflops=[8.0, 5.0, 3.0],
                selector_gflops=0.04)
    args.update(kwargs)
    return MODELS.build(args)


def _images():
    return batch(
        packed([rect(10, 20, 110, 45), rect(20, 55, 120, 85)], ['HELLO', 'world'], seed=1),
        packed([rect(5, 5, 60, 30)], ['ab'], shape=(80, 96), seed=2))


def _grads(loss, params):
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return [g for g in grads if g is not None and bool(g.abs().sum() > 0)]


@pytest.mark.parametrize('mode', ['skd_only', 'dld'])
def test_dld_step_with_the_logits_term(mode, monkeypatch):
    torch.manual_seed(0)
    kwargs = (dict(selector=None, fixed_scale=0.5, scale_costs=None, scale_gflops=[5.0],
                   selector_gflops=None) if mode == 'skd_only' else
              dict(selector=dict(type='DynamicResolutionSelector', scales=SCALES,
                                 input_size=(32, 32))))
    model = _distiller(**kwargs)

    def no_beam_search(*args, **kwargs):
        raise AssertionError('the logits term needs no beam search')

    monkeypatch.setattr(model.teacher, 'beam_search', no_beam_search)
    calls = {'student': [], 'teacher': [], 'rec': []}

    def recording(spotter, who, method):
        original = getattr(spotter, method)

        def record(*args):
            out = original(*args)
            calls[who].append(out)
            return out

        monkeypatch.setattr(spotter, method, record)

    recording(model.student, 'student', 'step_log_probs')
    recording(model.teacher, 'teacher', 'step_log_probs')
    recording(model.teacher, 'rec', 'gt_recognition')
    # Isolation is checked with the teacher's weights trainable: nothing may reach them.
    model.teacher.requires_grad_(True)
    model.train()
    losses = model(**model.data_preprocessor(_images(), True), mode='loss')
    seq = losses['loss_skd_seq']
    assert torch.isfinite(seq) and seq.item() > 0
    # The teacher's distributions of the three GT words (once, shared with L_acc), and the
    # student's on the teacher's targets, with gradient (the DRS's k passes have none).
    assert len(calls['teacher']) == 1 and calls['teacher'][0].shape[0] == 3
    student = [c for c in calls['student'] if c.requires_grad]
    assert len(student) == 1 and student[0].shape == calls['teacher'][0].shape
    if mode == 'skd_only':  # one scale group: the instances keep the teacher's order
        expected = LogitsDistillLoss()(student[0], calls['teacher'][0], calls['rec'][0].valid)
        assert seq.item() == pytest.approx(expected.item(), rel=1e-5)
    student_params = [p for p in model.student.parameters() if p.requires_grad]
    teacher_params = list(model.teacher.parameters())
    assert _grads(seq, student_params)
    if model.selector is not None:
        assert not _grads(seq, list(model.selector.parameters()))
    total, _ = model.parse_losses(losses)
    assert torch.isfinite(total)
    model.zero_grad()
    for p in teacher_params:
        p.grad = None
    total.backward()
    assert all(p.grad is None for p in teacher_params)
    assert any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in student_params)
