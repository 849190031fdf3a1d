"""The reproduction's variant configs, claim check, plots and results page."""
import os.path as osp

import pytest
from mmengine.config import Config

from experiments.reproduce import (VARIANTS, claim_check, gamma_sweep_variants, plot_curve,
                                  plot_histograms, slug, student_schedule, variant_config,
                                  write_results_page)
from experiments.stages import StageResult, StageRunner
from helpers import CONFIG_DIR

STUDENT = osp.join(CONFIG_DIR, 'demo', 'dld_r18w32_demo.py')


def _row(name, kind, e2e, gflops, scale):
    return dict(name=name, kind=kind, e2e_none=e2e, e2e_full=None, ws_none=None, det=e2e,
                rec=None, scale=scale, gflops=gflops, fps=None)


ROWS = [
    _row('Vanilla S-320', 'vanilla', 60.0, 4.0, 1.0),
    _row('Vanilla S-160', 'vanilla', 40.0, 1.0, 0.5),
    _row('DLD (gamma 0.1)', 'distilled', 59.5, 2.0, 0.6),
    _row('SKD-only (S x 0.5)', 'distilled', 45.0, 1.0, 0.5),
]


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


def test_claim_check_numbers():
    (line, ) = claim_check(ROWS)
    # 2 / 4 GFLOPs; -0.5 vs the teacher; the Vanilla curve at 2 GFLOPs is 40 + 20 / 3.
    assert '50% of the teacher' in line
    assert '(-0.5, within 1 point)' in line
    assert 'interpolated): 46.7' in line and '+12.8 points, above it' in line
    worse = [dict(r) for r in ROWS]
    worse[2]['e2e_none'] = 30.0
    (line, ) = claim_check(worse)
    assert 'not within 1 point' in line and '-16.7 points, below it' in line
    untrained = [dict(r, e2e_none=0.0) for r in ROWS]
    (line, ) = claim_check(untrained)
    assert line.startswith('* Not testable here: the teacher (Vanilla S-320) reads almost')


def test_plots_and_page(tmp_path):
    curve, hist = tmp_path / 'c.png', tmp_path / 'h.png'
    plot_curve(ROWS, str(curve))
    histograms = {'DLD (gamma 0.1)': {0.8: 3, 0.5: 1}}
    plot_histograms(histograms, str(hist))
    assert curve.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert hist.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    runner = StageRunner('t', log_fn=lambda m: None)
    runner.results.append(StageResult('teacher', 'done', 10.0))
    page = tmp_path / 'results.md'
    write_results_page(str(page), ROWS, histograms, dict(curve=str(curve), hist=str(hist)),
                       runner, 'tiny', 't.py', 's.py')
    text = page.read_text()
    assert '**Tiny budget: a smoke run, not a result.**' in text
    assert '![E2E hmean against GFLOPs per image](c.png)' in text
    assert '| model | 0.8 | 0.5 |' in text and '| DLD (gamma 0.1) | 3 | 1 |' in text
    assert '| Vanilla S-320 | 60.0 |' in text
    assert (tmp_path / 'results.json').is_file()
    write_results_page(str(page), ROWS, histograms, dict(curve=str(curve), hist=str(hist)),
                       runner, 'demo', 't.py', 's.py', student_iters=600)
    text = page.read_text()
    assert 'Produced by `python tools/reproduce.py --budget demo --student-iters 600`' in text
    assert '**Each student is distilled for 600 iterations**' in text


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
    rows = ROWS + [_row('DLD (gamma 3)', 'distilled', 50.0, 1.2, 0.4)]
    write_results_page(str(page), rows, {}, dict(curve='c.png', hist='h.png'), runner, 'demo',
                       't.py', 's.py', student_iters=600, dld_gammas=[1, 3])
    text = page.read_text()
    assert ('Produced by `python tools/reproduce.py --budget demo --student-iters 600 '
            '--dld-gammas 1 3`') in text
    # The claim check covers every DLD row.
    assert '* DLD (gamma 3): 30% of the teacher' in text
