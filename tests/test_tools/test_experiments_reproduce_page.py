"""The reproduction's variant configs, claim check, plots and results page."""
import json
import os.path as osp

import pytest
from mmengine.config import Config

from experiments.reproduce import (VARIANTS, candidate_scales, claim_check,
                                  gamma_sweep_variants, plot_curve, plot_histograms, slug,
                                  student_schedule, variant_config, write_results_page)
from experiments.results_analysis import analyse_results
from experiments.stages import StageResult, StageRunner
from helpers import CONFIG_DIR
from mmdld.evaluation.functional import bootstrap_metric, write_per_image

STUDENT = osp.join(CONFIG_DIR, 'demo', 'dld_r18w32_demo.py')


def _row(name, kind, e2e, gflops, scale, **extra):
    return dict(name=name, kind=kind, e2e_none=e2e, e2e_full=None, ws_none=None, det=e2e,
                rec=None, scale=scale, gflops=gflops, fps=None, **extra)


ROWS = [
    _row('Vanilla S-320', 'vanilla', 60.0, 4.0, 1.0),
    _row('Vanilla S-160', 'vanilla', 40.0, 1.0, 0.5),
    _row('DLD (gamma 0.1)', 'distilled', 59.5, 2.0, 0.6, drs=True),
    _row('SKD-only (S x 0.5)', 'distilled', 45.0, 1.0, 0.5, drs=False),
]


def record(name, e2e, scale=None):
    """A per-image record whose ``e2e/none`` counts are ``[matched, care GT, care det]``."""
    matched, num_gt, num_det = e2e
    return dict(name=name, img_path=f'imgs/{name}.jpg', scale=scale, gflops=None,
                gt_texts=['w'] * num_gt, num_gt_dont_care=0, det_texts=['w'] * num_det,
                det_scores=None, matched_texts=['w'] * matched,
                counts={'e2e/none': [matched, num_gt, num_det, 0, 0]}, rec=None)


def recorded_rows(tmp_path):
    """The rows of :data:`ROWS` with per-image records of 40 images behind them.

    The teacher reads 3 of every 5 images' 2 words, Vanilla S-160 2 of 5, DLD the teacher's
    images but one, SKD-only S-160's plus 3 more (hmeans 60, 40, 57.5, 47.5).
    """
    reads = {'Vanilla S-320': lambda i: i % 5 < 3, 'Vanilla S-160': lambda i: i % 5 < 2,
             'DLD (gamma 0.1)': lambda i: i % 5 < 3 and i != 0,
             'SKD-only (S x 0.5)': lambda i: i % 5 < 2 or i % 8 == 7}
    rows = []
    for row in ROWS:
        images = [record(f'img_{i:02d}', (2, 2, 2) if reads[row['name']](i) else (0, 2, 2),
                         0.8 if i % 2 else 0.5) if row.get('drs') else
                  record(f'img_{i:02d}', (2, 2, 2) if reads[row['name']](i) else (0, 2, 2))
                  for i in range(40)]
        path = tmp_path / 'eval' / slug(row['name']) / 'per_image.json'
        write_per_image(str(path), images)
        interval = bootstrap_metric([r['counts']['e2e/none'] for r in images])
        hmean = 100 * interval.point
        rows.append(dict(row, e2e_none=hmean, det=hmean, e2e_none_low=100 * interval.low,
                         e2e_none_high=100 * interval.high, per_image=str(path)))
    return rows


def test_slug():
    assert slug('DLD (gamma 0.1)') == 'dld_gamma_0.1'
    assert slug('SKD-only (S x 0.5)') == 'skd_only_s_x_0.5'
    assert len({slug(n) for n in VARIANTS}) == len(VARIANTS)


def test_variant_configs(tmp_path):
    skd = Config.fromfile(variant_config(STUDENT, VARIANTS['SKD-only (S x 0.5)'],
                                         str(tmp_path / 'skd.py')))
    assert skd.model.selector is None and skd.model.fixed_scale == 0.5
    assert skd.custom_hooks == []
    drs = Config.fromfile(variant_config(STUDENT, VARIANTS['DRS-only (gamma 0.3)'],
                                         str(tmp_path / 'drs.py')))
    assert drs.model.skd_loss is None and drs.model.drs_loss.gamma == 0.3
    dld = Config.fromfile(variant_config(STUDENT, VARIANTS['DLD (gamma 0.3)'],
                                         str(tmp_path / 'dld.py')))
    assert dld.model.skd_loss.type == 'SKDLoss' and dld.model.drs_loss.gamma == 0.3
    assert list(dld.model.selector.scales) == [0.8, 0.7, 0.6, 0.5, 0.4, 0.3]


