import math

import pytest
import torch

from mmdld.models.losses import (AccuracyInputs, ContextDistillLoss, DRSAccuracyLoss,
                                 DRSFlopsLoss, DRSLoss, RoIAlignModule, RoIFeatureDistillLoss,
                                 SequenceDistillLoss)
from mmdld.models.selectors import DynamicResolutionSelector
from mmdld.models.utils import sequence_log_prob
from mmdld.registry import MODELS

# ---------------------------------------------------------------- L_acc (eq. 2)


def kl(p, q):
    return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q) if pi > 0)


def _acc_inputs():
    """Two instances (one per image), two steps, two classes, two scales.

    Instance 1's second step is padding (it holds garbage that must not count).
    """
    teacher = torch.tensor([[[0.5, 0.5], [0.8, 0.2]],
                            [[0.25, 0.75], [0.9, 0.1]]])
    student = torch.tensor([
        [[[0.5, 0.5], [0.5, 0.5]], [[0.5, 0.5], [0.1, 0.9]]],  # scale 0
        [[[0.9, 0.1], [0.8, 0.2]], [[0.2, 0.8], [0.3, 0.7]]],  # scale 1
    ])
    mask = torch.tensor([[1, 1], [1, 0]])
    return teacher.log(), student.log(), mask


def test_acc_loss_hand_computed_one_hot_and_per_image_mean():
    teacher, student, mask = _acc_inputs()
    h = torch.tensor([[1., 0.], [0., 1.]])  # image 0 takes scale 0, image 1 scale 1
    loss = DRSAccuracyLoss()(h, AccuracyInputs(student, teacher, mask, torch.tensor([0, 1])))
    img0 = (kl([0.5, 0.5], [0.5, 0.5]) + kl([0.5, 0.5], [0.8, 0.2])) / 2
    img1 = kl([0.2, 0.8], [0.25, 0.75])
    assert loss.item() == pytest.approx((img0 + img1) / 2, rel=1e-5)


def test_acc_loss_mixture_direction_and_single_image_reduction():
    teacher, student, mask = _acc_inputs()
    h = torch.tensor([[0.25, 0.75], [0.5, 0.5]])
    loss = DRSAccuracyLoss()(h, AccuracyInputs(student, teacher, mask))  # img_inds=None: one image
    p00 = [0.25 * 0.5 + 0.75 * 0.9, 0.25 * 0.5 + 0.75 * 0.1]
    p01 = [0.25 * 0.5 + 0.75 * 0.8, 0.25 * 0.5 + 0.75 * 0.2]
    p10 = [0.5 * 0.5 + 0.5 * 0.2, 0.5 * 0.5 + 0.5 * 0.8]
    expected = (kl(p00, [0.5, 0.5]) + kl(p01, [0.8, 0.2]) + kl(p10, [0.25, 0.75])) / 3
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    # KL(P || Q) of eq. 2, not KL(Q || P).
    reverse = (kl([0.5, 0.5], p00) + kl([0.8, 0.2], p01) + kl([0.25, 0.75], p10)) / 3
    assert abs(expected - reverse) > 1e-3


def test_acc_loss_gradient_reaches_only_h():
    teacher, student, mask = _acc_inputs()
    teacher.requires_grad_()
    student.requires_grad_()
    h = torch.tensor([[1., 0.]], requires_grad=True)
    loss = DRSAccuracyLoss(loss_weight=2.0)(
        h, AccuracyInputs(student[:, :1, :1], teacher[:1, :1], mask[:1, :1]))
    loss.backward()
    assert teacher.grad is None and student.grad is None
    # d KL(P||Q)/d h_i = sum_c y_i,c (log P_c - log Q_c + 1), P = y_0 = [.5,.5], Q = [.5,.5]
    # -> 1 for both scales (times loss_weight 2).
    torch.testing.assert_close(h.grad, torch.tensor([[2.0, 2.0]]))
    assert loss.item() == pytest.approx(0.0, abs=1e-7)


def test_acc_loss_no_instances_and_no_valid_steps_give_zero_in_graph():
    logits = torch.zeros(3, 2, requires_grad=True)
    h_img = logits.softmax(-1)
    h = h_img[torch.zeros(0, dtype=torch.long)]
    loss = DRSAccuracyLoss()(h, AccuracyInputs(torch.zeros(2, 0, 4, 5), torch.zeros(0, 4, 5),
                                               torch.zeros(0, 4), torch.zeros(0, dtype=torch.long)))
    assert loss.item() == 0 and loss.requires_grad
    loss.backward()
    torch.testing.assert_close(logits.grad, torch.zeros(3, 2))
    teacher, student, _ = _acc_inputs()
    loss = DRSAccuracyLoss()(torch.ones(2, 2, requires_grad=True) / 2,
                             AccuracyInputs(student, teacher, torch.zeros(2, 2)))
    assert loss.item() == 0 and loss.requires_grad


