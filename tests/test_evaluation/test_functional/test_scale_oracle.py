"""The per-image scale oracle on hand-made tables with hand-computed answers."""
import itertools

import numpy as np
import pytest

from mmdld.evaluation.functional.scale_oracle import (ScaleTable, budget_oracle,
                                                      check_same_care_gt,
                                                      cheapest_keeping_matches, fixed_at,
                                                      fixed_scale_curve, image_hull, oracle_at,
                                                      share_of_oracle_gain, table_from_counts)

SCALES = (1.0, 0.6, 0.3)
COSTS = (10., 4., 1.)


def easy_medium_hard() -> ScaleTable:
    """Three images at scales 1.0 / 0.6 / 0.3 costing 10 / 4 / 1 GFLOPs.

    ``easy`` reads its 2 words at every scale, ``medium`` needs 0.6 for its 3, ``hard`` needs
    1.0 for its 4 (2 at 0.6, none at 0.3).
    """
    return ScaleTable(matched=[[2, 2, 2], [3, 3, 1], [4, 2, 0]],
                      num_det=[[2, 2, 2], [3, 3, 2], [5, 3, 1]],
                      num_gt=[2, 3, 5], gflops=COSTS, reference=0, scales=SCALES,
                      names=['easy', 'medium', 'hard'])


def test_fixed_scale_curve_by_hand():
    curve = fixed_scale_curve(easy_medium_hard())
    # 1.0: 9 of 10 GT with 10 detections; 0.6: 7 with 8; 0.3: 3 with 5.
    assert [p.gflops for p in curve] == [10., 4., 1.]
    assert [p.hmean for p in curve] == pytest.approx([0.9, 14 / 18, 6 / 15])
    assert curve[1].precision == pytest.approx(7 / 8)
    assert curve[1].recall == pytest.approx(7 / 10)


def test_cheapest_keeping_matches_by_hand():
    selection = cheapest_keeping_matches(easy_medium_hard())
    assert selection.choices.tolist() == [2, 1, 0]
    assert selection.point.gflops == pytest.approx((1 + 4 + 10) / 3)
    assert selection.point.hmean == pytest.approx(0.9)  # the reference's words and detections


def test_cheapest_keeping_matches_breaks_cost_ties_by_false_positives():
    # Scales 1 and 2 cost the same and both keep the word; scale 2 has one detection less.
    table = ScaleTable(matched=[[1, 1, 1]], num_det=[[3, 3, 2]], num_gt=[1],
                       gflops=[5., 2., 2.], reference=0)
    assert cheapest_keeping_matches(table).choices.tolist() == [2]


def test_budget_oracle_steps_by_hand():
    curve = budget_oracle(easy_medium_hard(), 'capped')
    # Start at 0.3 everywhere; medium's and hard's first upgrades both gain 2 words for 3
    # GFLOPs: medium's goes first (it removes a false positive, hard's adds none); then hard
    # to 0.6, then hard to 1.0 (2 words for 6 GFLOPs). easy never moves.
    assert curve.start.tolist() == [2, 2, 2]
    assert [(u.image, u.source, u.target) for u in curve.upgrades] == [(1, 2, 1), (2, 2, 1),
                                                                       (2, 1, 0)]
    assert [p.gflops for p in curve.points] == pytest.approx([1, 2, 3, 5])
    assert [p.matched for p in curve.points] == [3, 5, 7, 9]
    assert [p.num_det for p in curve.points] == [5, 6, 8, 10]
    assert [p.hmean for p in curve.points] == pytest.approx([6 / 15, 10 / 16, 14 / 18, 0.9])
    assert curve.choices_after(2).tolist() == [2, 1, 1]
    assert curve.choices_at(4.0).tolist() == [2, 1, 1]
    assert curve.choices_at(0.5) is None
    # The full budget ends at the cheapest choice keeping every image's words.
    assert curve.choices_after(3).tolist() == cheapest_keeping_matches(
        easy_medium_hard()).choices.tolist()


