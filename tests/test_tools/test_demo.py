"""`make demo` end to end at the tiny budget: every stage runs, the report is written, and a
second run resumes (skips every stage) instead of redoing the work."""
import json
import os.path as osp
import subprocess
import sys

import pytest
from helpers import TOOLS_DIR


@pytest.mark.slow
def test_run_demo_tiny_end_to_end_and_resume(tmp_path):
    work_dir = tmp_path / 'demo'
    cmd = [sys.executable, osp.join(TOOLS_DIR, 'run_demo.py'), '--budget', 'tiny',
           '--work-dir', str(work_dir)]
    # Started outside the repository: the script finds its configs and data without chdir.
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, cwd=tmp_path)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]

    report = (work_dir / 'report.md').read_text()
    data = json.loads((work_dir / 'report.json').read_text())
    names = [row['name'] for row in data['rows']]
    assert names[0] == 'Teacher (S-320)' and names[1] == 'DLD student (gamma 0.1)'
    assert names[2].startswith('Vanilla (teacher at S-')
    for row in data['rows']:
        for key in ('e2e_none', 'e2e_full', 'ws_none', 'det', 'rec'):
            assert 0.0 <= row[key] <= 100.0, (row['name'], key, row[key])
        assert row['gflops'] > 0 and row['fps'] > 0, row
    teacher, student, vanilla = data['rows']
    assert teacher['scale'] == 1.0
    # The average of the DRS's choices on the 2 test images.
    assert 0.3 <= student['scale'] <= 0.8
    # The Vanilla baseline is the teacher at the student's average scale (S-N rounded).
    assert vanilla['scale'] == pytest.approx(round(student['scale'] * 320) / 320)
    assert sum(data['histogram'].values()) == 2
    assert report.startswith('# mmdld demo report\n\n| Model | E2E None | E2E Full |')
    assert '## Wall time per stage' in report
    # The same test image drawn by the teacher and by the DLD student.
    assert (work_dir / 'vis' / 'teacher' / '000000.jpg').is_file()
    assert (work_dir / 'vis' / 'student' / '000000.jpg').is_file()
    picked = json.loads((work_dir / 'vis' / 'student' / '000000.json').read_text())
    assert picked['scale'] in (0.8, 0.7, 0.6, 0.5, 0.4, 0.3)
    assert '[demo' in first.stdout and 'teacher: done in' in first.stdout
    assert 'target >= 50' in first.stdout

    second = subprocess.run(cmd, capture_output=True, text=True, timeout=1200, cwd=tmp_path)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert 'teacher: skipped, already done' in second.stdout
    assert 'student/test: skipped, already done' in second.stdout
    assert 'started' not in second.stdout
    # The resumed report still gives the time each stage took when it ran.
    again = json.loads((work_dir / 'report.json').read_text())
    times = {s['name']: s['seconds'] for s in again['stages']}
    assert times['teacher'] > 0 and all(s['status'] == 'skipped' for s in again['stages'])
