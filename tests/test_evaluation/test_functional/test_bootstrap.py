"""Bootstrap intervals over images, checked against cases with known answers."""
import math
import time

import numpy as np
import pytest

from mmdld.evaluation.functional import (Interval, align_by_name, bootstrap_metric,
                                         images_for_half_width, paired_bootstrap_difference,
                                         verdict)


def binomial_counts(num_images, p, seed=0):
    """N images with 1 GT and 1 detection each, matched (with the right text) with prob p."""
    matched = np.random.default_rng(seed).random(num_images) < p
    return np.stack([matched, np.ones(num_images), np.ones(num_images),
                     np.zeros(num_images), np.zeros(num_images)], axis=1).astype(np.int64)


def test_identical_images_collapse_the_interval_to_the_point():
    counts = np.tile([3, 5, 4, 1, 0], (50, 1))  # precision 3/4, recall 3/5
    for metric, expected in (('precision', 0.75), ('recall', 0.6), ('hmean', 2 / 3)):
        interval = bootstrap_metric(counts, metric, num_samples=200)
        assert interval.point == pytest.approx(expected)
        assert interval.low == interval.point == interval.high and interval.half_width == 0


def test_binomial_half_width_matches_the_normal_approximation():
    counts = binomial_counts(2000, 0.55)
    p_hat = counts[:, 0].mean()
    interval = bootstrap_metric(counts, 'hmean', num_samples=2000, seed=0)
    # Precision = recall = hmean = fraction matched.
    assert interval.point == pytest.approx(p_hat)
    expected = 1.96 * math.sqrt(p_hat * (1 - p_hat) / len(counts))
    assert interval.half_width == pytest.approx(expected, rel=0.1)
    assert interval.low < p_hat < interval.high


def test_hmean_sums_counts_before_dividing():
    # Per-image hmeans would average to 0.5; the dataset hmean is 2/3 (as in summary).
    interval = bootstrap_metric([[2, 2, 2, 0, 0], [0, 1, 1, 0, 0]], num_samples=100)
    assert interval.point == pytest.approx(2 / 3)
    assert 0 <= interval.low <= interval.high <= 1


def test_difference_of_a_model_with_itself_is_exactly_zero():
    counts = binomial_counts(300, 0.4)
    interval = paired_bootstrap_difference(counts, counts.copy())
    assert (interval.point, interval.low, interval.high) == (0.0, 0.0, 0.0)
    assert str(interval) == '0.0 [0.0, 0.0]' and verdict(interval) == 'within'


def shared_effect_models(num_images=400, seed=0):
    """Two models on images of very different difficulty; b finds one word more per 40."""
    rng = np.random.default_rng(seed)
    num_gt = np.full(num_images, 10)
    easy = rng.random(num_images) < 0.5
    hits_a = np.where(easy, rng.binomial(10, 0.9, num_images),
                      rng.binomial(10, 0.2, num_images))
    hits_b = np.minimum(num_gt, hits_a + (rng.random(num_images) < 0.25))
    zeros = np.zeros(num_images, dtype=np.int64)
    return tuple(np.stack([hits, num_gt, num_gt, zeros, zeros], axis=1)
                 for hits in (hits_a, hits_b))


def test_pairing_removes_the_shared_per_image_effect():
    counts_a, counts_b = shared_effect_models()
    paired = paired_bootstrap_difference(counts_b, counts_a, num_samples=1000)
    one_a = bootstrap_metric(counts_a, num_samples=1000, seed=1)
    one_b = bootstrap_metric(counts_b, num_samples=1000, seed=2)
    unpaired_half_width = math.hypot(one_a.half_width, one_b.half_width)
    assert paired.point == pytest.approx((counts_b[:, 0].sum() - counts_a[:, 0].sum()) / 4000)
    assert paired.half_width < 0.25 * unpaired_half_width
    # b is better: the paired interval says so, the unpaired one would not.
    assert verdict(paired) == 'above' and paired.point < unpaired_half_width
    reverse = paired_bootstrap_difference(counts_a, counts_b, num_samples=1000)
    assert verdict(reverse) == 'below'
    assert reverse.low == pytest.approx(-paired.high) and reverse.high == pytest.approx(
        -paired.low)


