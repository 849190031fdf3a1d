"""Training to a budget: ``CostBudgetDual`` (dual ascent on gamma) and ``DRSLoss(target_cost)``."""
import math
import statistics

import pytest
import torch
from mmengine.hooks import RuntimeInfoHook
from mmengine.logging import MessageHub
from mmengine.model import BaseModel

from mmdld.models.losses import CostBudgetDual, DRSLoss
from mmdld.models.selectors import DynamicResolutionSelector
from mmdld.registry import MODELS

pytestmark = pytest.mark.usefixtures('single_thread')

SCALES = (0.8, 0.7, 0.6, 0.5, 0.4, 0.3)
#: T_i of the small synthetic spotter (as in the distiller's gamma toy).
COSTS = [0.83, 0.76, 0.69, 0.65, 0.61, 0.57]


# ----------------------------------------------------------------------------- the dual update
def test_dual_step_hand_computed_with_window_and_bounds():
    dual = CostBudgetDual(0.5, gamma_init=0.1, step_size=0.5, window=2, gamma_max=0.3)
    assert math.isnan(dual.running_cost)
    # running mean 0.7: 0.1 + 0.5 * (0.7 - 0.5)
    assert dual.update(0.7) == pytest.approx(0.2)
    # window [0.7, 0.5], mean 0.6: 0.2 + 0.5 * 0.1
    assert dual.update(torch.tensor(0.5)) == pytest.approx(0.25)
    # the oldest cost leaves the window: [0.1, 0.5], mean 0.3: 0.25 - 0.5 * 0.2
    assert dual.update(0.1) == pytest.approx(0.15)
    assert dual.running_cost == pytest.approx(0.3)
    # gamma stays in [gamma_min, gamma_max] = [0, 0.3]
    for _ in range(3):
        dual.update(0.0)
    assert dual.gamma_value == 0.0
    for _ in range(10):
        dual.update(1.0)
    assert dual.gamma_value == pytest.approx(0.3)
    assert int(dual.num_updates) == 16


def test_dual_ascent_on_a_toy_stream_converges_to_the_target():
    # A cost that falls with gamma: 0.2 + 0.6 exp(-gamma), plus noise of +-0.05. The target
    # 0.5 is met at gamma = ln 2.
    generator = torch.Generator().manual_seed(0)
    dual = CostBudgetDual(0.5, gamma_init=0.1, step_size=0.5, window=20)
    running, gammas = [], []
    for _ in range(1500):
        noise = 0.1 * (float(torch.rand((), generator=generator)) - 0.5)
        dual.update(0.2 + 0.6 * math.exp(-dual.gamma_value) + noise)
        running.append(dual.running_cost)
        gammas.append(dual.gamma_value)
    assert max(abs(c - 0.5) for c in running[-500:]) < 0.03
    assert statistics.mean(gammas[-500:]) == pytest.approx(math.log(2), abs=0.05)


def test_dual_state_is_in_the_state_dict_and_resumes():
    dual = CostBudgetDual(0.5, window=3)
    for cost in (0.9, 0.8, 0.7, 0.6):
        dual.update(cost)
    resumed = CostBudgetDual(0.5, window=3)
    resumed.load_state_dict(dual.state_dict())
    assert resumed.gamma_value == dual.gamma_value
    assert resumed.running_cost == pytest.approx((0.8 + 0.7 + 0.6) / 3)
    assert resumed.update(0.5) == dual.update(0.5)


@pytest.mark.parametrize('kwargs, message', [
    (dict(target_cost=0.), '`target_cost` must be a finite cost > 0, got 0.0'),
    (dict(target_cost=0.5, step_size=0.), '`step_size` must be > 0, got 0.0'),
    (dict(target_cost=0.5, window=0), '`window` must be an integer >= 1, got 0'),
    (dict(target_cost=0.5, gamma_min=-1.),
     r'the bounds must satisfy 0 <= `gamma_min` <= `gamma_max` < inf, got gamma_min=-1.0'),
    (dict(target_cost=0.5, gamma_init=5., gamma_max=1.),
     r'`gamma_init` 5.0 must lie in \[gamma_min, gamma_max\] = \[0.0, 1.0\]'),
])
def test_dual_settings_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=f'CostBudgetDual: {message}'):
        CostBudgetDual(**kwargs)


