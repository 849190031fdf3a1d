"""The paper's comparison (Table 1) on the synthetic benchmark: ``tools/reproduce.py``.

Models, all from one teacher:

* Vanilla multi-scale: the teacher tested at fixed S-N for several N (the S-N of the teacher's
  base size is the upper bound "High-res" row);
* SKD-only: a student at the fixed scale 0.5 distilled with SKD (no DRS);
* DRS-only (gamma 0.1, 0.3): a student with the DRS and no distillation loss;
* DLD (gamma 0.1, 0.3): DRS + SKD.

After the teacher, the stage ``scale_costs`` measures ``T_i`` at the DRS's candidate scales
with the teacher's weights (``measure_scale_costs.py``, ``<teacher dir>/scale_costs.json``);
every student gets the file as ``model.scale_costs_file`` (SKD-only its one-scale part).

Outputs: ``<out_md>`` (default ``docs/results.md``) with the table (E2E None with its bootstrap
interval over the test images), the claim check (paired bootstrap intervals), the plot of E2E
hmean against GFLOPs per image (``<page>_e2e_vs_gflops.png``, e.g.
``results_e2e_vs_gflops.png``: the Vanilla curve, the Vanilla scale oracle's curves and the
DLD / SKD / DRS points), the DRS models against the oracle, and the scales the DRS models chose
(``<page>_scales.png``; per text regime on the page); ``<out_md>`` with ``.json`` holds the same
data. Everything after the evaluations is computed from the per-image records
(:mod:`.results_analysis`).
"""
import os
import os.path as osp
import time
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence

from mmengine.config import Config

from .demo import base_short_side, data_and_teacher
from .claims import claim_comparisons, claim_lines
from .intervals import LEVEL, NUM_SAMPLES, SEED, WEIGHT_UNITS
from .oracle import (format_oracle_section, format_student_oracle_section,
                     load_student_oracle)
from .pipeline import (NO_MASKS, evaluate, evaluation_stages, fixed_scale_costs_file,
                       measure_scale_costs, row_from, scale_histogram, scaled_test_config,
                       student_scale_oracle, train)
from .regimes import format_regime_section
from .report import format_table, git_commit, machine_description, stage_times_section
from .results_analysis import analyse_results, analysis_json, row_records
from .stages import StageRunner, format_duration

#: name -> config overrides of the student config (DLD gamma 0.1) for each distilled variant.
VARIANTS: 'OrderedDict[str, Dict[str, Any]]' = OrderedDict([
    ('SKD-only (S x 0.5)', {'model.selector': None, 'model.fixed_scale': 0.5,
                            'custom_hooks': []}),
    ('DRS-only (gamma 0.1)', {'model.skd_loss': None, 'model.drs_loss.gamma': 0.1}),
    ('DRS-only (gamma 0.3)', {'model.skd_loss': None, 'model.drs_loss.gamma': 0.3}),
    ('DLD (gamma 0.1)', {'model.drs_loss.gamma': 0.1}),
    ('DLD (gamma 0.3)', {'model.drs_loss.gamma': 0.3}),
])


def gamma_sweep_variants(gammas: Sequence[float]) -> 'OrderedDict[str, Dict[str, Any]]':
    """DLD variants at more FLOPs weights ``gamma`` (the sweep of the paper's Table 6).

    Args:
        gammas (Sequence[float]): The weights, each >= 0; those of :data:`VARIANTS` (0.1, 0.3)
            name the same models and are not repeated.

    Returns:
        OrderedDict: ``'DLD (gamma g)'`` -> its config overrides, in the order given.
    """
    out: 'OrderedDict[str, Dict[str, Any]]' = OrderedDict()
    for gamma in gammas:
        if not gamma >= 0:
            raise ValueError(f'a DLD gamma must be >= 0, got {gamma}')
        name = f'DLD (gamma {gamma:g})'
        if name not in VARIANTS:
            out[name] = {'model.drs_loss.gamma': float(gamma)}
    return out