def test_acc_loss_reports_bad_inputs():
    teacher, student, mask = _acc_inputs()
    h = torch.tensor([[1., 0.], [0., 1.]])
    with pytest.raises(ValueError, match=r'`student_log_probs` must have shape \(2, 2, \*, \*\)'):
        DRSAccuracyLoss()(h, AccuracyInputs(student[:1], teacher, mask))
    with pytest.raises(ValueError, match=r'`valid_mask` must have shape \(2, 2\)'):
        DRSAccuracyLoss()(h, AccuracyInputs(student, teacher, mask[:, :1]))
    bad = teacher.clone()
    bad[0, 0, 0] = float('nan')
    with pytest.raises(ValueError, match='`teacher_log_probs` contains 1 NaN'):
        DRSAccuracyLoss()(h, AccuracyInputs(student, bad, mask))


# ---------------------------------------------------------------- L_flops (eq. 3), L_DRS (eq. 4)


def test_flops_loss_hand_computed_and_gradient():
    h = torch.tensor([[1., 0., 0.], [0., 0., 1.]], requires_grad=True)
    loss = DRSFlopsLoss([0.64, 0.36, 0.09])(h)
    assert loss.item() == pytest.approx((0.64 + 0.09) / 2)
    loss.backward()
    torch.testing.assert_close(h.grad, torch.tensor([[0.32, 0.18, 0.045]] * 2))
    empty = torch.zeros(0, 3, requires_grad=True)
    zero = DRSFlopsLoss([0.64, 0.36, 0.09])(empty)
    assert zero.item() == 0 and zero.requires_grad
    with pytest.raises(ValueError, match=r'`h` must have shape \(\*, 3\)'):
        DRSFlopsLoss([0.64, 0.36, 0.09])(torch.zeros(2, 2))
    with pytest.raises(ValueError, match='finite and >= 0'):
        DRSFlopsLoss([0.5, -1.0])


def test_drs_loss_combines_terms_and_gathers_image_h():
    teacher, student, mask = _acc_inputs()
    # Three images; instances belong to images 2 and 0; image 1 has no text.
    h_img = torch.tensor([[0., 1.], [1., 0.], [1., 0.]], requires_grad=True)
    loss_cfg = dict(type='DRSLoss', scale_costs=[0.5, 0.2], gamma=0.3, loss_weight=2.0)
    losses = MODELS.build(loss_cfg)(h_img, student, teacher, mask, torch.tensor([2, 0]))
    acc = DRSAccuracyLoss()(h_img[[2, 0]],
                            AccuracyInputs(student, teacher, mask, torch.tensor([2, 0])))
    img_a = (kl([0.5, 0.5], [0.5, 0.5]) + kl([0.5, 0.5], [0.8, 0.2])) / 2  # inst 0: scale 0
    img_b = kl([0.2, 0.8], [0.25, 0.75])  # inst 1: image 0 -> scale 1
    assert acc.item() == pytest.approx((img_a + img_b) / 2, rel=1e-5)
    flops = (0.2 + 0.5 + 0.5) / 3
    assert losses['loss_drs_acc'].item() == pytest.approx(2.0 * acc.item(), rel=1e-6)
    assert losses['loss_drs_flops'].item() == pytest.approx(2.0 * 0.3 * flops, rel=1e-6)
    assert losses['drs_cost'].item() == pytest.approx(flops, rel=1e-6)
    assert not losses['drs_cost'].requires_grad
    with pytest.raises(ValueError, match='must index the 3 images'):
        MODELS.build(loss_cfg)(h_img, student, teacher, mask, torch.tensor([3, 0]))


def test_drs_loss_without_instances_keeps_graph_and_flops_term():
    h_img = torch.tensor([[0., 1.], [1., 0.]], requires_grad=True)
    losses = DRSLoss(scale_costs=[0.5, 0.2], gamma=0.1)(
        h_img, torch.zeros(2, 0, 3, 4), torch.zeros(0, 3, 4), torch.zeros(0, 3),
        torch.zeros(0, dtype=torch.long))
    assert losses['loss_drs_acc'].item() == 0 and losses['loss_drs_acc'].requires_grad
    assert losses['loss_drs_flops'].item() == pytest.approx(0.1 * (0.2 + 0.5) / 2)
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    torch.testing.assert_close(h_img.grad, torch.tensor([[0.025, 0.01]] * 2))