def test_dual_refuses_a_non_finite_cost():
    with pytest.raises(ValueError, match='CostBudgetDual: the batch cost is nan'):
        CostBudgetDual(0.5).update(float('nan'))


# ----------------------------------------------------------------------------- DRSLoss
def _inputs(num_imgs=2, k=3):
    teacher = torch.randn(num_imgs, 4, 5).log_softmax(-1)
    student = torch.randn(k, num_imgs, 4, 5).log_softmax(-1)
    valid = torch.ones(num_imgs, 4, dtype=torch.bool)
    return student, teacher, valid, torch.arange(num_imgs)


def test_drs_loss_with_target_uses_then_updates_gamma_and_logs_it():
    loss_fn = MODELS.build(dict(type='DRSLoss', scale_costs=[0.8, 0.5, 0.2], gamma=0.3,
                                loss_weight=2.0, target_cost=0.4,
                                dual_ascent=dict(step_size=1.0, window=4)))
    student, teacher, valid, img_inds = _inputs()
    h = torch.tensor([[1., 0., 0.], [0., 1., 0.]], requires_grad=True)  # mean cost 0.65
    out = loss_fn(h, student, teacher, valid, img_inds)
    assert out['loss_drs_flops'].item() == pytest.approx(2.0 * 0.3 * 0.65)
    assert out['drs_gamma'].item() == pytest.approx(0.3)
    assert out['drs_running_cost'].item() == pytest.approx(0.65)
    assert not out['drs_gamma'].requires_grad and not out['drs_running_cost'].requires_grad
    # The next batch uses 0.3 + 1.0 * (0.65 - 0.4).
    assert loss_fn.gamma == pytest.approx(0.55)
    out = loss_fn(h, student, teacher, valid, img_inds)
    assert out['loss_drs_flops'].item() == pytest.approx(2.0 * 0.55 * 0.65)
    # Out of training (e.g. a validation loss), gamma stays.
    loss_fn.eval()
    out = loss_fn(h, student, teacher, valid, img_inds)
    assert loss_fn.gamma == pytest.approx(0.8) and out['drs_gamma'].item() == pytest.approx(0.8)


def test_plain_gamma_stays_the_default_and_logs_nothing_new():
    loss_fn = DRSLoss(scale_costs=[0.8, 0.5, 0.2], gamma=0.3)
    assert loss_fn.dual is None and loss_fn.state_dict() == {}
    student, teacher, valid, img_inds = _inputs()
    h = torch.tensor([[1., 0., 0.], [0., 1., 0.]])
    for _ in range(2):
        out = loss_fn(h, student, teacher, valid, img_inds)
        assert set(out) == {'loss_drs_acc', 'loss_drs_flops', 'drs_cost'}
        assert out['loss_drs_flops'].item() == pytest.approx(0.3 * 0.65)


def test_drs_loss_logs_reach_the_message_hub_as_mmengine_records_them():
    loss_fn = DRSLoss(scale_costs=[0.8, 0.5, 0.2], gamma=0.3, target_cost=0.4)
    student, teacher, valid, img_inds = _inputs()
    losses = loss_fn(torch.tensor([[1., 0., 0.], [0., 0., 1.]]), student, teacher, valid,
                     img_inds)
    total, log_vars = BaseModel.parse_losses(None, losses)
    # Only keys with `loss` are summed; the logs travel in log_vars.
    assert total.item() == pytest.approx(
        (losses['loss_drs_acc'] + losses['loss_drs_flops']).item())

    class _Runner:
        message_hub = MessageHub.get_instance('test_cost_budget_dual')

    RuntimeInfoHook().after_train_iter(_Runner, 0, outputs=log_vars)
    hub = _Runner.message_hub
    assert hub.get_scalar('train/drs_gamma').current() == pytest.approx(0.3)
    assert hub.get_scalar('train/drs_running_cost').current() == pytest.approx(0.5)


