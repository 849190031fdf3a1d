"""`DRSAccuracyLoss(mixture=...)`: what h mixes in L_acc (eq. 2) and the gradient each gives."""
import math

import pytest
import torch

from mmdld.models.losses import AccuracyInputs, DRSAccuracyLoss, DRSLoss

pytestmark = pytest.mark.usefixtures('single_thread')


def kl(p, q):
    return sum(a * math.log(a / b) for a, b in zip(p, q))


def one_step(student_rows, teacher_row):
    """``k`` students and a teacher on one instance with one valid step."""
    student = torch.tensor(student_rows).log().view(len(student_rows), 1, 1, -1)
    teacher = torch.tensor(teacher_row).log().view(1, 1, -1)
    return AccuracyInputs(student, teacher, torch.ones(1, 1))


@pytest.mark.parametrize('index', [0, 2])
def test_one_hot_h_gives_the_same_value_in_both_forms(index):
    k, num, length, classes = 3, 4, 5, 6
    student = torch.randn(k, num, length, classes).log_softmax(-1)
    teacher = torch.randn(num, length, classes).log_softmax(-1)
    valid = (torch.rand(num, length) > 0.3).float()
    valid[:, 0] = 1
    inputs = AccuracyInputs(student, teacher, valid, torch.tensor([0, 0, 1, 2]))
    h = torch.nn.functional.one_hot(torch.full((num, ), index), k).float()
    by_dist = DRSAccuracyLoss(mixture='distributions')(h, inputs)
    by_loss = DRSAccuracyLoss(mixture='losses')(h, inputs)
    # The per-image mean over valid steps of KL(y_{s_index} || y), by hand.
    step_kl = (student[index].exp() * (student[index] - teacher)).sum(-1)
    per_img = [(step_kl[r] * valid[r]).sum() / valid[r].sum() for r in ([0, 1], [2], [3])]
    expected = torch.stack(per_img).mean()
    assert torch.allclose(by_dist, expected, atol=1e-6)
    assert torch.allclose(by_loss, expected, atol=1e-6)


# Scale 0 reads as the teacher does; scale 1 is worse: KL(y1 || y) = 0.8 ln 1.6 + 0.2 ln 0.4.
TEACHER = [0.5, 0.5]
STUDENTS = [[0.5, 0.5], [0.8, 0.2]]
KL_WORSE = 0.8 * math.log(1.6) + 0.2 * math.log(0.4)


def test_gradient_wrt_h_when_the_sampled_scale_equals_the_teacher():
    assert KL_WORSE == pytest.approx(0.192745, abs=1e-6)
    grads = {}
    for mixture in DRSAccuracyLoss.MIXTURES:
        h = torch.tensor([[1.0, 0.0]], requires_grad=True)
        DRSAccuracyLoss(mixture=mixture)(h, one_step(STUDENTS, TEACHER)).backward()
        grads[mixture] = h.grad[0].tolist()
    # d/dh_i sum_c P_c log(P_c / y_c) = sum_c y_{i,c} (log(P_c / y_c) + 1) at P = y0 = y: 1, 1.
    assert grads['distributions'] == pytest.approx([1.0, 1.0], abs=1e-6)
    # d/dh_i sum_i h_i KL(y_i || y) = KL(y_i || y): 0 and KL_WORSE.
    assert grads['losses'] == pytest.approx([0.0, KL_WORSE], abs=1e-6)


def test_through_the_straight_through_softmax_only_losses_pushes_back():
    """Logits 0, 0 at tau 1, the sample on scale 0: d/dz_j = s_j (g_j - sum_i s_i g_i)."""
    grads = {}
    for mixture in DRSAccuracyLoss.MIXTURES:
        logits = torch.zeros(1, 2, requires_grad=True)
        soft = logits.softmax(-1)
        h = torch.tensor([[1.0, 0.0]]) - soft.detach() + soft
        DRSAccuracyLoss(mixture=mixture)(h, one_step(STUDENTS, TEACHER)).backward()
        grads[mixture] = logits.grad[0].tolist()
    assert grads['distributions'] == pytest.approx([0.0, 0.0], abs=1e-6)
    half = 0.5 * (KL_WORSE - 0.5 * KL_WORSE)
    assert grads['losses'] == pytest.approx([-half, half], abs=1e-6)


def test_gradient_formula_of_each_form_on_random_distributions():
    """At one-hot h on scale j: 'distributions' gives KL(y_i||y) - KL(y_i||y_j) + 1 towards
    scale i (the note in DRSAccuracyLoss), 'losses' gives KL(y_i||y)."""
    gen = torch.Generator().manual_seed(3)
    rows = torch.randn(4, 5, generator=gen).softmax(-1)
    students, teacher = rows[:3].tolist(), rows[3].tolist()
    j = 1
    for mixture, expected in (
            ('distributions', [kl(s, teacher) - kl(s, students[j]) + 1 for s in students]),
            ('losses', [kl(s, teacher) for s in students])):
        h = torch.zeros(1, 3)
        h[0, j] = 1
        h.requires_grad_(True)
        inputs = AccuracyInputs(torch.tensor(students).log().view(3, 1, 1, 5),
                                torch.tensor(teacher).log().view(1, 1, 5),
                                torch.ones(1, 1))
        DRSAccuracyLoss(mixture=mixture)(h, inputs).backward()
        assert h.grad[0].tolist() == pytest.approx(expected, abs=1e-5)


def test_drs_loss_passes_the_mixture_to_its_accuracy_term():
    loss = DRSLoss([0.5, 0.2], acc_loss=dict(type='DRSAccuracyLoss', mixture='losses'))
    assert loss.acc_loss.mixture == 'losses'
    assert DRSLoss([0.5, 0.2]).acc_loss.mixture == 'distributions'


def test_unknown_mixture_is_refused_with_the_choices():
    with pytest.raises(ValueError) as info:
        DRSAccuracyLoss(mixture='mean')
    assert str(info.value) == ("DRSAccuracyLoss: `mixture` must be one of ('distributions', "
                               "'losses'), got 'mean'")