def test_same_seed_same_interval_other_seed_other_interval():
    counts = binomial_counts(500, 0.5)
    assert bootstrap_metric(counts, seed=3) == bootstrap_metric(counts, seed=3)
    assert bootstrap_metric(counts, seed=3) != bootstrap_metric(counts, seed=4)


def test_verdict_needs_the_whole_interval_on_one_side():
    assert verdict(Interval(0.02, 0.001, 0.04)) == 'above'
    assert verdict(Interval(-0.02, -0.04, -0.001)) == 'below'
    assert verdict(Interval(0.02, 0.0, 0.04)) == 'within'  # touching 0 is not above
    assert verdict(Interval(0.01, -0.01, 0.03)) == 'within'


def test_interval_text_in_percent():
    interval = Interval(0.5543, 0.5312, 0.5761)
    assert str(interval) == '55.4 [53.1, 57.6]'
    assert Interval(0.012, -0.003, 0.026).format(signed=True) == '+1.2 [-0.3, +2.6]'
    assert Interval(0.012, -0.003, 0.026).format(digits=2) == '1.20 [-0.30, 2.60]'
    assert interval.half_width == pytest.approx(0.02245)
    assert interval.to_dict()['half_width'] == pytest.approx(0.02245)


def test_align_by_name_reorders_and_lists_missing_images():
    images_a = [dict(name=f'img_{i}') for i in (1, 2, 3)]
    images_b = [dict(name=f'img_{i}', b=True) for i in (3, 1, 2)]
    aligned_a, aligned_b = align_by_name(images_a, images_b)
    assert [r['name'] for r in aligned_b] == ['img_1', 'img_2', 'img_3'] and aligned_b[0]['b']
    with pytest.raises(ValueError, match=r'^cannot pair the results image by image: '
                                         r'B.json lacks 2 image\(s\) of A.json: img_2, img_3; '
                                         r'A.json lacks 1 image\(s\) of B.json: img_9$'):
        align_by_name(images_a, [dict(name='img_1'), dict(name='img_9')], ('A.json', 'B.json'))
    many = [dict(name=f'x_{i}') for i in range(12)]
    with pytest.raises(ValueError, match=r'x_9, \.\.\. \(12 in all\)$'):
        align_by_name(many, [], ('a', 'b'))
    with pytest.raises(ValueError, match="b: image name 'img_1' appears twice"):
        align_by_name(images_a, images_b + [dict(name='img_1')])


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match='counts_a has 3 images, counts_b 2'):
        paired_bootstrap_difference(binomial_counts(3, 0.5), binomial_counts(2, 0.5))
    with pytest.raises(ValueError, match=r'counts: no images to resample'):
        bootstrap_metric(np.zeros((0, 5)))
    with pytest.raises(ValueError, match=r'got shape \(5,\)'):
        bootstrap_metric([1, 1, 1, 0, 0])
    with pytest.raises(ValueError, match="metric must be one of .* got 'f1'"):
        bootstrap_metric(binomial_counts(3, 0.5), 'f1')
    with pytest.raises(ValueError, match='level must be in'):
        bootstrap_metric(binomial_counts(3, 0.5), level=95)


def test_images_for_a_one_point_half_width():
    counts = binomial_counts(1000, 0.55)
    # The normal approximation: N' = 1.96^2 p (1 - p) / 0.01^2, about 9,500 images of one word.
    p_hat = counts[:, 0].mean()
    expected = 1.96 ** 2 * p_hat * (1 - p_hat) / 0.01 ** 2
    assert images_for_half_width(counts, target=0.01) == pytest.approx(expected, rel=0.2)
    # Four times the half-width needs a sixteenth of the images.
    assert images_for_half_width(counts, target=0.04) == pytest.approx(expected / 16, rel=0.2)
    assert images_for_half_width(np.tile([1, 1, 1, 0, 0], (5, 1))) == 1
    with pytest.raises(ValueError, match='target half-width must be > 0'):
        images_for_half_width(counts, target=0)


def test_two_thousand_resamples_of_two_thousand_images_are_fast():
    counts_a, counts_b = binomial_counts(2000, 0.5, seed=1), binomial_counts(2000, 0.6, seed=2)
    durations = []
    for _ in range(3):  # the best of three: other processes on the machine only slow it down
        start = time.perf_counter()
        paired_bootstrap_difference(counts_a, counts_b, num_samples=2000)
        durations.append(time.perf_counter() - start)
    # About 0.1 s on an idle core.
    assert min(durations) < 1.0