@pytest.mark.parametrize('cfg, error, message', [
    (dict(target_cost=0.1), ValueError,
     r"DRSLoss: `target_cost` 0.1 is below the cheapest scale's cost 0.2 \(scale_costs "
     r'\[0.8, 0.5, 0.2\]\): no choice of scales can meet it'),
    (dict(target_cost=0.8), ValueError,
     r"`target_cost` 0.8 is not below the dearest scale's cost 0.8 .*the budget never binds"),
    (dict(dual_ascent=dict(step_size=1.0)), ValueError,
     '`dual_ascent` is set but `target_cost` is not'),
    (dict(target_cost=0.5, dual_ascent=dict(lr=1.0)), KeyError,
     r"unknown key\(s\) \['lr'\] in `dual_ascent`; allowed: \['step_size', 'window', "
     r"'gamma_min', 'gamma_max'\]"),
])
def test_drs_loss_budget_errors(cfg, error, message):
    with pytest.raises(error, match=message):
        DRSLoss(scale_costs=[0.8, 0.5, 0.2], **cfg)


# ----------------------------------------------------------------------------- toy selector
def _toy_budget_training(target, steps=400):
    """Trains only a DRS with ``DRSLoss(target_cost=target)`` on fixed distributions.

    The toy of ``test_distiller.py``'s gamma test: eight images whose content encodes a
    difficulty d in [0, 1]; the student at scale s moves away from the teacher by
    (1 - s) * d. There a larger gamma lowers the chosen scales, so the cost responds to gamma.
    ``target=None`` trains with the plain gamma 0.1.

    Returns:
        dict: per step, the batch ``costs``, and with a target the logged ``gammas`` and
        ``running`` costs.
    """
    torch.manual_seed(0)
    selector = DynamicResolutionSelector(scales=SCALES, input_size=(16, 16), channels=(8, 16))
    budget = {} if target is None else dict(target_cost=target,
                                            dual_ascent=dict(step_size=2.0, window=20))
    loss_fn = DRSLoss(scale_costs=COSTS, gamma=0.1, **budget)
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
    logs = dict(costs=[], gammas=[], running=[])
    for step in range(steps):
        h, _ = selector.sample(selector(images), tau=max(5.0 * 0.97**step, 0.5))
        out = loss_fn(h, student, teacher, valid, img_inds)
        optim.zero_grad()
        (out['loss_drs_acc'] + out['loss_drs_flops']).backward()
        optim.step()
        logs['costs'].append(out['drs_cost'].item())
        if target is not None:
            logs['gammas'].append(out['drs_gamma'].item())
            logs['running'].append(out['drs_running_cost'].item())
    return logs


@pytest.fixture(scope='module')
def toy_runs():
    torch.set_num_threads(1)
    # Plain gamma settles within 100 steps; the dual needs 400.
    return {target: _toy_budget_training(target, 100 if target is None else 400)
            for target in (None, 0.65, 0.72)}


@pytest.mark.slow  # about 8 s of CPU, over 20 s on the shared 2-core machine
def test_training_to_a_target_cost_converges_on_a_toy_selector(toy_runs):
    # Plain gamma 0.1 ends near the dearest scales (figures in docs/budget.md).
    plain = statistics.mean(toy_runs[None]['costs'][-50:])
    assert plain > 0.76
    for target in (0.65, 0.72):
        run = toy_runs[target]
        assert abs(statistics.mean(run['costs'][-100:]) - target) < 0.03, target
        assert abs(run['running'][-1] - target) < 0.03, target
        # gamma rose from 0.1 to pay for the budget.
        assert run['gammas'][0] == pytest.approx(0.1) and run['gammas'][-1] > 1.0
    # The tighter target needs the larger gamma.
    assert toy_runs[0.65]['gammas'][-1] > toy_runs[0.72]['gammas'][-1]