def test_drs_loss_trains_only_the_selector_through_gumbel_sample():
    torch.manual_seed(0)
    drs = DynamicResolutionSelector(scales=(0.5, 0.25), channels=(4, 8), input_size=(16, 16))
    imgs = torch.randn(2, 3, 20, 20)
    h, _ = drs.sample(drs(imgs), tau=1.0)
    teacher, student, mask = _acc_inputs()
    student.requires_grad_()
    losses = DRSLoss(scale_costs=[0.25, 0.0625])(h, student, teacher, mask, torch.tensor([0, 1]))
    (losses['loss_drs_acc'] + losses['loss_drs_flops']).backward()
    assert student.grad is None
    assert drs.fc.weight.grad is not None and drs.fc.weight.grad.abs().sum() > 0
    assert torch.isfinite(drs.stem[0].conv.weight.grad).all()


# ---------------------------------------------------------------- SKD (eq. 7-10)


@pytest.mark.parametrize('mode, expected, grad', [
    ('mse', (1 + 4) / 2, [2 * 1 / 2, 2 * 2 / 2]),
    ('l1', (1 + 2) / 2, [1 / 2, 1 / 2]),
])
def test_roi_feature_loss_modes(mode, expected, grad):
    student = torch.tensor([1., 3.]).view(1, 1, 1, 2).requires_grad_()
    teacher = torch.tensor([0., 1.]).view(1, 1, 1, 2).requires_grad_()
    loss = RoIFeatureDistillLoss(mode=mode)(student, teacher)
    assert loss.item() == pytest.approx(expected)
    loss.backward()
    torch.testing.assert_close(student.grad.flatten(), torch.tensor(grad))
    assert teacher.grad is None


def test_context_loss_averages_over_instances_steps_and_channels():
    student = torch.tensor([[[1., 0.], [0., 0.]], [[0., 0.], [0., 2.]]])
    loss = ContextDistillLoss(loss_weight=0.5)(student, torch.zeros(2, 2, 2))
    assert loss.item() == pytest.approx(0.5 * (1 + 4) / 8)


def test_feature_losses_report_bad_inputs_and_handle_no_instances():
    with pytest.raises(ValueError, match='align the student with a RoIAlignModule'):
        RoIFeatureDistillLoss()(torch.zeros(2, 4, 8, 32), torch.zeros(2, 4, 16, 64))
    with pytest.raises(ValueError, match=r'`student_feats` must have shape \(\*, \*, \*\)'):
        ContextDistillLoss()(torch.zeros(2, 4, 8, 32), torch.zeros(2, 4, 8, 32))
    bad = torch.zeros(2, 3, 4)
    bad[1, 2, 3] = float('inf')
    with pytest.raises(ValueError, match='`student_feats` contains 0 NaN and 1 infinite'):
        ContextDistillLoss()(bad, torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="`mode` must be 'mse' or 'l1'"):
        RoIFeatureDistillLoss(mode='l2')
    student = torch.zeros(0, 4, 8, 32, requires_grad=True)
    loss = RoIFeatureDistillLoss()(student, torch.zeros(0, 4, 8, 32))
    assert loss.item() == 0 and loss.requires_grad
    loss.backward()
    assert student.grad.shape == (0, 4, 8, 32)


def test_sequence_loss_hand_computed():
    k1 = torch.tensor([[math.log(0.5)], [math.log(0.25)]], requires_grad=True)
    loss = SequenceDistillLoss()(k1)
    assert loss.item() == pytest.approx(-(math.log(0.5) + math.log(0.25)) / 2)
    loss.backward()
    torch.testing.assert_close(k1.grad, torch.full((2, 1), -0.5))
    k3 = torch.tensor([[math.log(0.2), math.log(0.1), math.log(0.05)]])
    assert SequenceDistillLoss(topk=3)(k3).item() == pytest.approx(-math.log(0.35))
    # Missing beams are ignored whatever they hold.
    partial = torch.tensor([[math.log(0.2), float('nan'), 5.0]])
    loss = SequenceDistillLoss(topk=3)(partial, valid_mask=torch.tensor([[1, 0, 0]]))
    assert loss.item() == pytest.approx(-math.log(0.2))


