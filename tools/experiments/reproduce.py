"""The paper's comparison (Table 1) on the synthetic benchmark: ``tools/reproduce.py``.

Models, all from one teacher:

* Vanilla multi-scale: the teacher tested at fixed S-N for several N (the S-N of the teacher's
  base size is the upper bound "High-res" row);
* SKD-only: a student at the fixed scale 0.5 distilled with SKD (no DRS);
* DRS-only (gamma 0.1, 0.3): a student with the DRS and no distillation loss;
* DLD (gamma 0.1, 0.3): DRS + SKD.

Outputs: ``<out_md>`` (default ``docs/results.md``) with the table, the plot of E2E hmean
against GFLOPs per image (``<page>_e2e_vs_gflops.png``, e.g. ``results_e2e_vs_gflops.png``: the
Vanilla curve and the DLD / SKD / DRS points) and the histogram of the scales the DLD students
chose (``<page>_scales.png``).
"""
import os
import os.path as osp
import time
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence

from mmengine.config import Config

from .demo import base_short_side, data_and_teacher
from .pipeline import (NO_MASKS, evaluate, evaluation_stages, row_from, scale_histogram,
                       scaled_test_config, train)
from .report import format_table, git_commit, machine_description, stage_times_section
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


#: Below this teacher E2E hmean (%) the claim check reports that nothing can be concluded.
MIN_TEACHER_E2E = 5.0

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
                     estimates: Optional[Dict[str, float]] = None) -> Dict[str, Any]:
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

    Returns:
        dict: ``rows``, ``histograms`` (per DLD/DRS variant) and ``page`` (the path).
    """
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
    runner.plan(['data', 'teacher']
                + [stage for short in shorts
                   for stage in evaluation_stages(f'vanilla_S-{short}', fps_images)]
                + [stage for key in keys
                   for stage in [key] + evaluation_stages(key, fps_images)])
    teacher_ckpt = data_and_teacher(runner, budget, given, teacher, work_dir, root)
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
    schedule = {} if student_iters is None else student_schedule(student, student_iters)
    for name in names:
        key = slug(name)
        # The variant's own options last: SKD-only has no Gumbel hook whatever the schedule.
        cfg = variant_config(student, {**schedule, **all_variants[name]},
                             osp.join(work_dir, 'configs', f'{key}.py'))
        ckpt = train(runner, key, cfg, osp.join(work_dir, key),
                     {'model.teacher_ckpt': teacher_ckpt})
        with_drs = all_variants[name].get('model.selector', 'drs') is not None
        paths = evaluate(runner, key, cfg, ckpt, osp.join(eval_dir, key),
                         {'model.teacher_ckpt': teacher_ckpt}, dump_predictions=with_drs,
                         test_options=NO_MASKS, **costs)
        fixed = all_variants[name].get('model.fixed_scale')
        rows.append(row_from(name, paths, scale=fixed, kind='distilled', config=cfg))
        if with_drs:
            histograms[name] = scale_histogram(paths['predictions'])

    # The plots are named after the page, so that several pages can share a folder.
    stem = osp.splitext(osp.abspath(out_md))[0]
    plots = dict(curve=f'{stem}_e2e_vs_gflops.png', hist=f'{stem}_scales.png')
    plot_curve(rows, plots['curve'])
    plot_histograms(histograms, plots['hist'])
    page = write_results_page(out_md, rows, histograms, plots, runner, budget,
                              given['teacher'], given['student'], student_iters, dld_gammas)
    runner.log(f'results written to {out_md}\n\n{format_table(rows)}\n')
    return dict(rows=rows, histograms=histograms, page=page, plots=plots)


def plot_curve(rows: Sequence[Dict[str, Any]], path: str) -> None:
    """E2E None hmean against GFLOPs per image: the Vanilla curve and the distilled points."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    vanilla = sorted((r for r in rows if r.get('kind') == 'vanilla'), key=lambda r: r['gflops'])
    ax.plot([r['gflops'] for r in vanilla], [r['e2e_none'] for r in vanilla], 'o-',
            color='tab:gray', label='Vanilla multi-scale (teacher at S-N)')
    for r in vanilla:
        ax.annotate(r['name'].replace('Vanilla ', ''), (r['gflops'], r['e2e_none']),
                    textcoords='offset points', xytext=(4, -10), fontsize=7, color='tab:gray')
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
        ax.plot([r['gflops']], [r['e2e_none']], marker, color=colour,
                markersize=12 if marker == '*' else 8, label=r['name'])
    ax.set_xlabel('GFLOPs per image (whole test step)')
    ax.set_ylabel('E2E hmean, no lexicon (%)')
    ax.set_title('Synthetic benchmark: accuracy vs cost')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc='lower right')
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


