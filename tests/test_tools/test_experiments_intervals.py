"""The reproduction's intervals and its claim check, on hand-made per-image records."""
import numpy as np
import pytest

from experiments.claims import claim_comparisons, claim_lines, comparisons_json
from experiments.intervals import (WEIGHT_UNITS, CurvePoint, bracket, compare_at_gflops,
                                   hmean_interval, interpolated_counts, paired_difference)


def record(name, e2e, scale=None):
    """A per-image record whose ``e2e/none`` counts are ``[matched, care GT, care det]``."""
    matched, num_gt, num_det = e2e
    return dict(name=name, img_path=f'imgs/{name}.jpg', scale=scale, gflops=None,
                gt_texts=['w'] * num_gt, num_gt_dont_care=0, det_texts=['w'] * num_det,
                det_scores=None, matched_texts=['w'] * matched,
                counts={'e2e/none': [matched, num_gt, num_det, 0, 0]}, rec=None)


def same(counts, n=30):
    """``n`` images with the same counts."""
    return [record(f'img_{i:02d}', counts) for i in range(n)]


def test_hmean_interval_collapses_on_identical_images():
    interval = hmean_interval(same((1, 2, 2)))
    assert (interval.point, interval.low, interval.high) == (0.5, 0.5, 0.5)
    assert interval.format() == '50.0 [50.0, 50.0]'


def test_paired_difference_verdicts_and_pairing_by_name():
    better, worse = same((2, 2, 2)), same((1, 2, 2))
    up = paired_difference(better, worse)
    assert up.format(signed=True) == '+50.0 [+50.0, +50.0]'
    # Pairs by name, whatever the order of the second result.
    assert paired_difference(better, list(reversed(worse))) == up
    # Half the images gain a word and half lose one: 0 lies in the interval.
    a = [record(f'img_{i:02d}', (2, 2, 2) if i % 2 else (1, 2, 2)) for i in range(30)]
    b = [record(f'img_{i:02d}', (1, 2, 2) if i % 2 else (2, 2, 2)) for i in range(30)]
    mixed = paired_difference(a, b)
    assert mixed.point == 0.0 and mixed.low < 0 < mixed.high
    with pytest.raises(ValueError, match='DLD lacks 1 image.*img_29'):
        paired_difference(better[:29], worse, ('DLD', 'Vanilla'))


LOW = CurvePoint('Vanilla S-160', 1.0, [record('a', (1, 2, 2)), record('b', (0, 3, 1))])
HIGH = CurvePoint('Vanilla S-320', 4.0, [record('b', (3, 3, 4)), record('a', (2, 2, 2))])


def test_bracket_weights_and_clamping():
    # 2 GFLOPs lie a third of the way from 1 to 4.
    where = bracket([HIGH, LOW], 2.0)
    assert (where.low.name, where.high.name, where.units_high) == (LOW.name, HIGH.name, 3333)
    assert where.weight_high == 0.3333 and where.clamped is None
    assert where.describe() == '0.667 x Vanilla S-160 + 0.333 x Vanilla S-320'
    above, below = bracket([LOW, HIGH], 5.0), bracket([LOW, HIGH], 0.5)
    assert (above.low.name, above.high.name, above.clamped) == (HIGH.name, HIGH.name, 'above')
    assert above.describe() == 'Vanilla S-320'
    assert (below.low.name, below.clamped, below.describe()) == (LOW.name, 'below', LOW.name)
    # On a point: that point, not clamped.
    on = bracket([LOW, HIGH], 1.0)
    assert on.clamped is None and on.describe() == 'Vanilla S-160'
    with pytest.raises(ValueError, match='no points'):
        bracket([], 1.0)