def test_sequence_loss_reports_bad_inputs_and_handles_no_instances():
    with pytest.raises(ValueError, match=r'`seq_log_probs` must have shape \(\*, 3\)'):
        SequenceDistillLoss(topk=3)(torch.zeros(2, 1))
    with pytest.raises(ValueError, match='log-probabilities'):
        SequenceDistillLoss()(torch.tensor([[0.7]]))
    with pytest.raises(ValueError, match='at least one valid teacher sequence'):
        SequenceDistillLoss(topk=2)(torch.zeros(1, 2), valid_mask=torch.zeros(1, 2))
    with pytest.raises(ValueError, match='1 NaN'):
        SequenceDistillLoss()(torch.tensor([[float('nan')]]))
    with pytest.raises(ValueError, match='topk'):
        SequenceDistillLoss(topk=0)
    empty = torch.zeros(0, 1, requires_grad=True)
    loss = SequenceDistillLoss()(empty)
    assert loss.item() == 0 and loss.requires_grad


def test_sequence_log_prob_sums_valid_steps():
    step = torch.log(torch.tensor([[[0.5, 0.25, 0.25], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]]]))
    step[0, 2] = float('-inf')  # padding step
    targets = torch.tensor([[0, 1, -100]])
    out = sequence_log_prob(step, targets, torch.tensor([[1, 1, 0]]))
    assert out.item() == pytest.approx(math.log(0.5 * 0.8))
    with pytest.raises(ValueError, match=r'valid targets must be class indices in \[0, 3\)'):
        sequence_log_prob(step, torch.tensor([[0, 3, 0]]), torch.tensor([[1, 1, 0]]))


def test_skd_loss_weights_terms():
    skd = MODELS.build(
        dict(type='SKDLoss', seq_loss=dict(type='SequenceDistillLoss', topk=2), eta1=0.5,
             eta2=2.0, loss_weight=3.0))
    roi_s, roi_t = torch.ones(2, 1, 2, 2), torch.zeros(2, 1, 2, 2)  # mse 1
    con_s, con_t = torch.full((2, 3, 1), 2.), torch.zeros(2, 3, 1)  # mse 4
    seq = torch.log(torch.tensor([[0.3, 0.2], [0.1, 0.4]]))  # -log(.5) each
    losses = skd(roi_s, roi_t, con_s, con_t, seq)
    assert set(losses) == {'loss_skd_roi', 'loss_skd_con', 'loss_skd_seq'}
    assert losses['loss_skd_roi'].item() == pytest.approx(3.0)
    assert losses['loss_skd_con'].item() == pytest.approx(3.0 * 0.5 * 4)
    assert losses['loss_skd_seq'].item() == pytest.approx(3.0 * 2.0 * -math.log(0.5))


# ---------------------------------------------------------------- RoI size alignment (Table 4)


def test_roi_align_module_identity_when_sizes_match():
    align = MODELS.build(dict(type='RoIAlignModule', in_channels=4))
    assert align.is_identity and sum(p.numel() for p in align.parameters()) == 0
    x = torch.randn(3, 4, 8, 32)
    assert align(x) is x


@pytest.mark.parametrize('mode, out_size', [('deconv', (16, 64)), ('bilinear', (16, 64)),
                                            ('deconv', (12, 48))])
def test_roi_align_module_upsamples_to_teacher_size(mode, out_size):
    align = RoIAlignModule(in_channels=4, in_size=(8, 32), out_size=out_size, out_channels=6,
                           mode=mode)
    align.init_weights()
    x = torch.randn(3, 4, 8, 32, requires_grad=True)
    out = align(x)
    assert out.shape == (3, 6, *out_size)
    has_deconv = any(isinstance(m, torch.nn.ConvTranspose2d) for m in align.modules())
    assert has_deconv == (mode == 'deconv' and out_size == (16, 64))
    loss = RoIFeatureDistillLoss()(out, torch.zeros(3, 6, *out_size))
    loss.backward()
    assert x.grad.abs().sum() > 0
    assert align(torch.zeros(0, 4, 8, 32)).shape == (0, 6, *out_size)


def test_roi_align_module_reports_bad_shapes():
    align = RoIAlignModule(in_channels=4, in_size=(8, 32), out_size=(16, 64))
    with pytest.raises(ValueError, match=r'\[N, 4, 8, 32\], got \(2, 4, 16, 64\)'):
        align(torch.zeros(2, 4, 16, 64))
    with pytest.raises(ValueError, match='must be at least'):
        RoIAlignModule(in_channels=4, in_size=(16, 64), out_size=(8, 32))
