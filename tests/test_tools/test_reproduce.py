"""The reproduction command end to end at the tiny budget (every model of the comparison,
plus one DLD student of the gamma sweep, the scale-cost stage, and the page's intervals,
oracle and regime tables)."""
import json
import os.path as osp
import subprocess
import sys

import pytest
from helpers import TOOLS_DIR


@pytest.mark.slow
def test_reproduce_tiny_end_to_end(tmp_path):
    out = tmp_path / 'docs' / 'results.md'
    (tmp_path / 'docs').mkdir()
    cmd = [sys.executable, osp.join(TOOLS_DIR, 'reproduce.py'), '--budget', 'tiny',
           '--work-dir', str(tmp_path / 'work'), '--out', str(out), '--student-iters', '3',
           '--dld-gammas', '2']
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=5400, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    text = out.read_text()
    data = json.loads((tmp_path / 'docs' / 'results.json').read_text())
    names = [row['name'] for row in data['rows']]
    assert names == ['Vanilla S-320', 'Vanilla S-160', 'SKD-only (S x 0.5)',
                     'DRS-only (gamma 0.1)', 'DRS-only (gamma 0.3)', 'DLD (gamma 0.1)',
                     'DLD (gamma 0.3)', 'DLD (gamma 2)']
    rows = {row['name']: row for row in data['rows']}
    # Vanilla at half the short side costs less than at full resolution (same weights).
    assert rows['Vanilla S-160']['gflops'] < rows['Vanilla S-320']['gflops']
    assert rows['SKD-only (S x 0.5)']['scale'] == 0.5
    assert set(data['histograms']) == {'DRS-only (gamma 0.1)', 'DRS-only (gamma 0.3)',
                                       'DLD (gamma 0.1)', 'DLD (gamma 0.3)', 'DLD (gamma 2)'}
    for hist in data['histograms'].values():
        assert sum(hist.values()) == 2
    # --student-iters: every student trained 3 iterations, and the page says so.
    for key in ('skd_only_s_x_0.5', 'dld_gamma_0.1', 'dld_gamma_2'):
        assert osp.isfile(tmp_path / 'work' / key / 'iter_3.pth')
    assert '--budget tiny --student-iters 3 --dld-gammas 2' in text
    assert '**Each student is distilled for 3 iterations**' in text
    for png in ('results_e2e_vs_gflops.png', 'results_scales.png'):
        assert (tmp_path / 'docs' / png).read_bytes()[:4] == b'\x89PNG'
    assert '**Tiny budget: a smoke run, not a result.**' in text
    assert "## The paper's claim" in text
    # Untrained models: the claim check says so instead of comparing noise.
    assert '* Not testable here: the teacher (Vanilla S-320) reads almost nothing' in text
    # T_i measured once with the teacher's weights; every student got them.
    teacher_dir = tmp_path / 'work' / 'teacher'
    costs = json.loads((teacher_dir / 'scale_costs.json').read_text())
    assert costs['scales'] == [0.8, 0.7, 0.6, 0.5, 0.4, 0.3] and costs['num_images'] == 1
    assert json.loads((teacher_dir / 'scale_costs_0.5.json').read_text())['scales'] == [0.5]
    assert f'model.scale_costs_file={teacher_dir / "scale_costs.json"}' in proc.stdout
    # Every row carries its interval; the oracle and the regime tables are on the page.
    for row in data['rows']:
        assert row['e2e_none_low'] <= row['e2e_none'] <= row['e2e_none_high'], row['name']
        assert osp.isfile(row['per_image'])
    assert '## Dynamic resolution against the scale oracle' in text
    assert data['oracle']['scales'] == [1.0, 0.5]
    assert set(data['oracle']['models']) == set(data['histograms'])
    assert set(data['regimes']) == set(data['histograms'])
    for regimes in data['regimes'].values():
        assert sum(n for hist in regimes['histograms'].values() for n in hist.values()) == 2
    # The DLD student forced to each candidate scale: its own oracle, its DRS against it.
    assert '## The DLD student against its own scale oracle' in text
    student_oracle = data['student_oracle']
    assert student_oracle['model'] == 'DLD (gamma 0.1)'
    assert [p['scale'] for p in student_oracle['fixed']] == [0.8, 0.7, 0.6, 0.5, 0.4, 0.3]
    assert '| DLD (gamma 0.1) |' in text and 'per_image.json |' not in text
    for scale in (0.8, 0.3):
        assert osp.isfile(tmp_path / 'work' / 'eval' / 'dld_gamma_0.1' / 'oracle' /
                          f'scale_{scale:g}' / 'per_image.json')