def test_interpolated_counts_by_hand():
    where = bracket([LOW, HIGH], 2.0)
    counts = interpolated_counts(where, ['a', 'b'])
    # a: 6667 x [1, 2, 2] + 3333 x [2, 2, 2]; b: 6667 x [0, 3, 1] + 3333 x [3, 3, 4].
    assert counts[:, :3].tolist() == [[13333, 20000, 20000], [9999, 30000, 19999]]
    assert WEIGHT_UNITS == 10000
    with pytest.raises(ValueError, match=r"Vanilla S-160 has no record of image\(s\) \['c'\]"):
        interpolated_counts(where, ['a', 'c'])


def test_compare_at_gflops_is_the_fixed_curve_interpolated_on_the_same_images():
    model = [record('b', (3, 3, 4)), record('a', (2, 2, 2))]
    result = compare_at_gflops(model, [LOW, HIGH], 2.0, 'DLD')
    # Summed counts: low [1, 5, 3], high [5, 5, 6]; t = 0.3333: matched 2.3332, det 3.9999;
    # hmean = 2 matched / (det + GT).
    vanilla = 2 * 2.3332 / (3.9999 + 5)
    assert result['reference'].point == pytest.approx(vanilla, abs=1e-12)
    model_hmean = 2 * 5 / (6 + 5)
    assert result['difference'].point == pytest.approx(model_hmean - vanilla, abs=1e-12)
    assert result['bracket'].units_high == 3333


def _row(name, kind, e2e, gflops, scale):
    return dict(name=name, kind=kind, e2e_none=e2e, scale=scale, gflops=gflops)


def test_claim_comparisons_and_their_wording():
    teacher = same((2, 2, 2))
    images = {'Vanilla S-320': teacher, 'Vanilla S-160': same((1, 2, 2)),
              'DLD (gamma 0.1)': same((2, 2, 2)), 'DLD (gamma 3)': same((1, 2, 2)),
              'SKD-only (S x 0.5)': [record(f'img_{i:02d}', (2, 2, 2) if i % 2 else (1, 2, 2))
                                     for i in range(30)]}
    rows = [_row('Vanilla S-320', 'vanilla', 100.0, 4.0, 1.0),
            _row('Vanilla S-160', 'vanilla', 50.0, 1.0, 0.5),
            _row('SKD-only (S x 0.5)', 'distilled', 75.0, 1.0, 0.5),
            _row('DLD (gamma 0.1)', 'distilled', 100.0, 2.0, 0.6),
            _row('DLD (gamma 3)', 'distilled', 50.0, 0.5, 0.3)]
    checked = claim_comparisons(rows, images)
    assert checked['teacher'] == 'Vanilla S-320' and checked['testable']
    found = {(c['model'], c['kind']): c for c in checked['comparisons']}
    assert [c['verdict'] for c in checked['comparisons']] == [
        'above', 'within', 'above', 'below', 'within']
    tie = found[('DLD (gamma 0.1)', 'teacher')]
    assert tie['difference'].format(signed=True) == '+0.0 [+0.0, +0.0]'
    # Vanilla at 2 GFLOPs: every image 0.6667 x [1, 2, 2] + 0.3333 x [2, 2, 2].
    at = found[('DLD (gamma 0.1)', 'equal_gflops')]
    assert at['reference_interval'].point == pytest.approx(13333 / 20000)
    assert at['difference'].format(signed=True) == '+33.3 [+33.3, +33.3]'
    # Cheaper than the whole Vanilla curve: compared with its cheapest point.
    low_end = found[('DLD (gamma 3)', 'equal_gflops')]
    assert low_end['bracket'].clamped == 'below' and low_end['reference'] == 'Vanilla S-160'
    assert low_end['difference'].format(signed=True) == '+0.0 [+0.0, +0.0]'
    assert found[('DLD (gamma 3)', 'teacher')]['verdict'] == 'below'
    assert found[('SKD-only (S x 0.5)', 'same_scale')]['reference'] == 'Vanilla S-160'

    lines = claim_lines(rows, checked)
    assert lines[0].startswith('* SKD-only (S x 0.5) against Vanilla S-160 (the same input '
                               'scale, 0.5): E2E None 75.0 against 50.0; paired difference +25.0')
    assert lines[0].endswith('points: **above** (the whole interval above 0).')
    assert lines[1] == (
        '* DLD (gamma 0.1) against the teacher (Vanilla S-320): 50% of its GFLOPs, E2E None '
        '100.0 against 100.0; paired difference +0.0 [+0.0, +0.0] points: **within** (0 in the '
        'interval, ends included: not distinguishable on these images). A loss of more than 1 '
        'point is ruled out (the interval\'s low end is +0.0).')
    assert lines[2] == (
        '* DLD (gamma 0.1) against Vanilla at the same GFLOPs (2.00; per-image counts 0.667 x '
        'Vanilla S-160 + 0.333 x Vanilla S-320): E2E None 100.0 against 66.7 [66.7, 66.7]; '
        'paired difference +33.3 [+33.3, +33.3] points: **above** (the whole interval above '
        '0).')
    assert 'A loss of more than 1 point is not ruled out (the interval\'s low end is -50.0)' \
        in lines[3]
    assert ('its GFLOPs lie below the whole Vanilla curve, so it is compared with the curve\'s '
            'end, Vanilla S-160 (1.00 GFLOPs)') in lines[4]
    data = comparisons_json(checked)
    assert data['comparisons'][2]['bracket'] == dict(low='Vanilla S-160', high='Vanilla S-320',
                                                    weight_high=0.3333, clamped=None)
    assert data['comparisons'][2]['difference']['low'] == pytest.approx(1 / 3, abs=1e-4)