def test_oracle_at_interpolates_or_steps():
    curve = budget_oracle(easy_medium_hard(), 'capped')
    # Halfway between 3 GFLOPs (7 words, 8 detections) and 5 (9 words, 10 detections).
    middle = oracle_at(curve, 4.0)
    assert (middle.gflops, middle.matched, middle.num_det) == pytest.approx((4.0, 8.0, 9.0))
    assert middle.hmean == pytest.approx(16 / 19)
    step = oracle_at(curve, 4.0, mode='step')
    assert (step.gflops, step.hmean) == pytest.approx((3.0, 14 / 18))
    assert oracle_at(curve, 0.9) is None  # cheaper than every image at its cheapest scale
    assert oracle_at(curve, 50.0).hmean == pytest.approx(0.9)  # beyond the end: the end
    assert oracle_at(curve, 3.0).hmean == pytest.approx(14 / 18)  # exactly on a point
    with pytest.raises(ValueError, match="mode must be one of .*got 'linear'"):
        oracle_at(curve, 3.0, mode='linear')


def test_fixed_at_interpolates_between_scales():
    curve = fixed_scale_curve(easy_medium_hard())
    # 7 GFLOPs: halfway between 0.6 (7 words, 8 detections) and 1.0 (9, 10).
    assert fixed_at(curve, 7.0).hmean == pytest.approx(16 / 19)
    assert fixed_at(curve, 4.0).hmean == pytest.approx(14 / 18)
    assert fixed_at(curve, 0.5) is None


def test_share_of_oracle_gain_by_hand():
    table = easy_medium_hard()
    fixed = fixed_at(fixed_scale_curve(table), 4.0).hmean  # 7/9
    oracle = oracle_at(budget_oracle(table), 4.0).hmean  # 16/19
    assert share_of_oracle_gain(0.8, fixed, oracle) == pytest.approx(19 / 55)
    assert share_of_oracle_gain(oracle, fixed, oracle) == pytest.approx(1.0)
    assert share_of_oracle_gain(fixed, fixed, oracle) == pytest.approx(0.0)
    # No gain to share: None, whatever the DRS reads.
    assert share_of_oracle_gain(0.8, 0.7, 0.7) is None
    assert share_of_oracle_gain(0.8, 0.7, 0.6) is None


def lucky_table() -> ScaleTable:
    """Image ``lucky`` matches 2 words at 0.6 but only 1 at full resolution."""
    return ScaleTable(matched=[[1, 2, 0], [3, 3, 1]], num_det=[[2, 2, 1], [3, 3, 2]],
                      num_gt=[3, 3], gflops=COSTS, reference=0, names=['lucky', 'plain'])


def test_best_of_k_counts_the_lucky_read_and_capped_does_not():
    best = budget_oracle(lucky_table(), 'best_of_k')
    capped = budget_oracle(lucky_table(), 'capped')
    assert best.points[-1].matched == 5 and capped.points[-1].matched == 4
    # Both end with lucky at 0.6 and plain at 0.6: the capped oracle counts 1 word of lucky's
    # 2 there and keeps its 2 detections.
    assert best.choices_after(len(best.upgrades)).tolist() == [1, 1]
    assert capped.choices_after(len(capped.upgrades)).tolist() == [1, 1]
    assert best.points[-1].hmean == pytest.approx(10 / 11)
    assert capped.points[-1].hmean == pytest.approx(8 / 11)
    with pytest.raises(ValueError, match="variant must be one of .*got 'lucky'"):
        budget_oracle(lucky_table(), 'lucky')


