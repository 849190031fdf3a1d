"""StageRunner: runs, skips when the outputs exist, records times, fails loudly, and shows
the stage counter and the overall ETA from a subprocess's MMEngine log lines."""
import json
import os.path as osp
import subprocess
import sys
import types

import pytest
from helpers import TOOLS_DIR

from experiments.stages import StageError, StageRunner, format_duration


def test_format_duration():
    assert format_duration(0) == '0m00s'
    assert format_duration(75.3) == '1m15s'
    assert format_duration(3700) == '1h01m40s'


def test_runs_then_skips_and_keeps_the_recorded_time(tmp_path):
    out = tmp_path / 'out.txt'
    record = tmp_path / 'times.json'
    lines = []
    calls = []

    def make():
        calls.append(1)
        out.write_text('x')

    runner = StageRunner('t', log_fn=lines.append, record_file=str(record))
    first = runner.run('make', [str(out)], fn=make)
    assert first.status == 'done' and calls == [1]
    assert json.loads(record.read_text())['make'] == pytest.approx(first.seconds)
    assert any('make: started' in line for line in lines)
    assert any('make: done in' in line for line in lines)

    again = StageRunner('t', log_fn=lines.append, record_file=str(record))
    second = again.run('make', [str(out)], fn=make)
    assert second.status == 'skipped' and calls == [1]
    assert second.seconds == pytest.approx(first.seconds)
    assert again.total_seconds == pytest.approx(first.seconds)
    assert 'skipped, already done' in lines[-1]


def test_subprocess_stage_and_its_log_file(tmp_path):
    out = tmp_path / 'made.txt'
    log = tmp_path / 'logs' / 'stage.log'
    runner = StageRunner('t', log_fn=lambda m: None)
    code = f'open({str(out)!r}, "w").write("ok"); print("hello from the stage")'
    result = runner.run('py', [str(out)], cmd=[sys.executable, '-c', code], log_file=str(log))
    assert result.status == 'done'
    assert out.read_text() == 'ok'
    assert 'hello from the stage' in log.read_text()


def test_failing_command_names_the_stage_status_and_log(tmp_path):
    log = tmp_path / 'fail.log'
    runner = StageRunner('t', log_fn=lambda m: None)
    with pytest.raises(StageError, match=r"stage 'boom' failed with exit status 3 "
                       r"\(its log is .*fail.log\)"):
        runner.run('boom', [str(tmp_path / 'never')],
                   cmd=[sys.executable, '-c', 'import sys; sys.exit(3)'], log_file=str(log))


def test_missing_output_after_success_is_an_error(tmp_path):
    runner = StageRunner('t', log_fn=lambda m: None)
    with pytest.raises(StageError, match='did not write'):
        runner.run('lazy', [str(tmp_path / 'absent')], fn=lambda: None)


def test_exactly_one_of_cmd_and_fn():
    runner = StageRunner('t', log_fn=lambda m: None)
    with pytest.raises(ValueError, match='exactly one'):
        runner.run('x', [], cmd=['true'], fn=lambda: None)
    with pytest.raises(ValueError, match='exactly one'):
        runner.run('x', [])


# Progress: the stage counter, the overall ETA and the subprocess's output in its log file.

from experiments.stages import Progress, format_eta, parse_progress  # noqa: E402

#: What a training run prints (abridged): the config dump first, then MMEngine's log lines.
FAKE_TRAINING = r'''
import sys, time
print('Config:')
for i in range(200):
    print(f"model_setting_{i} = dict(type='Thing', value={i})")
print('12/01 21:00:00 - mmengine - WARNING - a warning on stderr', file=sys.stderr)
for it in (50, 100, 150, 200):
    time.sleep(0.05)
    print(f'12/01 21:00:{it // 10:02d} - mmengine - INFO - Iter(train) [{it:>3}/200]  '
          f'lr: 1.0000e-02  eta: 0:0{(200 - it) // 50}:00  time: 0.5000  data_time: 0.0100  '
          f'loss: 1.2345')
open(sys.argv[1], 'w').write('checkpoint')
'''


def test_parse_progress_reads_mmengine_headers_and_eta():
    line = ('12/01 21:05:12 - mmengine - INFO - Iter(train) [1200/2500]  lr: 1.0000e-02  '
            'eta: 0:11:02  time: 0.4800  data_time: 0.0100  loss: 3.1')
    assert parse_progress(line) == Progress('train', 1200, 2500, None, 662.0)
    assert parse_progress('mmengine - INFO - Epoch(train)  [3][ 20/270]  lr: 1e-2  '
                          'eta: 1 day, 2:00:00  time: 1.0') == Progress('train', 20, 270, 3,
                                                                        93600.0)
    assert parse_progress('mmengine - INFO - Epoch(test) [ 10/50]    eta: 0:00:20') == \
        Progress('test', 10, 50, None, 20.0)
    assert parse_progress('mmengine - INFO - Iter(val) [5/8]') == Progress('val', 5, 8)
    assert parse_progress("train_cfg = dict(max_iters=2500, val_interval=2500)") is None
    assert parse_progress('Iter [1200/2500]') is None


