"""The stages of ``make demo`` (``tools/run_demo.py``), as a function the tests can call.

Relative paths (configs, the data roots inside them, work folders) are relative to the
repository root ``root``; every subprocess stage runs there.
"""
import os.path as osp
import time
from typing import Any, Dict, List, Optional

from mmengine.config import Config

from mmdld.apis import find_resize, short_side
from .pipeline import (NO_MASKS, evaluate, evaluation_stages, row_from, scale_histogram,
                       scaled_test_config, train)
from .report import (format_table, git_commit, machine_description, stage_times_section,
                     write_report)
from .stages import StageRunner, format_duration, python_cmd

#: The teacher's E2E (None) hmean the demo is tuned to reach, in percent.
TEACHER_TARGET = 50.0

#: Expected seconds of the demo's stages on the project's 2-core CPU, for the ETA of a first
#: run (a later run uses the times it recorded): the timed run of docs/report.md (data 14 s,
#: teacher 22 min 40 s, student 1 min 30 s, 1 min 46 s for the evaluation of three models,
#: 13 s for two pictures).
DEMO_ESTIMATES: Dict[str, float] = {
    'data': 14.0, 'teacher': 1360.0, 'student': 90.0,
    '*/test': 20.0, '*/flops': 8.0, '*/fps': 7.0, 'picture/*': 6.5,
}


def ensure_data(config: str, root: str = '.', log_fn=print) -> List[str]:
    """Generates the synthetic train and test sets of ``config`` if they are missing.

    Args:
        config (str): The config whose data is generated.
        root (str): The folder its data roots are relative to.
        log_fn (callable): Progress messages.

    Returns:
        list[str]: The data roots.
    """
    from mmdld.datasets.synthesis import ensure_dataset
    cfg = Config.fromfile(config)
    roots = []
    for loader in ('train_dataloader', 'test_dataloader'):
        dataset = cfg[loader]['dataset']
        if dataset.get('synth_cfg') is None:
            continue
        data_root = osp.join(root, dataset['data_root'])
        ensure_dataset(data_root, dataset['synth_cfg'], dataset['ann_file'], log_fn=log_fn)
        roots.append(data_root)
    return sorted(set(roots))


def base_short_side(config: str) -> int:
    """The short side the config's test pipeline resizes images to (its S-N)."""
    cfg = Config.fromfile(config)
    return short_side(
        find_resize(cfg.test_dataloader.dataset.pipeline,
                    f'{config}: test_dataloader.dataset.pipeline'))


def data_outputs(config: str, root: str = '.') -> List[str]:
    """The files that mark the synthetic data of ``config`` as generated."""
    cfg = Config.fromfile(config)
    roots = {cfg[k]['dataset']['data_root'] for k in ('train_dataloader', 'test_dataloader')}
    return [osp.join(root, data_root, 'synth_cfg.json') for data_root in sorted(roots)]


def data_and_teacher(runner: StageRunner, budget: str, names: Dict[str, str], teacher: str,
                     work_dir: str, root: str) -> str:
    """The first stages of the demo and the reproduction: the data, then the teacher.

    Args:
        runner (StageRunner): Runs the stages.
        budget (str): Name of the budget, for the log.
        names (dict): The teacher and student configs as given, for the log.
        teacher (str): The teacher config's path.
        work_dir (str): Output folder (the teacher trains in ``teacher/``).
        root (str): The folder the configs' data roots are relative to.

    Returns:
        str: The teacher's final checkpoint.
    """
    runner.log(f'budget {budget!r}: teacher {names["teacher"]}, student {names["student"]}, '
               f'output {work_dir}')
    runner.run('data', data_outputs(teacher, root),
               fn=lambda: ensure_data(teacher, root, log_fn=lambda m: runner.log(f'data: {m}')))
    return train(runner, 'teacher', teacher, osp.join(work_dir, 'teacher'))