def test_student_schedule_stretches_the_students_iterations(tmp_path):
    # The demo student: 100 iterations, LR step at 80, tau decays one step every 2 iterations.
    options = student_schedule(STUDENT, 600)
    dld = Config.fromfile(variant_config(STUDENT, {**options, **VARIANTS['DLD (gamma 0.1)']},
                                         str(tmp_path / 'dld.py')))
    assert dld.train_cfg.max_iters == 600
    warmup, steps = dld.param_scheduler
    assert (warmup.end, steps.end, steps.milestones) == (20, 600, [480])
    assert dld.custom_hooks[0].type == 'GumbelTemperatureHook'
    assert dld.custom_hooks[0].interval == 12
    assert dld.default_hooks.checkpoint.interval == 600
    # The variant's own options win: SKD-only keeps no Gumbel hook.
    skd = Config.fromfile(variant_config(STUDENT, {**options, **VARIANTS['SKD-only (S x 0.5)']},
                                         str(tmp_path / 'skd.py')))
    assert skd.custom_hooks == [] and skd.train_cfg.max_iters == 600
    with pytest.raises(ValueError, match='must be >= 1'):
        student_schedule(STUDENT, 0)
    teacher = osp.join(CONFIG_DIR, 'spotter', 'maskrcnn_r50_fpn_spotter_totaltext.py')
    with pytest.raises(ValueError, match='not an IterBasedTrainLoop'):
        student_schedule(teacher, 10)


def test_claim_check_from_the_records(tmp_path):
    rows = recorded_rows(tmp_path)
    assert [round(r['e2e_none'], 2) for r in rows] == [60.0, 40.0, 57.5, 47.5]
    dld_teacher, dld_vanilla, skd = claim_check(rows)
    # DLD loses one image's words against the teacher: a resample without that image (about
    # a third of them) gives 0, so the interval ends on 0: within.
    assert dld_teacher.startswith('* DLD (gamma 0.1) against the teacher (Vanilla S-320): 50% '
                                  'of its GFLOPs, E2E None 57.5 [')
    assert 'paired difference -2.5 [' in dld_teacher and ', +0.0] points: **within**' in \
        dld_teacher
    assert 'A loss of more than 1 point is not ruled out' in dld_teacher
    # 2 GFLOPs: Vanilla at 0.667 x S-160 + 0.333 x S-320, 46.7; DLD well above it.
    assert ('per-image counts 0.667 x Vanilla S-160 + 0.333 x Vanilla S-320): E2E None '
            '57.5 [') in dld_vanilla
    assert 'against 46.7 [' in dld_vanilla and 'paired difference +10.8 [' in dld_vanilla
    assert dld_vanilla.endswith('points: **above** (the whole interval above 0).')
    # SKD-only gains 3 images' words over S-160 and loses none: again an interval ending on 0.
    assert skd.startswith('* SKD-only (S x 0.5) against Vanilla S-160 (the same input scale, '
                          '0.5): E2E None 47.5 [')
    assert 'paired difference +7.5 [+0.0, ' in skd and '**within**' in skd
    untrained = [dict(r, e2e_none=0.0) for r in rows]
    (line, ) = claim_check(untrained)
    assert line.startswith('* Not testable here: the teacher (Vanilla S-320) reads almost')


def test_plots_and_page(tmp_path):
    rows = recorded_rows(tmp_path)
    analysis = analyse_results(rows)
    curve, hist = tmp_path / 'c.png', tmp_path / 'h.png'
    plot_curve(rows, str(curve), analysis['oracle'])
    histograms = {'DLD (gamma 0.1)': {0.8: 20, 0.5: 20}}
    plot_histograms(histograms, str(hist))
    assert curve.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert hist.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    plot_curve(ROWS, str(tmp_path / 'no_intervals.png'))  # rows without records: no bars
    runner = StageRunner('t', log_fn=lambda m: None)
    runner.results.append(StageResult('teacher', 'done', 10.0))
    page = tmp_path / 'results.md'
    write_results_page(str(page), rows, histograms, dict(curve=str(curve), hist=str(hist)),
                       runner, 'tiny', 't.py', 's.py', analysis=analysis)
    text = page.read_text()
    assert '**Tiny budget: a smoke run, not a result.**' in text
    assert '![E2E hmean against GFLOPs per image](c.png)' in text
    assert '| model | 0.8 | 0.5 |' in text and '| DLD (gamma 0.1) | 20 | 20 |' in text
    teacher = rows[0]
    assert (f'| Vanilla S-320 | 60.0 [{teacher["e2e_none_low"]:.1f}, '
            f'{teacher["e2e_none_high"]:.1f}] | - | - | 60.0 |') in text
    assert 'percentile bootstrap over the test images (2,000 resamples, seed 0' in text
    assert '**above**' in text and 'multiple of 1/10,000' in text
    assert '## Dynamic resolution against the scale oracle' in text
    assert '| DRS model | GFLOPs/img | E2E None | Vanilla (fixed scale) at its GFLOPs |' in text
    assert '| DLD (gamma 0.1) | 2.00 | 57.5 | 46.7 |' in text
    assert "Cheapest scale keeping each image's full-resolution matches" in text
    # No teacher config given: no regime table.
    assert '(no regime table' in text
    data = json.loads((tmp_path / 'results.json').read_text())
    assert data['rows'][0]['e2e_none_low'] == pytest.approx(teacher['e2e_none_low'])
    assert data['intervals'] == dict(samples=2000, seed=0, level=0.95)
    assert [c['verdict'] for c in data['claims']['comparisons']] == ['within', 'above', 'within']
    assert data['oracle']['scales'] == [1.0, 0.5]
    assert set(data['oracle']['models']) == {'DLD (gamma 0.1)'} and data['regimes'] is None
    write_results_page(str(page), rows, histograms, dict(curve=str(curve), hist=str(hist)),
                       runner, 'demo', 't.py', 's.py', student_iters=600)
    text = page.read_text()
    assert 'Produced by `python tools/reproduce.py --budget demo --student-iters 600`' in text
    assert '**Each student is distilled for 600 iterations**' in text