def test_format_eta():
    assert format_eta(20) == '< 1 min'
    assert format_eta(660) == '11 min'
    assert format_eta(3900) == '1 h 05 min'


def test_stage_counter_follows_the_plan_and_counts_skipped_stages(tmp_path):
    done = tmp_path / 'done.txt'
    done.write_text('x')
    lines = []
    runner = StageRunner('t', log_fn=lines.append)
    runner.plan(['data', 'teacher', 'report'])
    runner.run('data', [str(done)], fn=lambda: None)
    runner.run('teacher', [], fn=lambda: None)
    runner.run('report', [], fn=lambda: None)
    assert 'stage 1/3 data: skipped, already done' in lines[0]
    assert any('stage 2/3 teacher: started' in line for line in lines)
    assert any('stage 3/3 report: done in' in line for line in lines)
    # A stage the plan missed does not count past the total.
    runner.run('extra', [], fn=lambda: None)
    assert any('stage 4/4 extra: started' in line for line in lines)


def test_overall_eta_adds_the_stages_to_come(tmp_path):
    record = tmp_path / 'times.json'
    record.write_text(json.dumps({'student': 300.0}))
    runner = StageRunner('t', log_fn=lambda m: None, record_file=str(record),
                         estimates={'teacher': 1200.0, '*/test': 60.0})
    runner.plan(['teacher', 'student', 'teacher/test', 'picture'])
    runner.count = 1  # the teacher is running
    # The recorded time of an earlier run first, then the estimates; 'picture' is untimed.
    assert runner.eta(240.0) == 'ETA 10 min + 1 untimed stage'
    runner.plan(['teacher', 'student', 'teacher/test'])
    assert runner.eta(240.0) == 'ETA 10 min'
    assert runner.eta(None) == 'ETA 6 min + 1 untimed stage'
    empty = StageRunner('t', log_fn=lambda m: None)
    assert empty.eta(None) == 'ETA unknown'


def test_subprocess_output_goes_to_its_log_and_its_progress_to_the_terminal(tmp_path):
    ckpt, log = tmp_path / 'iter_200.pth', tmp_path / 'teacher' / 'train.log'
    lines = []
    runner = StageRunner('demo', log_fn=lines.append, estimates={'student': 120.0},
                         progress_interval=0)
    runner.plan(['data', 'teacher', 'student'])
    runner.count = 1  # 'data' was stage 1
    script = tmp_path / 'fake_train.py'  # a file: the echoed command line stays short
    script.write_text(FAKE_TRAINING)
    result = runner.run('teacher', [str(ckpt)], cmd=[sys.executable, str(script), str(ckpt)],
                        log_file=str(log))
    assert result.status == 'done'
    text = log.read_text()
    # The whole output is in the log, stderr included; none of it reached the terminal.
    assert 'model_setting_199' in text and 'a warning on stderr' in text
    assert 'Iter(train) [200/200]' in text
    terminal = '\n'.join(lines)
    assert 'model_setting' not in terminal and 'Iter(train)' not in terminal
    progress = [line for line in lines if ' it, ETA ' in line]
    # MMEngine's eta of the teacher (3, 2, 1, 0 min) plus the student's expected 2 minutes.
    assert [line.split('] ', 1)[1] for line in progress] == [
        'stage 2/3, teacher 50/200 it, ETA 5 min',
        'stage 2/3, teacher 100/200 it, ETA 4 min',
        'stage 2/3, teacher 150/200 it, ETA 3 min',
        'stage 2/3, teacher 200/200 it, ETA 2 min',
    ]
    assert any(f'its output goes to {log}' in line for line in lines)


def test_progress_lines_are_spaced_and_use_the_rate_without_an_eta_field(tmp_path):
    code = ('import time\n'
            'for it in range(1, 11):\n'
            '    time.sleep(0.02)\n'
            "    print(f'mmengine - INFO - Iter(train) [{it:>2}/10]  loss: 1.0')\n")
    lines = []
    runner = StageRunner('t', log_fn=lines.append, progress_interval=3600)
    runner.run('teacher', [], cmd=[sys.executable, '-c', code], log_file=str(tmp_path / 'l'))
    progress = [line.split('] ', 1)[1] for line in lines if ' it, ' in line]
    # The first progress line at once, then none for an hour, but the last iteration.
    assert progress == ['stage 1, teacher 1/10 it, ETA < 1 min',
                        'stage 1, teacher 10/10 it, ETA < 1 min']


