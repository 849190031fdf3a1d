"""tools/analysis_tools/table8.py: the spotters' reproductions side by side, and a page that
keeps the section when tools/reproduce.py rewrites it."""
import json

import pytest

from experiments.report import keep_sections, write_report


def _diff(point, low, high):
    return dict(point=point, low=low, high=high, level=0.95)


def _results(budget, e2e_low_high, dld03_vs_teacher, extra_row=None):
    rows = [dict(name=f'Vanilla S-{size}', e2e_none=e2e, e2e_none_low=lo, e2e_none_high=hi,
                 det=90.0, rec=80.0, gflops=gf, fps=5.0, scale=1.0, num_images=1500)
            for size, (e2e, lo, hi, gf) in e2e_low_high.items()]
    rows.append(dict(name='DLD (gamma 0.3)', e2e_none=60.0, e2e_none_low=59.0,
                     e2e_none_high=61.0, det=88.0, rec=75.0, gflops=2.5, fps=8.0, scale=0.625))
    if extra_row:
        rows.append(extra_row)
    comparisons = [dict(model='DLD (gamma 0.3)', reference='Vanilla S-512', kind='teacher',
                        verdict='below', difference=_diff(*dld03_vs_teacher)),
                   dict(model='DLD (gamma 0.3)', reference='Vanilla S-307', kind='equal_gflops',
                        verdict='above', difference=_diff(0.025, 0.018, 0.032))]
    return dict(budget=budget, commit='abc1234', machine='CPU only, 2 cores', rows=rows,
                claims=dict(comparisons=comparisons))


@pytest.fixture
def table8(load_tool):
    return load_tool('tools/analysis_tools/table8.py')


@pytest.fixture
def spotters():
    # Rows listed out of scale order; the second spotter has a model the first lacks.
    mask_rcnn = _results('dynamic', {154: (34.7, 33.5, 36.0, 0.81), 512: (62.1, 61.1, 63.1, 5.63)},
                         (-0.042, -0.052, -0.033))
    tp = _results('tp_dynamic', {512: (76.6, 75.7, 77.5, 5.89), 154: (38.7, 37.3, 40.2, 0.66)},
                  (-0.084, -0.092, -0.076),
                  extra_row=dict(name='SKD-only (S x 0.5)', e2e_none=50.0, gflops=1.6))
    return [('Mask R-CNN spotter', mask_rcnn), ('Text Perceptron', tp)]


def test_rows_in_table_order_with_intervals_and_missing_cells(table8, spotters):
    names = table8.model_order([data for _, data in spotters])
    assert names == ['Vanilla S-512', 'Vanilla S-154', 'DLD (gamma 0.3)', 'SKD-only (S x 0.5)']
    lines = table8.e2e_table(names, spotters).splitlines()
    assert lines[2] == '| Vanilla S-512 | 62.1 [61.1, 63.1] | 5.63 | 76.6 [75.7, 77.5] | 5.89 |'
    assert lines[4] == ('| DLD (gamma 0.3) | 60.0 [59.0, 61.0] | 2.50 (scale 0.62) | '
                        '60.0 [59.0, 61.0] | 2.50 (scale 0.62) |')
    # A model one spotter lacks reads '-'; one without an interval shows its point only.
    assert lines[5] == '| SKD-only (S x 0.5) | - | - | 50.0 | 1.60 |'


def test_claims_are_signed_points_with_their_interval(table8, spotters):
    lines = table8.claims_table(spotters).splitlines()
    assert lines[2] == ('| Mask R-CNN spotter | DLD (gamma 0.3) | its teacher (Vanilla S-512) | '
                        '-4.2 [-5.2, -3.3] | below |')
    assert '| Text Perceptron | DLD (gamma 0.3) | Vanilla at equal GFLOPs (Vanilla S-307) | '\
        '+2.5 [+1.8, +3.2] | above |' in lines


@pytest.mark.parametrize('drop, word', [
    ((-0.084, -0.092, -0.076), 'larger drop: holds'),
    ((-0.050, -0.060, -0.040), 'intervals overlap: not separable'),
    ((-0.010, -0.020, -0.001), 'smaller drop: does not hold'),
])
def test_trend_check_calls_a_drop_larger_only_when_intervals_separate(table8, spotters, drop,
                                                                      word):
    spotters[1][1]['claims']['comparisons'][0]['difference'] = _diff(*drop)
    text = table8.trend_check(spotters, 'DLD (gamma 0.3)')
    assert '- Mask R-CNN spotter: -4.2 [-5.2, -3.3].' in text
    assert text.splitlines()[-1].endswith(f'; {word}.')


def test_trend_check_without_the_reference_claim(table8, spotters):
    spotters[0][1]['claims']['comparisons'] = []
    assert 'has no paired DLD (gamma 0.3)' in table8.trend_check(spotters, 'DLD (gamma 0.3)')


def test_section_replaces_its_earlier_version_and_keeps_the_page(table8, spotters, tmp_path):
    paths = []
    for name, data in spotters:
        path = tmp_path / f'{data["budget"]}.json'
        path.write_text(json.dumps(data))
        paths += ['--spotter', name, str(path)]
    page = tmp_path / 'results.md'
    page.write_text('# Results\n\nbody\n')
    table8.main(paths + ['--out', str(page)])
    first = page.read_text()
    assert first.startswith('# Results\n\nbody\n\n' + table8.BEGIN)
    assert first.count(table8.BEGIN) == 1 and first.rstrip().endswith(table8.END)
    spotters[1][1]['rows'][0]['e2e_none'] = 70.0
    (tmp_path / 'tp_dynamic.json').write_text(json.dumps(spotters[1][1]))
    table8.main(paths + ['--out', str(page)])
    second = page.read_text()
    assert second.count(table8.BEGIN) == 1 and '| Vanilla S-512 | 62.1 [61.1, 63.1] | 5.63 | '\
        '70.0 [75.7, 77.5] | 5.89 |' in second
    assert second.startswith('# Results\n\nbody\n\n')


def test_regenerated_page_keeps_the_section(table8, spotters, tmp_path):
    page = tmp_path / 'results.md'
    page.write_text('# Old\n\n' + table8.render(spotters, ['a.json', 'b.json']))
    rows = [dict(name='Vanilla S-512', e2e_none=62.1)]
    text = write_report(str(page), rows, 'Results')
    assert text.startswith('# Results\n') and '# Old' not in text
    assert text.count(table8.BEGIN) == 1 and text.rstrip().endswith(table8.END)
    assert page.read_text() == text
    # A page that already has the section is not given a second copy.
    assert keep_sections(text, text) == text


@pytest.mark.parametrize('content, message', [
    (None, 'no such file'), ('{"rows": [', 'not JSON'), ('{"rows": []}', 'no `rows`')])
def test_unreadable_results_name_the_file(table8, tmp_path, content, message):
    path = tmp_path / 'results_mango_dynamic.json'
    if content is not None:
        path.write_text(content)
    with pytest.raises(SystemExit, match=f'table8.py: {path}: {message}'):
        table8.main(['--spotter', 'MANGO', str(path)])