def test_page_with_the_regime_tables(tmp_path):
    rows = recorded_rows(tmp_path)
    data_list = [dict(img_path=f'imgs/test/img_{i:02d}.jpg', width=320, height=320,
                      regime='large' if i % 2 else 'small',
                      instances=[dict(polygon=[0, 0, 100, 0, 100, h, 0, h], text='w',
                                      ignore=False)])
                 for i, h in enumerate(range(5, 45))]
    (tmp_path / 'data').mkdir()
    (tmp_path / 'data' / 'textspotting_test.json').write_text(json.dumps(dict(
        metainfo={}, data_list=data_list)))
    teacher = tmp_path / 'teacher.py'
    teacher.write_text("test_dataloader = dict(dataset=dict(data_root='data', "
                       "ann_file='textspotting_test.json', pipeline=[dict(type='mmocr.Resize', "
                       "scale=(1280, 320), keep_ratio=True)]))\n")
    analysis = analyse_results(rows, str(teacher), str(tmp_path))
    runner = StageRunner('t', log_fn=lambda m: None)
    page = tmp_path / 'results.md'
    write_results_page(str(page), rows, {}, dict(curve='c.png', hist='h.png'), runner, 'demo',
                       't.py', 's.py', analysis=analysis)
    text = page.read_text()
    # Odd images (0.8) are the large ones: every large image at 0.8, every small one at 0.5.
    assert '| DLD (gamma 0.1) | large | 20 | 0 |' in text
    assert '| DLD (gamma 0.1) | small | 0 | 20 |' in text
    # Heights 5 ... 44 px: the larger ones, odd images, got the larger scale.
    corr = analysis['regimes']['DLD (gamma 0.1)']['correlation']
    assert corr['images'] == 40 and 0 < corr['spearman'] < 1
    assert f'* DLD (gamma 0.1): {corr["spearman"]:+.2f} (40 images)' in text
    data = json.loads((tmp_path / 'results.json').read_text())
    assert data['regimes']['DLD (gamma 0.1)']['histograms']['large'] == {'0.8': 20}


def test_gamma_sweep_variants(tmp_path):
    sweep = gamma_sweep_variants([1, 3.0, 0.3, 0.5])
    # gamma 0.3 is already a standard variant: not run twice.
    assert list(sweep) == ['DLD (gamma 1)', 'DLD (gamma 3)', 'DLD (gamma 0.5)']
    assert sweep['DLD (gamma 3)'] == {'model.drs_loss.gamma': 3.0}
    assert slug('DLD (gamma 0.5)') == 'dld_gamma_0.5'
    cfg = Config.fromfile(variant_config(STUDENT, sweep['DLD (gamma 1)'], str(tmp_path / 'g.py')))
    assert cfg.model.drs_loss.gamma == 1.0 and cfg.model.skd_loss is not None
    with pytest.raises(ValueError, match='gamma must be >= 0'):
        gamma_sweep_variants([-1])


def test_page_names_the_gamma_sweep(tmp_path):
    runner = StageRunner('t', log_fn=lambda m: None)
    page = tmp_path / 'results.md'
    rows = recorded_rows(tmp_path)
    sweep = dict(rows[2], name='DLD (gamma 3)', gflops=1.2, scale=0.4)
    rows.append(sweep)
    write_results_page(str(page), rows, {}, dict(curve='c.png', hist='h.png'), runner, 'demo',
                       't.py', 's.py', student_iters=600, dld_gammas=[1, 3])
    text = page.read_text()
    assert ('Produced by `python tools/reproduce.py --budget demo --student-iters 600 '
            '--dld-gammas 1 3`') in text
    # The claim check covers every DLD row.
    assert '* DLD (gamma 3) against the teacher (Vanilla S-320): 30% of its GFLOPs' in text


def test_candidate_scales_of_the_student():
    assert candidate_scales(STUDENT) == [0.8, 0.7, 0.6, 0.5, 0.4, 0.3]
    teacher = osp.join(CONFIG_DIR, 'demo', 'spotter_r18w32_demo.py')
    with pytest.raises(ValueError, match='spotter_r18w32_demo.py: `model.selector.scales` is '
                       'missing'):
        candidate_scales(teacher)
