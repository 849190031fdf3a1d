"""A test-time budget for the DRS: ``calibrate_offset`` on hand-made logit tables and the
selector's ``cost_offset``."""
import pytest
import torch

from mmdld.models.selectors import (DynamicResolutionSelector, calibrate_offset,
                                    choose_with_offset)
from mmdld.models.selectors.budget_offset import search_range
from mmdld.registry import MODELS

pytestmark = pytest.mark.usefixtures('single_thread')

SCALES = (0.8, 0.6, 0.4)
COSTS = [0.6, 0.4, 0.2]
# Three images. Image A, z = (2, 1.2, 0): scale 0.8 while b < 4 (2 - 0.6b = 1.2 - 0.4b),
# 0.6 while b < 6 (1.2 - 0.4b = -0.2b), then 0.4. Image B, (1, 1.5, 0): 0.8 while b < -2.5,
# 0.6 while b < 7.5, then 0.4. Image C, (0, 0, 1): 0.8 while b < -2.5, then 0.4.
# Mean cost: 0.6 below b = -2.5, 0.4 up to 4 (the trained choice, b = 0), 1/3 up to 6,
# 0.8/3 up to 7.5, then 0.2.
LOGITS = [[2.0, 1.2, 0.0], [1.0, 1.5, 0.0], [0.0, 0.0, 1.0]]


@pytest.mark.parametrize('budget, threshold, mean_cost, counts', [
    (0.35, 4.0, 1 / 3, [0, 2, 1]),
    (1 / 3, 4.0, 1 / 3, [0, 2, 1]),
    (0.3, 6.0, 0.8 / 3, [0, 1, 2]),
    (0.25, 7.5, 0.2, [0, 0, 3]),
    (0.2, 7.5, 0.2, [0, 0, 3]),
    # Above the trained cost the offset turns negative: the smallest that meets 0.5 leaves
    # the trained choices (one more step down, b < -2.5, costs 0.6).
    (0.5, -2.5, 0.4, [1, 1, 1]),
])
def test_calibration_meets_a_budget_at_the_hand_computed_offset(budget, threshold, mean_cost,
                                                                counts):
    result = calibrate_offset(LOGITS, COSTS, budget, scales=SCALES)
    assert result.threshold == pytest.approx(threshold, abs=1e-5)
    # The offset deployed: just past the threshold, the same choices.
    assert threshold < result.offset <= threshold + 1e-3 * (1 + abs(threshold)) + 1e-5
    assert result.mean_cost == pytest.approx(mean_cost) and result.counts == counts
    assert result.unbudgeted_cost == pytest.approx(0.4) and result.num_images == 3
    assert not result.saturated
    chosen = choose_with_offset(torch.tensor(LOGITS), COSTS, result.offset)
    assert torch.bincount(chosen, minlength=3).tolist() == counts


def test_mean_cost_never_rises_with_the_offset_on_a_random_table():
    torch.manual_seed(0)
    logits = 3 * torch.randn(200, 6)
    costs = torch.tensor([0.71, 0.6, 0.49, 0.4, 0.33, 0.25])
    offsets = torch.linspace(-20, 20, 401)
    means = [float(costs[choose_with_offset(logits, costs, float(b))].mean()) for b in offsets]
    assert all(a >= b for a, b in zip(means, means[1:]))
    bound = search_range(logits.double(), costs.double())
    assert means[0] > means[-1]
    assert float(costs[choose_with_offset(logits, costs, bound)].max()) == pytest.approx(0.25)
    assert float(costs[choose_with_offset(logits, costs, -bound)].min()) == pytest.approx(0.71)
    # Every budget between the two ends is met, as close as the steps allow.
    for budget in (0.3, 0.45, 0.6):
        result = calibrate_offset(logits, costs.tolist(), budget)
        assert result.mean_cost <= budget
        below = float(costs[choose_with_offset(logits, costs, result.threshold - 1e-4)].mean())
        assert below > budget


def test_a_budget_at_or_above_the_dearest_cost_saturates():
    result = calibrate_offset(LOGITS, COSTS, 0.7)
    assert result.saturated and result.counts == [3, 0, 0] and result.mean_cost == 0.6
    assert result.offset < 0


@pytest.mark.parametrize('args, message', [
    ((LOGITS, COSTS, 0.19, SCALES, 'ms'),
     "the budget 0.19 ms is below the cheapest scale's cost 0.2 ms \\(scale 0.4\\): no choice "
     'of scales can meet it'),
    ((LOGITS, COSTS, 0.1), r"the budget 0.1 is below the cheapest scale's cost 0.2 \(scale "
     r'index 2\)'),
    ((LOGITS, COSTS[:2], 0.3), r'the logit table must be \[N images, 2 scales\] with N >= 1, '
     r'got \(3, 3\)'),
    (([[0., float('nan'), 1.]], COSTS, 0.3), 'the logit table has 1 non-finite values'),
    ((LOGITS, [0.6, -0.4, 0.2], 0.3),
     r'`costs` must be finite and >= 0, got \[0.6, -0.4, 0.2\]'),
    ((LOGITS, COSTS, float('inf')), 'the budget must be finite'),
])
def test_calibration_errors(args, message):
    with pytest.raises(ValueError, match=f'calibrate_offset: {message}'):
        calibrate_offset(*args)


# ----------------------------------------------------------------------------- the selector
def test_selector_applies_the_offset_at_test_time_only():
    drs = MODELS.build(dict(type='DynamicResolutionSelector', scales=SCALES, cost_offset=4.1,
                            offset_costs=COSTS))
    logits = torch.tensor(LOGITS)
    assert drs.select(logits).tolist() == [1, 1, 2]
    plain = DynamicResolutionSelector(scales=SCALES)
    assert plain.cost_offset == 0 and plain.select(logits).tolist() == [0, 1, 2]
    # Training draws from the raw logits: the same noise gives the same sample.
    samples = []
    for selector in (drs, plain):
        samples.append(selector.sample(logits, tau=1.0,
                                       generator=torch.Generator().manual_seed(1))[1])
    assert torch.equal(samples[0], samples[1])
    # 0 restores the trained choice; the costs may stay.
    drs.set_cost_offset(0.)
    assert drs.select(logits).tolist() == [0, 1, 2]


@pytest.mark.parametrize('kwargs, message', [
    (dict(cost_offset=1.0), '`cost_offset` 1 needs `offset_costs`, the per-scale costs'),
    (dict(cost_offset=1.0, offset_costs=[0.5, 0.2]),
     r'`offset_costs` needs one finite cost >= 0 per scale in \(0.8, 0.6, 0.4\), got '
     r'\[0.5, 0.2\]'),
    (dict(cost_offset=float('nan'), offset_costs=COSTS), '`cost_offset` must be finite'),
])
def test_selector_offset_errors(kwargs, message):
    with pytest.raises(ValueError, match=f'DynamicResolutionSelector: {message}'):
        DynamicResolutionSelector(scales=SCALES, **kwargs)
