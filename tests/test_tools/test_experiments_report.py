"""Report rows from the tools' JSON files, the Markdown table and the written files."""
import json

import pytest

from experiments.report import format_table, load_row, stage_times_section, write_report
from experiments.stages import StageResult
from mmdld.evaluation.functional import bootstrap_metric, write_per_image


def _write(path, data):
    path.write_text(json.dumps(data))
    return str(path)


@pytest.fixture
def files(tmp_path):
    metrics = {'e2e/none/hmean': 0.5, 'e2e/full/hmean': 0.625, 'ws/none/hmean': 0.25,
               'det/hmean': 0.8, 'rec/accuracy': 0.75, 'cost/avg_scale': 0.55}
    return dict(
        metrics_json=_write(tmp_path / 'm.json', {'metrics': metrics, 'num_images': 7}),
        flops_json=_write(tmp_path / 'f.json', {'gflops': 1.234}),
        fps_json=_write(tmp_path / 'p.json', {'fps': 3.5}))


def test_load_row_converts_to_percent_and_reads_costs(files):
    row = load_row('DLD', **files, scale=1.0, config='c.py')
    assert row['e2e_none'] == pytest.approx(50.0)
    assert row['e2e_full'] == pytest.approx(62.5)
    assert row['ws_none'] == pytest.approx(25.0)
    assert row['det'] == pytest.approx(80.0)
    assert row['rec'] == pytest.approx(75.0)
    # The model-reported average scale wins over the fixed one.
    assert row['scale'] == pytest.approx(0.55)
    assert row['gflops'] == pytest.approx(1.234)
    assert row['fps'] == pytest.approx(3.5)
    assert row['num_images'] == 7 and row['config'] == 'c.py'


def test_load_row_optional_values(tmp_path):
    m = _write(tmp_path / 'm.json', {'metrics': {'e2e/none/hmean': 0.1, 'det/hmean': 0.2}})
    row = load_row('Teacher', m, scale=1.0)
    assert row['scale'] == 1.0
    assert row['e2e_full'] is None and row['gflops'] is None and row['fps'] is None
    table = format_table([row])
    assert table.splitlines()[2] == ('| Teacher | 10.0 | - | - | 20.0 | - | 1.000 | - | - |')


def test_load_row_errors_name_the_file_and_key(tmp_path):
    with pytest.raises(FileNotFoundError, match='absent.json'):
        load_row('x', str(tmp_path / 'absent.json'))
    m = _write(tmp_path / 'm.json', {'metrics': {'det/hmean': 0.2}})
    with pytest.raises(KeyError, match="m.json.*e2e/none/hmean.*'x'"):
        load_row('x', m)
    bad = _write(tmp_path / 'bad.json', {'End-to-End (%)': {}})
    with pytest.raises(KeyError, match='no "metrics"'):
        load_row('x', bad)


def test_table_header_and_order(files):
    rows = [load_row('Teacher', **files), load_row('Student', **files)]
    lines = format_table(rows).splitlines()
    assert lines[0] == ('| Model | E2E None | E2E Full | WS None | Det | Rec | Scale | '
                        'GFLOPs/img | img/s |')
    assert [line.split('|')[1].strip() for line in lines[2:]] == ['Teacher', 'Student']
    assert lines[2].endswith('| 50.0 | 62.5 | 25.0 | 80.0 | 75.0 | 0.550 | 1.23 | 3.50 |')


def test_write_report_writes_markdown_and_json(tmp_path, files):
    rows = [load_row('Teacher', **files)]
    stages = stage_times_section([StageResult('teacher', 'done', 65.0),
                                  StageResult('data', 'skipped', 3.0)], 68.0)
    md = tmp_path / 'out' / 'report.md'
    text = write_report(str(md), rows, 'Title', ['A note.'], [stages], json_data={'k': 1})
    assert md.read_text() == text
    assert text.startswith('# Title\n\n| Model |')
    assert '| teacher | done | 1m05s |' in text and '| **total** | | **1m08s** |' in text
    data = json.loads((tmp_path / 'out' / 'report.json').read_text())
    assert data['k'] == 1 and data['rows'][0]['name'] == 'Teacher'


def _record(name, e2e):
    """A per_image.json record whose ``e2e/none`` counts are ``[matched, care GT, care det]``."""
    matched, num_gt, num_det = e2e
    return dict(name=name, img_path=f'imgs/{name}.jpg', scale=None, gflops=None,
                gt_texts=['w'] * num_gt, num_gt_dont_care=0, det_texts=['w'] * num_det,
                det_scores=None, matched_texts=['w'] * matched,
                counts={'det': [num_det, num_gt, num_det, 0, 0],
                        'e2e/none': [matched, num_gt, num_det, 0, 0]}, rec=None)


def test_load_row_with_per_image_records_has_the_e2e_interval(tmp_path, files):
    # Every image reads 1 of its 2 words with 2 detections: the interval collapses on 50.
    same = tmp_path / 'same.json'
    write_per_image(str(same), [_record(f'img_{i}', (1, 2, 2)) for i in range(8)])
    row = load_row('Teacher', **files, per_image_json=str(same))
    assert (row['e2e_none_low'], row['e2e_none_high']) == (50.0, 50.0)
    assert row['per_image'] == str(same)
    # The metric's file says 50.0 too; the cell shows the interval.
    assert format_table([row]).splitlines()[2].startswith('| Teacher | 50.0 [50.0, 50.0] | 62.5 |')
    # Images that differ: the percentile bootstrap (2,000 resamples, seed 0).
    mixed = tmp_path / 'mixed.json'
    records = [_record(f'img_{i}', (i % 3, 2, 2)) for i in range(12)]
    write_per_image(str(mixed), records)
    row = load_row('DLD', **files, per_image_json=str(mixed))
    counts = [[r['counts']['e2e/none'][k] for k in range(5)] for r in records]
    interval = bootstrap_metric(counts, 'hmean', num_samples=2000, seed=0)
    assert row['e2e_none_low'] == pytest.approx(100 * interval.low)
    assert row['e2e_none_high'] == pytest.approx(100 * interval.high)
    assert row['e2e_none_low'] < 50.0 < row['e2e_none_high']
    cell = format_table([row]).splitlines()[2].split('|')[2].strip()
    assert cell == f'50.0 [{100 * interval.low:.1f}, {100 * interval.high:.1f}]'
    with pytest.raises(FileNotFoundError, match="per-image records of 'x'.*absent.json"):
        load_row('x', **files, per_image_json=str(tmp_path / 'absent.json'))