def random_table(seed: int, num_images: int = 3, num_scales: int = 3,
                 constant_detections: bool = False) -> ScaleTable:
    """Random words, detections and per-image integer costs (reference: scale 0)."""
    rng = np.random.default_rng(seed)
    num_gt = rng.integers(0, 6, size=num_images)
    matched = np.stack([rng.integers(0, g + 1, size=num_scales) for g in num_gt])
    if constant_detections:
        num_det = np.repeat(matched.max(axis=1, keepdims=True) + rng.integers(
            0, 3, size=(num_images, 1)), num_scales, axis=1)
    else:
        num_det = matched + rng.integers(0, 3, size=matched.shape)
    gflops = rng.integers(1, 8, size=(num_images, num_scales)).astype(float)
    return ScaleTable(matched, num_det, num_gt, gflops, reference=0)


def best_words_within(table: ScaleTable, words: np.ndarray, total_gflops: float) -> int:
    """The most words any choice of scales matches within a total cost (brute force)."""
    best = -1
    rows = np.arange(table.num_images)
    for choice in itertools.product(range(table.num_scales), repeat=table.num_images):
        if table.gflops[rows, choice].sum() <= total_gflops + 1e-9:
            best = max(best, int(words[rows, choice].sum()))
    return best


@pytest.mark.parametrize('seed', range(40))
def test_every_greedy_point_is_the_exact_optimum_at_its_budget(seed):
    table = random_table(seed)
    for variant in ('best_of_k', 'capped'):
        curve = budget_oracle(table, variant)
        words = table.matched if variant == 'best_of_k' else np.minimum(
            table.matched, table.matched[:, :1])
        for point in curve.points:
            assert point.matched == best_words_within(
                table, words, point.gflops * table.num_images), (variant, point)


def test_greedy_picks_the_known_optimum_in_a_small_case():
    # From the start (both at their cheapest, 2 GFLOPs in all), image 0 gains 1 word for 1
    # GFLOP, then 2 more for 3; image 1 gains 2 words for 2. With 3 GFLOPs more to spend, the
    # optimum is image 0's first step and image 1's (3 words); image 0's whole jump (3 words for
    # 4) does not fit.
    table = ScaleTable(matched=[[3, 1, 0], [2, 0, 0]], num_det=[[3, 1, 0], [2, 0, 0]],
                       num_gt=[3, 2], gflops=[[5., 2., 1.], [3., 1., 1.]], reference=0)
    curve = budget_oracle(table, 'best_of_k')
    budget = (2 + 3) / 2  # mean GFLOPs over the 2 images
    assert oracle_at(curve, budget, mode='step').matched == 3
    assert best_words_within(table, table.matched, budget * 2) == 3
    assert curve.choices_at(budget).tolist() == [1, 0]


@pytest.mark.parametrize('seed', range(20))
def test_curves_are_monotone_and_capped_never_beats_best_of_k(seed):
    table = random_table(seed, num_images=6, num_scales=4)
    best, capped = budget_oracle(table, 'best_of_k'), budget_oracle(table, 'capped')
    for curve in (best, capped):
        gflops = [p.gflops for p in curve.points]
        words = [p.matched for p in curve.points]
        assert all(b > a for a, b in zip(gflops, gflops[1:]))
        assert all(b > a for a, b in zip(words, words[1:]))
    grid = np.linspace(best.points[0].gflops, max(best.points[-1].gflops,
                                                  capped.points[-1].gflops) + 1, 60)
    for mode in ('interpolate', 'step'):
        capped_words = [oracle_at(capped, g, mode).matched for g in grid]
        assert all(b >= a for a, b in zip(capped_words, capped_words[1:]))
    for g in grid:  # the LP optimum grows with the words of every option
        assert oracle_at(capped, g).matched <= oracle_at(best, g).matched + 1e-9