def run_demo(budget: str,
             teacher: str,
             student: str,
             work_dir: str,
             cost_images: int,
             fps_images: int,
             runner: Optional[StageRunner] = None,
             root: str = '.',
             estimates: Optional[Dict[str, float]] = None) -> Dict[str, Any]:
    """Runs (or resumes) the demo and writes ``<work_dir>/report.md`` and ``report.json``.

    Args:
        budget (str): Name of the budget, for the report.
        teacher (str): Teacher config.
        student (str): DLD student config (its ``model.teacher_ckpt`` is set here).
        work_dir (str): Output folder.
        cost_images (int): Test images for the FLOPs count.
        fps_images (int): Test images timed for images/s.
        runner (StageRunner, optional): Defaults to a new one titled ``demo``, running its
            subprocesses in ``root``.
        root (str): The repository root, which relative paths are relative to.
        estimates (dict, optional): Expected seconds per stage name or pattern, for the ETA
            of stages not timed by an earlier run (e.g. :data:`DEMO_ESTIMATES`).

    Returns:
        dict: ``rows`` (teacher, DLD student, Vanilla), ``report`` (the Markdown path),
        ``histogram`` (images per chosen scale) and ``stages``.
    """
    names = dict(teacher=teacher, student=student)
    teacher, student, work_dir = (osp.join(root, p) for p in (teacher, student, work_dir))
    runner = runner or StageRunner('demo', cwd=root,
                                   record_file=osp.join(work_dir, 'stage_times.json'))
    runner.estimates.update(estimates or {})
    # The Vanilla model is named after the student's average scale, known only later.
    runner.plan(['data', 'teacher', 'student']
                + [stage for model in ('teacher', 'student', 'vanilla')
                   for stage in evaluation_stages(model, fps_images)]
                + ['picture/teacher', 'picture/student'])
    teacher_ckpt = data_and_teacher(runner, budget, names, teacher, work_dir, root)
    student_ckpt = train(runner, 'student', student, osp.join(work_dir, 'student'),
                         {'model.teacher_ckpt': teacher_ckpt})

    eval_dir = osp.join(work_dir, 'eval')
    costs = dict(cost_images=cost_images, fps_images=fps_images)
    teacher_paths = evaluate(runner, 'teacher', teacher, teacher_ckpt,
                             osp.join(eval_dir, 'teacher'), **costs)
    student_paths = evaluate(runner, 'student', student, student_ckpt,
                             osp.join(eval_dir, 'student'),
                             {'model.teacher_ckpt': teacher_ckpt}, dump_predictions=True,
                             test_options=NO_MASKS, **costs)
    base = base_short_side(teacher)
    student_row = row_from('DLD student (gamma 0.1)', student_paths, config=names['student'],
                           checkpoint=student_ckpt)
    avg_scale = float(student_row['scale'])
    short = max(1, int(round(avg_scale * base)))
    vanilla_name = f'vanilla_S-{short}'
    vanilla_cfg = scaled_test_config(teacher, short / base,
                                     osp.join(eval_dir, vanilla_name, 'config.py'))
    vanilla_paths = evaluate(runner, vanilla_name, vanilla_cfg, teacher_ckpt,
                             osp.join(eval_dir, vanilla_name), **costs)

    picture = osp.join(work_dir, 'vis')
    test_img = first_test_image(teacher, root)
    pictures = {}
    # The same test image drawn by the teacher and by the DLD student (at the scale its DRS
    # picks); demo/image_demo.py builds either model.
    for name, config, ckpt in (('teacher', teacher, teacher_ckpt),
                               ('student', student, student_ckpt)):
        out_dir = osp.join(picture, name)
        pictures[name] = osp.join(out_dir, osp.basename(test_img))
        runner.run(f'picture/{name}', [pictures[name]],
                   cmd=python_cmd('demo/image_demo.py', test_img, config, ckpt, '--out-dir',
                                  out_dir),
                   log_file=osp.join(out_dir, 'image_demo.log'))
    picture_file = ' and '.join(f'`{p}` ({n})' for n, p in pictures.items())

    rows = [
        row_from(f'Teacher (S-{base})', teacher_paths, scale=1.0, config=names['teacher'],
                 checkpoint=teacher_ckpt),
        student_row,
        row_from(f'Vanilla (teacher at S-{short})', vanilla_paths, scale=short / base,
                 config=vanilla_cfg, checkpoint=teacher_ckpt),
    ]
    histogram = scale_histogram(student_paths['predictions'])
    report = osp.join(work_dir, 'report.md')
    _write(report, rows, histogram, runner, budget, names['teacher'], names['student'],
           picture_file)
    runner.log(f'report written to {report}\n\n{format_table(rows)}\n')
    e2e = rows[0]['e2e_none']
    verdict = 'reached' if e2e >= TEACHER_TARGET else 'NOT reached'
    runner.log(f'teacher E2E None hmean {e2e:.1f} (target >= {TEACHER_TARGET:.0f}): {verdict}; '
               f'total wall time {format_duration(runner.elapsed)}')
    return dict(rows=rows, report=report, histogram=histogram, stages=runner.results)


def first_test_image(config: str, root: str = '.') -> str:
    """The path of the first image of the config's test split (data root relative to root)."""
    import json
    cfg = Config.fromfile(config)
    dataset = cfg.test_dataloader.dataset
    data_root = osp.join(root, dataset['data_root'])
    with open(osp.join(data_root, dataset['ann_file']), encoding='utf-8') as f:
        records = json.load(f)['data_list']
    if not records:
        raise ValueError(f'{config}: the test split is empty')
    return osp.join(data_root, records[0]['img_path'])


def _write(report: str, rows: List[Dict[str, Any]], histogram: Dict[float, int],
           runner: StageRunner, budget: str, teacher: str, student: str,
           picture: str) -> None:
    hist = ', '.join(f'{s:g}: {n}' for s, n in histogram.items())
    teacher_row = rows[0]
    verdict = ('reaches' if teacher_row['e2e_none'] >= TEACHER_TARGET else 'does not reach')
    commit = git_commit(runner.cwd or '.')
    notes = [
        f'Budget `{budget}`; teacher `{teacher}`, student `{student}`; '
        f'{teacher_row.get("num_images")} synthetic test images. Accuracies are hmeans in % '
        '(Rec: accuracy on the GT boxes); Scale is the input scale relative to the teacher\'s '
        'base size (the DLD student\'s is its average over the test images); GFLOPs per image '
        'of the whole test step (`get_flops.py`), images per second of `test_step` with one '
        'image per batch (`benchmark_fps.py`).',
        f'The teacher {verdict} the target E2E None hmean of {TEACHER_TARGET:.0f}.',
        f'Scales chosen by the DRS on the test images (scale: images): {hist}.',
        f'Pictures of the outputs on a test image: {picture}.',
        f'Commit `{commit}`; {machine_description()}; finished '
        f'{time.strftime("%Y-%m-%d %H:%M %Z")}.',
    ]
    write_report(report, rows, 'mmdld demo report', notes,
                 [stage_times_section(runner.results, runner.total_seconds)],
                 json_data=dict(budget=budget, histogram={str(k): v for k, v in
                                                          histogram.items()},
                                stages=[vars(r) for r in runner.results],
                                total_seconds=runner.total_seconds, commit=commit,
                                machine=machine_description()))