def test_claim_check_rows_without_records_and_an_untrained_teacher():
    rows = [_row('Vanilla S-320', 'vanilla', 60.0, 4.0, 1.0),
            _row('DLD (gamma 0.1)', 'distilled', 59.0, 2.0, 0.6)]
    checked = claim_comparisons(rows, {'Vanilla S-320': same((1, 2, 2))})
    assert checked['comparisons'] == [] and checked['missing'] == ['DLD (gamma 0.1)']
    assert claim_lines(rows, checked) == [
        '* DLD (gamma 0.1): not compared (no per-image records of it or of its reference).']
    untrained = [dict(r, e2e_none=0.0) for r in rows]
    (line, ) = claim_lines(untrained, claim_comparisons(untrained, {}))
    assert line.startswith('* Not testable here: the teacher (Vanilla S-320) reads almost')
    with pytest.raises(ValueError, match='no Vanilla row'):
        claim_comparisons(rows[1:], {})


def test_interpolated_comparison_matches_direct_fractional_interpolation():
    # Scaling every count by the weight units leaves each resample's hmean as the fractional
    # interpolation gives it (up to the rounding of t to 1/10000).
    rng = np.random.default_rng(1)
    gt = rng.integers(1, 6, 40)
    lo = [record(f'i{k}', (int(rng.integers(0, g + 1)), int(g), int(g))) for k, g in enumerate(gt)]
    hi = [record(f'i{k}', (int(rng.integers(0, g + 1)), int(g), int(g) + 1))
          for k, g in enumerate(gt)]
    curve = [CurvePoint('lo', 1.0, lo), CurvePoint('hi', 3.0, hi)]
    result = compare_at_gflops(hi, curve, 2.5, 'm')
    matched = 0.25 * sum(r['counts']['e2e/none'][0] for r in lo) + \
        0.75 * sum(r['counts']['e2e/none'][0] for r in hi)
    det = 0.25 * sum(r['counts']['e2e/none'][2] for r in lo) + \
        0.75 * sum(r['counts']['e2e/none'][2] for r in hi)
    assert result['reference'].point == pytest.approx(2 * matched / (det + gt.sum()), abs=1e-12)
    assert result['difference'].low <= result['difference'].point <= result['difference'].high