def claim_check(rows: Sequence[Dict[str, Any]]) -> List[str]:
    """Sentences on the paper's claim, from the measured rows (no judgement is hard-coded).

    The claim: DLD at about half the teacher's FLOPs is within 1 point of the teacher (E2E)
    and clearly above Vanilla at the same FLOPs (linear interpolation of the Vanilla curve).
    """
    import numpy as np
    vanilla = sorted((r for r in rows if r.get('kind') == 'vanilla'), key=lambda r: r['gflops'])
    teacher = max(vanilla, key=lambda r: r['scale'] or 0)
    if teacher['e2e_none'] < MIN_TEACHER_E2E:
        return [f'* Not testable here: the teacher ({teacher["name"]}) reads almost nothing '
                f'(E2E None {teacher["e2e_none"]:.1f} < {MIN_TEACHER_E2E:.0f}), so every '
                'comparison with it is noise.']
    lines = []
    for r in rows:
        if not r['name'].startswith('DLD'):
            continue
        ratio = r['gflops'] / teacher['gflops']
        gap = r['e2e_none'] - teacher['e2e_none']
        at_same = float(np.interp(r['gflops'], [v['gflops'] for v in vanilla],
                                  [v['e2e_none'] for v in vanilla]))
        within = 'within' if gap >= -1.0 else 'not within'
        above = r['e2e_none'] - at_same
        where = 'level with' if abs(above) < 0.05 else ('above' if above > 0 else 'below')
        lines.append(
            f'* {r["name"]}: {100 * ratio:.0f}% of the teacher\'s GFLOPs, E2E None '
            f'{r["e2e_none"]:.1f} vs the teacher\'s {teacher["e2e_none"]:.1f} '
            f'({gap:+.1f}, {within} 1 point); Vanilla at the same GFLOPs (interpolated): '
            f'{at_same:.1f}, so DLD is {above:+.1f} points, {where} it.')
    return lines


def write_results_page(path: str, rows: Sequence[Dict[str, Any]],
                       histograms: Dict[str, Dict[float, int]], plots: Dict[str, str],
                       runner: StageRunner, budget: str, teacher: str, student: str,
                       student_iters: Optional[int] = None,
                       dld_gammas: Sequence[float] = ()) -> str:
    """The Markdown results page (table, claim check, plots, histogram, provenance).

    ``student_iters`` and ``dld_gammas`` are the options of the run, for the command line
    printed on the page.
    """
    import json
    command = f'python tools/reproduce.py --budget {budget}'
    if student_iters is not None:
        command += f' --student-iters {student_iters}'
    if dld_gammas:
        command += ' --dld-gammas ' + ' '.join(f'{g:g}' for g in dld_gammas)
    commit = git_commit(runner.cwd or '.')
    rel = {k: osp.relpath(v, osp.dirname(osp.abspath(path))) for k, v in plots.items()}
    hist_lines = ['| model | ' + ' | '.join(
        f'{s:g}' for s in sorted({s for h in histograms.values() for s in h}, reverse=True))
        + ' |']
    scales = sorted({s for h in histograms.values() for s in h}, reverse=True)
    hist_lines.append('|---|' + '---:|' * len(scales))
    for name, hist in histograms.items():
        hist_lines.append(f'| {name} | ' + ' | '.join(str(hist.get(s, 0)) for s in scales) + ' |')
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
        'step; images per second with one image per batch.',
        format_table(rows),
        '## The paper\'s claim',
        'DLD at about half the teacher\'s FLOPs is within 1 point of the teacher and clearly '
        'above Vanilla at the same FLOPs. Measured here:',
        '\n'.join(claim_check(rows)) or '(no DLD row)',
        '## E2E hmean against GFLOPs',
        f'![E2E hmean against GFLOPs per image]({rel["curve"]})',
        '## Scales chosen by the DRS',
        '\n'.join(hist_lines),
        f'![Histogram of chosen scales]({rel["hist"]})',
        stage_times_section(runner.results, runner.total_seconds),
    ]) + '\n'
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)
    with open(osp.splitext(path)[0] + '.json', 'w', encoding='utf-8') as f:
        json.dump(dict(budget=budget, student_iters=student_iters,
                       dld_gammas=list(dld_gammas), rows=list(rows),
                       histograms={k: {str(s): n for s, n in h.items()}
                                   for k, h in histograms.items()},
                       commit=commit, machine=machine_description()), f, indent=2)
    return path


#: What each budget means, printed on the results page: (the budget, its students' schedule).
#: The second part is replaced when ``--student-iters`` sets the students' schedule.
BUDGET_NOTES = {
    'tiny': ('**Tiny budget: a smoke run, not a result.** The teacher is trained for 2 '
             'iterations on 4 images of 192 px and every model is tested on 2 images, so the '
             'accuracies are those of untrained networks (0 or noise) and say nothing about '
             'the paper\'s claim; the page only shows that the whole comparison runs and what '
             'it writes. The GFLOPs of the distilled models are inflated too: `get_flops.py` '
             'counts them on one image, the first one a freshly built DLD model sees, whose '
             'step also measures the per-scale costs (every scale and the teacher). Run '
             '`--budget full` (GPU recommended) for numbers.',
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