#: The student whose DRS is also compared with its own scale oracle (the student forced to
#: each candidate scale): the budget's student config itself.
ORACLE_STUDENT = 'DLD (gamma 0.1)'

#: Scales of the Vanilla curve (1.0 is the teacher itself at its base size).
VANILLA_SCALES = (1.0, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3)


def slug(name: str) -> str:
    """A folder name for a model name: ``'DLD (gamma 0.1)'`` -> ``'dld_gamma_0.1'``."""
    out = ''.join(c.lower() if c.isalnum() or c == '.' else '_' for c in name)
    while '__' in out:
        out = out.replace('__', '_')
    return out.strip('_')


def student_schedule(student: str, iters: int) -> Dict[str, Any]:
    """Config overrides that train ``student`` for ``iters`` iterations instead of its own.

    The student's iteration-based schedule is stretched by ``iters / max_iters``: the
    learning-rate steps (``milestones`` of the schedulers that end with the run), the interval
    of an iteration-based ``GumbelTemperatureHook`` (so tau still decays as over the paper's
    50 epochs) and the checkpoint interval; warm-ups keep their length.

    Args:
        student (str): Student config with an ``IterBasedTrainLoop``.
        iters (int): The new number of iterations.

    Returns:
        dict: Options for ``Config.merge_from_dict``.
    """
    cfg = Config.fromfile(student)
    old = cfg.train_cfg.get('max_iters')
    if cfg.train_cfg.get('type') != 'IterBasedTrainLoop' or not old:
        raise ValueError(f'{student}: `train_cfg` is not an IterBasedTrainLoop with '
                         f'`max_iters`; cannot set the students\' iterations')
    if iters < 1:
        raise ValueError(f'the students\' iterations must be >= 1, got {iters}')
    factor = iters / old
    schedulers = []
    for sched in cfg.get('param_scheduler', []) or []:
        sched = dict(sched)
        if sched.get('end') == old:
            sched['end'] = iters
            if 'milestones' in sched:
                sched['milestones'] = [max(1, round(m * factor)) for m in sched['milestones']]
        schedulers.append(sched)
    hooks = []
    for hook in cfg.get('custom_hooks', []) or []:
        hook = dict(hook)
        if hook.get('type') == 'GumbelTemperatureHook' and not hook.get('by_epoch', True):
            hook['interval'] = max(1, round(hook.get('interval', 1) * factor))
        hooks.append(hook)
    return {'train_cfg.max_iters': iters, 'param_scheduler': schedulers,
            'custom_hooks': hooks, 'default_hooks.checkpoint.interval': iters}


def variant_config(student: str, options: Dict[str, Any], out_path: str) -> str:
    """Writes ``student`` with ``options`` merged in (MMEngine's ``merge_from_dict``)."""
    cfg = Config.fromfile(student)
    cfg.merge_from_dict(options)
    os.makedirs(osp.dirname(osp.abspath(out_path)), exist_ok=True)
    cfg.dump(out_path)
    return out_path