@pytest.mark.parametrize('seed', range(20))
def test_full_budget_capped_oracle_is_the_reference_when_detections_do_not_change(seed):
    table = random_table(seed, num_images=8, num_scales=4, constant_detections=True)
    reference = fixed_scale_curve(table)[table.reference]
    end = budget_oracle(table, 'capped').points[-1]
    assert (end.matched, end.num_det) == (reference.matched, reference.num_det)
    assert end.hmean == pytest.approx(reference.hmean)
    assert end.hmean <= budget_oracle(table, 'best_of_k').points[-1].hmean + 1e-12
    # With fixed detections, more words is a higher hmean all along the curve.
    hmeans = [p.hmean for p in budget_oracle(table, 'capped').points]
    assert all(b >= a for a, b in zip(hmeans, hmeans[1:]))


def test_image_hull_drops_dominated_and_concave_options():
    # Options (GFLOPs, words): (1, 0), (2, 1) below the segment (1, 0)-(3, 3), (3, 3),
    # (4, 3) dominated (more GFLOPs, no more words), (6, 4).
    gflops = np.array([1., 2., 3., 4., 6.])
    words = np.array([0, 1, 3, 3, 4])
    assert image_hull(gflops, words, np.zeros(5, int)) == [0, 2, 4]
    # Collinear options stay (smaller steps).
    assert image_hull(np.array([1., 2., 3.]), np.array([0, 1, 2]), np.zeros(3, int)) == [0, 1, 2]


def test_bad_tables_are_refused_naming_the_image_and_scale():
    with pytest.raises(ValueError, match='image hard at scale 0.6 matches 4 words but has 3 '
                       'care detections'):
        ScaleTable(matched=[[4, 4]], num_det=[[5, 3]], num_gt=[5], gflops=[2., 1.],
                   reference=0, scales=[1.0, 0.6], names=['hard'])
    with pytest.raises(ValueError, match='image #0 at scale 1 matches 2 words but has 1 care GT'):
        ScaleTable(matched=[[1, 2]], num_det=[[5, 3]], num_gt=[1], gflops=[2., 1.], reference=0)
    with pytest.raises(ValueError, match=r'gflops has shape \(3,\), expected \(1, 2\) or \(2,\)'):
        ScaleTable(matched=[[1, 1]], num_det=[[1, 1]], num_gt=[1], gflops=[3., 2., 1.],
                   reference=0)
    with pytest.raises(ValueError, match='reference 2 is not a scale index'):
        ScaleTable(matched=[[1, 1]], num_det=[[1, 1]], num_gt=[1], gflops=[2., 1.],
                   reference=2)


def test_table_from_per_scale_counts_is_the_hand_made_table():
    # easy_medium_hard() as three per-scale [matched, care GT, care det] arrays.
    counts = [np.array([[2, 2, 2], [3, 3, 3], [4, 5, 5]]),
              np.array([[2, 2, 2], [3, 3, 3], [2, 5, 3]]),
              np.array([[2, 2, 2], [1, 3, 2], [0, 5, 1]])]
    names = ['easy', 'medium', 'hard']
    check_same_care_gt(counts, names, ['s1', 's0.6', 's0.3'])
    table = table_from_counts(counts, COSTS, SCALES, names)
    expected = easy_medium_hard()
    for field in ('matched', 'num_det', 'num_gt', 'gflops'):
        np.testing.assert_array_equal(getattr(table, field), getattr(expected, field))
    assert (table.reference, list(table.scales), list(table.names)) == (0, list(SCALES), names)
    # One cost per image is kept per image.
    per_image = table_from_counts(counts, [[10., 9., 8.], COSTS[1], COSTS[2]], SCALES, names)
    np.testing.assert_array_equal(per_image.gflops[:, 0], [10., 9., 8.])


def test_care_gt_that_differ_between_scales_name_the_image_and_both_sources():
    counts = [np.array([[2, 2, 2], [3, 3, 3]]), np.array([[2, 2, 2], [3, 4, 3]])]
    with pytest.raises(ValueError, match=r'image b has 4 care GT \(det\) in run 0.5 but 3 in '
                       r'run 1$'):
        check_same_care_gt(counts, ['a', 'b'], ['run 1', 'run 0.5'], key='det')
