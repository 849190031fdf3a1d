"""StageRunner: runs, skips when the outputs exist, records times, fails loudly."""
import json
import sys

import pytest

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