def run_reproduction(budget: str,
                     teacher: str,
                     student: str,
                     work_dir: str,
                     out_md: str,
                     cost_images: int,
                     fps_images: int,
                     vanilla_scales: Sequence[float] = VANILLA_SCALES,
                     variants: Optional[Sequence[str]] = None,
                     student_iters: Optional[int] = None,
                     dld_gammas: Sequence[float] = (),
                     runner: Optional[StageRunner] = None,
                     root: str = '.',
                     estimates: Optional[Dict[str, float]] = None,
                     scale_cost_images: int = 50,
                     student_oracle: bool = True,
                     test_options: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Trains and evaluates every model of the comparison and writes the results page.

    Args:
        budget (str): Name of the budget, for the page.
        teacher (str): Teacher config.
        student (str): DLD (gamma 0.1) student config; the variants are derived from it.
        work_dir (str): Where checkpoints and evaluations go.
        out_md (str): The results page (Markdown); the plots are written next to it.
        cost_images (int): Test images for the FLOPs count of each model.
        fps_images (int): Test images timed for images/s (0: not measured).
        vanilla_scales (Sequence[float]): Scales of the Vanilla curve.
        variants (Sequence[str], optional): Names of :data:`VARIANTS` to run (all by default).
        student_iters (int, optional): Train every student for this many iterations instead
            of the student config's own (:func:`student_schedule`).
        dld_gammas (Sequence[float]): More DLD students, one per FLOPs weight
            (:func:`gamma_sweep_variants`); run after ``variants``.
        runner (StageRunner, optional): Defaults to a new one titled ``reproduce``, running
            its subprocesses in ``root``.
        root (str): The repository root, which relative paths (configs, the data roots inside
            them, ``work_dir``, ``out_md``) are relative to.
        estimates (dict, optional): Expected seconds per stage name or pattern, for the ETA
            of stages not timed by an earlier run; a ``'student'`` entry (the time of the
            student config's own schedule) stands for each variant's training, scaled to
            ``student_iters``.
        scale_cost_images (int): Test images of the ``scale_costs`` stage, which measures
            ``T_i`` with the teacher's weights (``<teacher dir>/scale_costs.json``, given to
            every student as ``model.scale_costs_file``).
        student_oracle (bool): Also test the :data:`ORACLE_STUDENT` (when run) at each
            candidate scale with its DRS unused and compare its DRS with that oracle (stage
            ``<key>/oracle``).
        test_options (dict, optional): Config overrides of the students' test runs.
            Defaults to :data:`.pipeline.NO_MASKS` (the Mask R-CNN spotter reports no masks,
            which the metric does not use); ``{}`` for spotters without an ``rcnn`` test
            config, such as Text Perceptron.

    Returns:
        dict: ``rows``, ``histograms`` (per DLD/DRS variant), ``analysis``
        (:func:`.results_analysis.analyse_results`), ``page`` and ``plots`` (the paths).
    """
    test_options = NO_MASKS if test_options is None else dict(test_options)
    names = list(VARIANTS) if variants is None else list(variants)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise ValueError(f'unknown variants {unknown}; choose from {list(VARIANTS)}')
    all_variants = OrderedDict(VARIANTS)
    sweep = gamma_sweep_variants(dld_gammas)
    all_variants.update(sweep)
    names += [n for n in sweep if n not in names]
    given = dict(teacher=teacher, student=student)
    teacher, student, work_dir, out_md = (osp.join(root, p)
                                          for p in (teacher, student, work_dir, out_md))
    base = base_short_side(teacher)
    shorts = [max(1, int(round(scale * base))) for scale in vanilla_scales]
    keys = [slug(name) for name in names]
    estimates = dict(estimates or {})
    if 'student' in estimates:
        own_iters = Config.fromfile(student).train_cfg.get('max_iters') or 0
        factor = 1.0 if student_iters is None or not own_iters else student_iters / own_iters
        estimates.update({key: estimates['student'] * factor for key in keys})
    runner = runner or StageRunner('reproduce', cwd=root,
                                   record_file=osp.join(work_dir, 'stage_times.json'))
    runner.estimates.update(estimates)
    runner.plan(['data', 'teacher', 'scale_costs']
                + [stage for short in shorts
                   for stage in evaluation_stages(f'vanilla_S-{short}', fps_images)]
                + [stage for key in keys
                   for stage in [key] + evaluation_stages(key, fps_images)]
                + ([f'{slug(ORACLE_STUDENT)}/oracle']
                   if student_oracle and ORACLE_STUDENT in names else []))
    teacher_ckpt = data_and_teacher(runner, budget, given, teacher, work_dir, root)
    # T_i of the student config's candidate scales, with the teacher's weights (the student
    # starts from them and has their architecture), once for every student.
    teacher_dir = osp.dirname(teacher_ckpt)
    costs_file = measure_scale_costs(runner, student, teacher_ckpt,
                                     osp.join(teacher_dir, 'scale_costs.json'),
                                     scale_cost_images, candidate_scales(student))
    costs = dict(cost_images=cost_images, fps_images=fps_images)
    eval_dir = osp.join(work_dir, 'eval')

    rows: List[Dict[str, Any]] = []
    for scale in vanilla_scales:
        short = max(1, int(round(scale * base)))
        name = f'Vanilla S-{short}'
        cfg = scaled_test_config(teacher, short / base,
                                 osp.join(work_dir, 'configs', f'vanilla_S-{short}.py'))
        paths = evaluate(runner, f'vanilla_S-{short}', cfg, teacher_ckpt,
                         osp.join(eval_dir, f'vanilla_S-{short}'), **costs)
        rows.append(row_from(name, paths, scale=short / base, kind='vanilla', config=cfg))

    histograms: Dict[str, Dict[float, int]] = {}
    own_oracle = None
    schedule = {} if student_iters is None else student_schedule(student, student_iters)
    for name in names:
        key = slug(name)
        # The variant's own options last: SKD-only has no Gumbel hook whatever the schedule.
        cfg = variant_config(student, {**schedule, **all_variants[name]},
                             osp.join(work_dir, 'configs', f'{key}.py'))
        with_drs = all_variants[name].get('model.selector', 'drs') is not None
        fixed = all_variants[name].get('model.fixed_scale')
        model_options = {'model.teacher_ckpt': teacher_ckpt}
        own_costs = costs_file if with_drs else fixed_scale_costs_file(
            costs_file, fixed, osp.join(teacher_dir, f'scale_costs_{fixed:g}.json'))
        if own_costs is not None:
            model_options['model.scale_costs_file'] = own_costs
        ckpt = train(runner, key, cfg, osp.join(work_dir, key), model_options)
        paths = evaluate(runner, key, cfg, ckpt, osp.join(eval_dir, key), model_options,
                         dump_predictions=with_drs, test_options=test_options, **costs)
        rows.append(row_from(name, paths, scale=fixed, kind='distilled', drs=with_drs,
                             config=cfg))
        if with_drs:
            histograms[name] = scale_histogram(paths['predictions'])
        if student_oracle and name == ORACLE_STUDENT:
            oracle_json = student_scale_oracle(
                runner, key, cfg, ckpt, osp.join(eval_dir, key, 'oracle'),
                candidate_scales(student), paths['per_image'], model_options)
            own_oracle = load_student_oracle(oracle_json, name)

    analysis = analyse_results(rows, teacher, root)
    # The plots are named after the page, so that several pages can share a folder.
    stem = osp.splitext(osp.abspath(out_md))[0]
    plots = dict(curve=f'{stem}_e2e_vs_gflops.png', hist=f'{stem}_scales.png')
    plot_curve(rows, plots['curve'], analysis['oracle'])
    plot_histograms(histograms, plots['hist'])
    analysis['student_oracle'] = own_oracle
    page = write_results_page(out_md, rows, histograms, plots, runner, budget,
                              given['teacher'], given['student'], student_iters, dld_gammas,
                              analysis=analysis)
    runner.log(f'results written to {out_md}\n\n{format_table(rows)}\n')
    return dict(rows=rows, histograms=histograms, analysis=analysis, page=page, plots=plots)


def candidate_scales(student: str) -> List[float]:
    """The candidate scales of a DLD config's DRS (``model.selector.scales``).

    Raises:
        ValueError: If the config has no selector with scales.
    """
    selector = Config.fromfile(student).model.get('selector') or {}
    scales = [float(s) for s in selector.get('scales', ())]
    if not scales:
        raise ValueError(f'{student}: `model.selector.scales` is missing; the reproduction\'s '
                         'student config is a DLD model with a DRS')
    return scales


def plot_curve(rows: Sequence[Dict[str, Any]], path: str,
               oracle: Optional[Dict[str, Any]] = None) -> None:
    """E2E None hmean against GFLOPs per image: the Vanilla curve and the distilled points
    (with their 95% intervals when the rows have them), and the Vanilla scale oracle's curves
    and its cheapest scale keeping the matches (:func:`.oracle.oracle_summary`)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)

    def errors(selected):
        if not all(r.get('e2e_none_low') is not None for r in selected):
            return None
        return [[r['e2e_none'] - r['e2e_none_low'] for r in selected],
                [r['e2e_none_high'] - r['e2e_none'] for r in selected]]

    vanilla = sorted((r for r in rows if r.get('kind') == 'vanilla'), key=lambda r: r['gflops'])
    ax.errorbar([r['gflops'] for r in vanilla], [r['e2e_none'] for r in vanilla],
                yerr=errors(vanilla), fmt='o-', color='tab:gray', capsize=2, elinewidth=0.8,
                label='Vanilla multi-scale (teacher at S-N, fixed scale)')
    for r in vanilla:
        ax.annotate(r['name'].replace('Vanilla ', ''), (r['gflops'], r['e2e_none']),
                    textcoords='offset points', xytext=(4, -10), fontsize=7, color='tab:gray')
    if oracle is not None:
        styles = {'capped': ('-', 'tab:green', 'capped'),
                  'best_of_k': (':', 'tab:olive', 'best-of-k')}
        # Past its last point an oracle keeps that point's choices: flat to the dearest scale.
        end = max(p.gflops for p in oracle['fixed'])
        for variant, curve in oracle['curves'].items():
            line, colour, title = styles[variant]
            points = list(curve.points)
            gflops = [p.gflops for p in points] + ([end] if end > points[-1].gflops else [])
            hmeans = [100 * p.hmean for p in points]
            ax.plot(gflops, hmeans + hmeans[-1:] * (len(gflops) - len(hmeans)), line,
                    color=colour, linewidth=1.2,
                    label=f'Vanilla scale oracle, {title} (per-image best scale)')
        cheapest = oracle['cheapest']['point']
        ax.plot([cheapest.gflops], [100 * cheapest.hmean], 'D', color='tab:green',
                markersize=6, label='cheapest scale keeping the matches')
    markers = {'SKD': ('s', ['tab:blue']), 'DRS': ('^', ['tab:orange', 'gold']),
               'DLD': ('*', ['tab:red', 'darkred', 'tab:purple', 'tab:pink', 'tab:brown'])}
    seen: Dict[str, int] = {}
    for r in rows:
        if r.get('kind') != 'distilled':
            continue
        kind = r['name'].split('-')[0].split(' ')[0]
        marker, colours = markers.get(kind, ('x', ['black']))
        # One colour per model of a kind (e.g. the DLD gamma sweep), cycling.
        colour = colours[seen.get(kind, 0) % len(colours)]
        seen[kind] = seen.get(kind, 0) + 1
        ax.errorbar([r['gflops']], [r['e2e_none']], yerr=errors([r]), fmt=marker,
                    color=colour, capsize=2, elinewidth=0.8,
                    markersize=12 if marker == '*' else 8, label=r['name'])
    ax.set_xlabel('GFLOPs per image (whole test step)')
    ax.set_ylabel('E2E hmean, no lexicon (%)')
    ax.set_title('Synthetic benchmark: accuracy vs cost (bars: 95% intervals)')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, loc='lower right')
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_histograms(histograms: Dict[str, Dict[float, int]], path: str) -> None:
    """Bars of how many test images each DRS model ran at each candidate scale."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np
    scales = sorted({s for h in histograms.values() for s in h}, reverse=True)
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=120)
    width = 0.8 / max(1, len(histograms))
    for i, (name, hist) in enumerate(histograms.items()):
        x = np.arange(len(scales)) + (i - (len(histograms) - 1) / 2) * width
        ax.bar(x, [hist.get(s, 0) for s in scales], width=width, label=name)
    ax.set_xticks(np.arange(len(scales)))
    ax.set_xticklabels([f'{s:g}' for s in scales])
    ax.set_xlabel('scale chosen by the DRS')
    ax.set_ylabel('test images')
    ax.set_title('Chosen scales on the test split')
    if histograms:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def claim_check(rows: Sequence[Dict[str, Any]],
                images: Optional[Dict[str, Any]] = None) -> List[str]:
    """Sentences on the paper's claim from the rows' per-image records (no judgement is
    hard-coded): :func:`.claims.claim_comparisons` and :func:`.claims.claim_lines`.

    Args:
        rows (Sequence[dict]): The table's rows.
        images (dict, optional): Row name -> per-image records; by default read from the
            rows' ``per_image`` files.
    """
    images = row_records(rows) if images is None else images
    return claim_lines(rows, claim_comparisons(rows, images))


#: The page's explanation of its intervals, comparisons and the oracle.
INTERVALS_NOTE = (
    'E2E None is given with its 95% interval: a percentile bootstrap over the test images '
    f'({NUM_SAMPLES:,} resamples, seed {SEED}; `docs/evaluation.md`, "Intervals and per-image '
    'records"), computed from each evaluation\'s `per_image.json`.')
CLAIM_NOTE = (
    'Each comparison is a paired bootstrap of the E2E None hmean difference, in points, over '
    'the same test images (the same resamples for both models). The verdict is **above** / '
    '**below** when the whole 95% interval lies above / below 0 and **within** when 0 lies in '
    'it, ends included: not distinguishable on these images, not "equal". Vanilla at the same '
    'GFLOPs '
    'is interpolated image by image: each image\'s counts are the weighted sum of its counts '
    'at the two Vanilla scales whose GFLOPs bracket the model\'s, with weights `1 - t` and '
    '`t`, `t = (G - G_low) / (G_high - G_low)` (the same for every image, a multiple of '
    f'1/{WEIGHT_UNITS:,}), so that the Vanilla side stays on the same images; summed, they '
    'are the Vanilla curve\'s counts interpolated at `G`.')
ORACLE_NOTE = (
    'The Vanilla rows are the teacher at each scale, so their per-image records are its scale '
    'oracle\'s runs (`docs/dld.md`, "The per-image scale oracle"), with no model run again. '
    'GFLOPs per image of a scale: the FLOPs stage\'s mean, the counter and images of the '
    'other rows. The capped oracle never reads more of an image than full resolution does and '
    'is the ceiling to quote; best-of-k counts each scale\'s own words and so also picks the '
    'luckiest of k noisy reads. Oracles are read at a model\'s GFLOPs by linear interpolation '
    'between their greedy points. Share of the oracle\'s gain: `(model - fixed) / (oracle - '
    'fixed)` at the model\'s GFLOPs (0: the fixed-scale curve, 1: the oracle); "-" when the '
    'oracle does not beat the fixed scale there or the GFLOPs lie below its cheapest point. '
    'The DRS models are students and the oracle is the teacher\'s: a share compares a '
    'student\'s choices with the best choices of the teacher\'s scales.')


def write_results_page(path: str, rows: Sequence[Dict[str, Any]],
                       histograms: Dict[str, Dict[float, int]], plots: Dict[str, str],
                       runner: StageRunner, budget: str, teacher: str, student: str,
                       student_iters: Optional[int] = None,
                       dld_gammas: Sequence[float] = (),
                       analysis: Optional[Dict[str, Any]] = None) -> str:
    """The Markdown results page (table, claim check, plots, oracle, histograms, provenance)
    and the same data as JSON (``.json`` beside it).

    ``student_iters`` and ``dld_gammas`` are the options of the run, for the command line
    printed on the page. ``analysis`` is :func:`.results_analysis.analyse_results` of the
    rows (computed here, without the regime tables, when not given).
    """
    import json
    if analysis is None:
        analysis = analyse_results(rows)
    command = f'python tools/reproduce.py --budget {budget}'
    if student_iters is not None:
        command += f' --student-iters {student_iters}'
    if dld_gammas:
        command += ' --dld-gammas ' + ' '.join(f'{g:g}' for g in dld_gammas)
    commit = git_commit(runner.cwd or '.')
    rel = {k: osp.relpath(v, osp.dirname(osp.abspath(path))) for k, v in plots.items()}
    scales = sorted({s for h in histograms.values() for s in h}, reverse=True)
    hist_lines = ['| model | ' + ' | '.join(f'{s:g}' for s in scales) + ' |',
                  '|---|' + '---:|' * len(scales)]
    for name, hist in histograms.items():
        hist_lines.append(f'| {name} | ' + ' | '.join(str(hist.get(s, 0)) for s in scales) + ' |')
    oracle = analysis.get('oracle')
    regimes = analysis.get('regimes')
    vanilla_names = [r['name'] for r in sorted(
        (r for r in rows if r.get('kind') == 'vanilla'), key=lambda r: -(r.get('scale') or 0))]
    text = '\n\n'.join([
        '# Results on the synthetic benchmark',
        f'Produced by `{command}` (teacher `{teacher}`, '
        f'students derived from `{student}`); commit `{commit}`; '
        f'{machine_description()}; {time.strftime("%Y-%m-%d %H:%M %Z")}; total wall time '
        f'{format_duration(runner.total_seconds)}.',
        budget_note(budget, student_iters),
        '## Table',
        'Accuracies in % (hmean; Rec: accuracy with GT boxes); Scale relative to the '
        'teacher\'s base size (average for DRS models); GFLOPs per image of the whole test '
        'step; images per second with one image per batch. ' + INTERVALS_NOTE,
        format_table(rows),
        '## The paper\'s claim',
        'DLD at about half the teacher\'s FLOPs is within 1 point of the teacher and clearly '
        'above Vanilla at the same FLOPs; SKD alone beats Vanilla at the student\'s scale. '
        + CLAIM_NOTE + ' Measured here:',
        '\n'.join(claim_lines(rows, analysis['claims'])) or '(no DLD row)',
        '## E2E hmean against GFLOPs',
        'The Vanilla curve (fixed scale), the Vanilla scale oracle\'s curves (the best scale '
        'per image for every GFLOPs budget, below) and the distilled models, with 95% '
        'intervals.',
        f'![E2E hmean against GFLOPs per image]({rel["curve"]})',
        '## Dynamic resolution against the scale oracle',
        ORACLE_NOTE,
        (format_oracle_section(oracle, vanilla_names) if oracle is not None else
         '(no oracle: it needs at least 2 Vanilla scales with per-image records and GFLOPs)'),
    ] + ([
        '## The DLD student against its own scale oracle',
        format_student_oracle_section(analysis['student_oracle']),
    ] if analysis.get('student_oracle') else []) + [
        '## Scales chosen by the DRS',
    ] + ([
        '\n'.join(hist_lines),
        f'![Histogram of chosen scales]({rel["hist"]})',
        'Per text regime of the synthetic test images (`docs/synthetic_data.md`):',
        (format_regime_section(regimes) if regimes is not None else
         '(no regime table: no DRS model with per-image records, or no test annotations)'),
    ] if histograms or regimes is not None else ['(no DRS model was run)']) + [
        stage_times_section(runner.results, runner.total_seconds),
    ]) + '\n'
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)
    with open(osp.splitext(path)[0] + '.json', 'w', encoding='utf-8') as f:
        json.dump(dict(budget=budget, student_iters=student_iters,
                       dld_gammas=list(dld_gammas), rows=list(rows),
                       histograms={k: {str(s): n for s, n in h.items()}
                                   for k, h in histograms.items()},
                       intervals=dict(samples=NUM_SAMPLES, seed=SEED, level=LEVEL),
                       **analysis_json(analysis),
                       student_oracle={k: v for k, v in (analysis.get('student_oracle')
                                                          or {}).items() if k != 'markdown'}
                       or None,
                       commit=commit, machine=machine_description()), f, indent=2)
    return path


#: What each budget means, printed on the results page: (the budget, its students' schedule).
#: The second part is replaced when ``--student-iters`` sets the students' schedule.
BUDGET_NOTES = {
    'tiny': ('**Tiny budget: a smoke run, not a result.** The teacher is trained for 2 '
             'iterations on 4 images of 192 px and every model is tested on 2 images, so the '
             'accuracies are those of untrained networks (0 or noise) and say nothing about '
             'the paper\'s claim; the page only shows that the whole comparison runs and what '
             'it writes, and its intervals (over 2 images) and oracle are as meaningless. The '
             'per-scale costs `T_i` are measured on 1 image. Run `--budget full` or '
             '`--budget dynamic` (GPU recommended) for numbers.',
             'Every student is trained for 2 iterations too.'),
    'demo': ('**Demo budget**: the teacher of `make demo` (2,500 iterations of batch 2 from '
             'random weights, on the demo\'s easier text: 50 lower-case words, mostly '
             'horizontal, `docs/synthetic_data.md`); 50 test images.',
             'Each student is distilled from it for 100 iterations, as in the demo. A '
             'CPU-sized run: the students see 200 images, so the DRS has had little training '
             '(see the scale histogram).'),
    'full': ('Full budget: the teacher trained for 6,000 iterations (batch 4) on 3,000 '
             'synthetic training images of the benchmark\'s own text; 200 test images. GPU '
             'recommended: it has not been run on the project\'s 2-core CPU, where it takes '
             'many hours (a batch-2 iteration of the smaller demo teacher takes about 0.5 s '
             'there).',
             'Each of the five students is distilled for 2,000 iterations.'),
    'dynamic': ('**Dynamic-resolution budget** (`configs/demo/_base_/synthetic_dynamic.py`, '
                '`docs/synthetic_data.md`): the demo\'s easier text on 512 px images, half of '
                'them with only large words, a third mixing large and small words, 15% with '
                'only small words, 5% empty; 3,000 training and 1,500 test images (enough for '
                'an interval of about +-1 point on E2E hmean). The teacher '
                '(`configs/demo/spotter_r18w32_dynamic.py`) is the demo spotter at S-512 with '
                'heads that run only on the detections it reports, trained for 2,500 '
                'iterations of batch 2, so that its test step\'s cost falls with the input '
                'scale; its `T_i` are measured on 50 test images (`scale_costs` stage). GPU '
                'recommended.',
                'Each student is distilled from it for 1,000 iterations.'),
    'tp_dynamic': ('**Text Perceptron on the dynamic-resolution budget** (the data, schedule '
                   'and test split of `--budget dynamic`): the teacher is Text Perceptron '
                   '(`configs/text_perceptron/tp_r18w32_dynamic.py`: ResNet-18 at width 32, '
                   'the order-aware segmentation head, the thin-plate-spline Shape Transform '
                   'and the BiLSTM-attention recogniser, `docs/text_perceptron.md`) trained '
                   'for 5,000 iterations of batch 2 (twice the Mask R-CNN teacher\'s '
                   'schedule); its `T_i` are measured on 50 test images.',
                   'Each student is distilled from it for 1,000 iterations.'),
    'mango_dynamic': ('**MANGO on the dynamic-resolution budget** (the data, schedule and test '
                      'split of `--budget dynamic`): the teacher is MANGO '
                      '(`configs/mango/mango_r18w32_dynamic.py`: ResNet-18 at width 32, the '
                      '40 x 40 grid with Position-aware Mask Attention and the BiLSTM '
                      'sequence decoder, `docs/mango.md`) trained for 5,000 iterations of '
                      'batch 2, its recogniser on each word\'s centre cell; words are matched at IoU 0.1, as the paper evaluates MANGO; '
                      'its `T_i` are measured on 50 test images.',
                      'Each student is distilled from it for 1,000 iterations.'),
}


def budget_note(budget: str, student_iters: Optional[int] = None) -> str:
    """The results page's description of ``budget`` (with ``--student-iters``, if given)."""
    main, students = BUDGET_NOTES.get(budget, ('', ''))
    if student_iters is not None:
        students = (f'**Each student is distilled for {student_iters:,} iterations** '
                    f'(`--student-iters {student_iters}`, instead of the budget\'s own '
                    'schedule; its learning-rate steps and Gumbel temperature decay are '
                    'stretched to match).')
    return f'{main} {students}'.strip()
