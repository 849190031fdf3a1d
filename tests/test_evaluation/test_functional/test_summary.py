"""Dataset-level metrics and the paper-named report."""
import random

import pytest

from mmdld.evaluation.functional import (accumulate, format_tables, paper_results,
                                         precision_recall_hmean, summarize)


def test_precision_recall_hmean_by_hand():
    assert precision_recall_hmean(3, 4, 6) == pytest.approx((0.5, 0.75, 0.6))
    assert precision_recall_hmean(0, 4, 0) == (0.0, 0.0, 0.0)
    assert precision_recall_hmean(0, 0, 0) == (0.0, 0.0, 0.0)


def test_counts_are_summed_before_dividing():
    # Per-image hmeans would average to 0.5; the dataset hmean is 2/3 (hits 2 of 3 and 3).
    per_image = [{'e2e/none': [2, 2, 2]}, {'e2e/none': [0, 1, 1]}]
    metrics = summarize(accumulate(per_image))
    assert metrics['e2e/none/precision'] == pytest.approx(2 / 3)
    assert metrics['e2e/none/recall'] == pytest.approx(2 / 3)
    assert metrics['e2e/none/hmean'] == pytest.approx(2 / 3)


def test_image_order_does_not_matter():
    rng = random.Random(0)
    per_image = [{'det': [rng.randint(0, 3), 4, 5], 'e2e/full': [rng.randint(0, 3), 4, 5]}
                 for _ in range(20)]
    shuffled = per_image[:]
    rng.shuffle(shuffled)
    assert summarize(accumulate(shuffled)) == summarize(accumulate(per_image))


def test_keys_follow_the_paper_order():
    totals = {key: [1, 2, 2] for key in ('ws/none', 'e2e/full', 'e2e/strong', 'det', 'e2e/none')}
    keys = [key.rsplit('/', 1)[0] for key in summarize(totals) if key.endswith('hmean')]
    assert keys == ['det', 'e2e/strong', 'e2e/none', 'e2e/full', 'ws/none']


def test_paper_names_and_table():
    metrics = summarize({'det': [9, 10, 10], 'e2e/none': [7, 10, 10], 'e2e/weak': [8, 10, 10],
                         'ws/none': [6, 8, 9]})
    metrics.update({'rec/accuracy': 0.8125, 'cost/gflops': 41.234, 'cost/avg_scale': 0.55})
    report = paper_results(metrics)
    assert report['End-to-End (%)'] == {'W': 80.0, 'None': 70.0}
    assert list(report['End-to-End (%)']) == ['W', 'None']
    assert report['Word Spotting (%)']['None'] == pytest.approx(100 * 12 / 17, abs=0.01)
    assert report['Det (%)'] == 90.0 and report['Rec (%)'] == 81.25
    assert report['FLOPS (G)'] == 41.234 and report['Scale'] == 0.55
    table = format_tables(metrics)
    for label in ('E2E W', 'E2E None', 'WS None', 'Det', 'Rec', 'FLOPS (G)', 'Word Spotting'):
        assert label in table
    assert '81.25' in table and '70.00' in table


def test_counts_are_reported_next_to_the_fractions():
    per_image = [{'det': [2, 3, 4, 1, 0]}, {'det': [1, 1, 2, 0, 2]}]
    metrics = summarize(accumulate(per_image))
    assert metrics == {
        'det/precision': 0.5, 'det/recall': 0.75, 'det/hmean': 0.6,
        'det/num_matched': 3, 'det/num_gt': 4, 'det/num_det': 6, 'det/num_gt_dont_care': 1,
        'det/num_det_dont_care': 2}
    rows = [line for line in format_tables(metrics).splitlines() if line.startswith('| ')]
    assert [cell.strip() for cell in rows[-2].strip('|').split('|')][5:] == [
        'Matched', 'GT', 'Det', "GT don't care", "Det don't care"]
    assert [cell.strip() for cell in rows[-1].strip('|').split('|')] == [
        'Det', '-', '50.00', '75.00', '60.00', '3', '4', '6', '1', '2']


def test_table_without_counts_has_no_count_columns():
    table = format_tables({'det/precision': 0.5, 'det/recall': 0.75, 'det/hmean': 0.6})
    assert 'Matched' not in table and 'and counts' not in table
    last_row = [line for line in table.splitlines() if line.startswith('| ')][-1]
    assert [cell.strip() for cell in last_row.strip('|').split('|')] == [
        'Det', '-', '50.00', '75.00', '60.00']