def test_a_failed_stage_shows_the_end_of_its_log(tmp_path):
    code = "print('\\n'.join(f'line {i}' for i in range(40))); raise SystemExit('bad config')"
    runner = StageRunner('t', log_fn=lambda m: None)
    with pytest.raises(StageError) as error:
        runner.run('teacher', [str(tmp_path / 'never')], cmd=[sys.executable, '-c', code],
                   log_file=str(tmp_path / 'train.log'))
    message = str(error.value)
    assert 'bad config' in message and 'line 39' in message
    assert 'line 10\n' not in message  # only the end of the log


def test_run_demo_prints_its_first_line_before_the_heavy_imports(load_tool, monkeypatch,
                                                                 capsys):
    # In a fresh interpreter, loading the script imports neither torch nor MMEngine.
    script = osp.join(TOOLS_DIR, 'run_demo.py')
    probe = ('import importlib.util, sys\n'
             f'spec = importlib.util.spec_from_file_location("run_demo", {script!r})\n'
             'spec.loader.exec_module(importlib.util.module_from_spec(spec))\n'
             "print(sorted(m for m in ('torch', 'mmengine', 'mmdet') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, '-c', probe], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert out.strip() == '[]'
    # `main` prints before it imports the demo (here a stand-in that records the call).
    calls = []
    fake = types.ModuleType('experiments.demo')
    fake.DEMO_ESTIMATES = {'teacher': 1.0}
    fake.run_demo = lambda **kw: calls.append((capsys.readouterr().out, kw))
    monkeypatch.setitem(sys.modules, 'experiments.demo', fake)
    run_demo = load_tool('tools/run_demo.py')
    assert run_demo.main(['--budget', 'demo']) == 0
    printed, kwargs = calls[0]
    assert printed.startswith("[demo 0m00s] budget 'demo': loading")
    assert kwargs['estimates'] == {'teacher': 1.0}


class _Planned(Exception):
    """Stops a job at its first stage, once its plan is made."""


class _PlanOnly(StageRunner):
    def __init__(self, **kwargs):
        super().__init__('t', log_fn=lambda m: None, **kwargs)

    def run(self, name, outputs, cmd=None, fn=None, log_file=None):
        raise _Planned(name)


def test_the_demo_and_the_reproduction_plan_their_stages(tmp_path):
    from experiments.demo import DEMO_ESTIMATES, run_demo
    from experiments.reproduce import run_reproduction
    from helpers import REPO_ROOT
    tiny = dict(teacher='configs/demo/spotter_r18w32_demo_tiny.py',
                student='configs/demo/dld_r18w32_demo_tiny.py', root=REPO_ROOT)
    runner = _PlanOnly(estimates=DEMO_ESTIMATES)
    with pytest.raises(_Planned, match='data'):
        run_demo('tiny', work_dir=str(tmp_path), cost_images=1, fps_images=2, runner=runner,
                 **tiny)
    evals = ['test', 'flops', 'fps']
    assert runner.planned == (['data', 'teacher', 'student']
                              + [f'{m}/{e}' for m in ('teacher', 'student', 'vanilla')
                                 for e in evals]
                              + ['picture/teacher', 'picture/student'])
    # Every stage of the demo has an estimate for a first run.
    assert all(runner.expected_seconds(name) is not None for name in runner.planned)

    runner = _PlanOnly()
    with pytest.raises(_Planned, match='data'):
        run_reproduction('tiny', work_dir=str(tmp_path), out_md=str(tmp_path / 'r.md'),
                         cost_images=1, fps_images=0, vanilla_scales=(1.0, 0.5),
                         variants=['DLD (gamma 0.1)'], student_iters=4, runner=runner,
                         estimates={'student': 10.0}, **tiny)
    # The tiny teacher tests at S-320; without fps there are two evaluation stages.
    # The teacher's costs T_i are measured once, after it, for every student.
    assert runner.planned == ['data', 'teacher', 'scale_costs', 'vanilla_S-320/test',
                              'vanilla_S-320/flops',
                              'vanilla_S-160/test', 'vanilla_S-160/flops', 'dld_gamma_0.1',
                              'dld_gamma_0.1/test', 'dld_gamma_0.1/flops',
                              'dld_gamma_0.1/oracle']
    # The students' estimate follows --student-iters (the tiny student trains 2 iterations).
    assert runner.expected_seconds('dld_gamma_0.1') == pytest.approx(20.0)
