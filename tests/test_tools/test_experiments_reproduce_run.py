"""The reproduction's orchestration with its stages replaced by files written on the spot:
the scale-cost stage and its file for every student, the per-image records behind every row,
and the page built from them (no model is trained or tested)."""
import json
import os
import os.path as osp
import pickle

import pytest
from mmengine.config import Config

from experiments.reproduce import budget_note, run_reproduction
from experiments.stages import StageResult, StageRunner
from helpers import REPO_ROOT
from mmdld.evaluation.functional import write_per_image

TINY = dict(teacher='configs/demo/spotter_r18w32_demo_tiny.py',
            student='configs/demo/dld_r18w32_demo_tiny.py')
#: The two test images of the tiny data (data/synthetic_demo_tiny).
IMAGES = ('000000', '000001')
#: E2E None counts ``[matched, care GT, care det]`` of the two images, and GFLOPs, per model.
OUTCOMES = {'vanilla_S-320': ([(3, 4, 4), (2, 2, 2)], 4.0),
            'vanilla_S-160': ([(1, 4, 3), (2, 2, 2)], 1.0),
            'skd_only_s_x_0.5': ([(2, 4, 3), (2, 2, 2)], 1.0),
            'dld_gamma_0.1': ([(3, 4, 4), (1, 2, 2)], 2.0)}


def _record(name, e2e, scale):
    matched, num_gt, num_det = e2e
    return dict(name=name, img_path=f'imgs/test/{name}.jpg', scale=scale, gflops=None,
                gt_texts=['w'] * num_gt, num_gt_dont_care=0, det_texts=['w'] * num_det,
                det_scores=None, matched_texts=['w'] * matched,
                counts={'det': [num_det, num_gt, num_det, 0, 0],
                        'e2e/none': [matched, num_gt, num_det, 0, 0]}, rec=None)


class FakeStages(StageRunner):
    """Writes each stage's outputs as the tools would (or calls its function), recording the
    commands."""

    def __init__(self):
        super().__init__('t', log_fn=lambda m: None, cwd=REPO_ROOT)
        self.commands = {}

    def run(self, name, outputs, cmd=None, fn=None, log_file=None):
        self.commands[name] = cmd
        if outputs and all(osp.exists(o) for o in outputs):
            self.results.append(StageResult(name, 'skipped', 0.0, list(outputs)))
            return self.results[-1]
        if fn is not None:
            fn()
        model = name.split('/')[0]
        counts, gflops = OUTCOMES.get(model, ([(0, 4, 0), (0, 2, 0)], 1.0))
        scales = (0.8, 0.5) if model.startswith('dld') else (None, None)
        for out in outputs:
            os.makedirs(osp.dirname(out), exist_ok=True)
            base = osp.basename(out)
            if base == 'per_image.json':
                write_per_image(out, [_record(n, c, s) for n, c, s in zip(IMAGES, counts, scales)])
            elif base == 'spotting_results.json':
                hits, gt, det = (sum(c[k] for c in counts) for k in range(3))
                metrics = {'e2e/none/hmean': 2 * hits / (gt + det), 'det/hmean': 0.9}
                with open(out, 'w') as f:
                    json.dump(dict(metrics=metrics, num_images=2), f)
            elif base == 'flops.json':
                with open(out, 'w') as f:
                    json.dump(dict(gflops=gflops), f)
            elif base == 'predictions.pkl':
                with open(out, 'wb') as f:
                    pickle.dump([dict(dld_scale=s) for s in scales], f)
            elif base == 'scale_costs.json':
                with open(out, 'w') as f:
                    json.dump(dict(scales=[0.8, 0.7, 0.6, 0.5, 0.4, 0.3],
                                   scale_costs=[0.7, 0.6, 0.5, 0.4, 0.3, 0.2],
                                   scale_gflops=[2.8, 2.4, 2.0, 1.6, 1.2, 0.8],
                                   reference_gflops=4.0, selector_gflops=0.01), f)
            elif base == 'oracle.json':  # scale_oracle.py's, as for a forced DLD student
                records = cmd[cmd.index('--drs') + 1]
                point = dict(gflops=gflops, hmean=0.8)
                with open(out, 'w') as f:
                    json.dump(dict(fixed=[dict(scale=0.8, gflops=2.8, hmean=0.8)],
                                   cheapest_keeping_matches=dict(gflops=2.0, hmean=0.8,
                                                                 choices={'000000': 0.8}),
                                   at_fixed_gflops=[], drs={records: point}), f)
            elif base == 'oracle.md':
                with open(out, 'w') as f:
                    f.write(f'| DRS | GFLOPs |\n| {cmd[cmd.index("--drs") + 1]} | 2.000 |\n')
            else:  # a checkpoint
                open(out, 'wb').close()
        self.results.append(StageResult(name, 'done', 1.0, list(outputs)))
        return self.results[-1]


def test_reproduction_with_fake_stages(tmp_path):
    runner = FakeStages()
    out = tmp_path / 'docs' / 'results.md'
    os.makedirs(out.parent)
    result = run_reproduction('tiny', work_dir=str(tmp_path / 'work'), out_md=str(out),
                              cost_images=1, fps_images=0, vanilla_scales=(1.0, 0.5),
                              variants=['SKD-only (S x 0.5)', 'DLD (gamma 0.1)'],
                              scale_cost_images=3, runner=runner, root=REPO_ROOT, **TINY)
    assert runner.planned[:3] == ['data', 'teacher', 'scale_costs']
    teacher_dir = tmp_path / 'work' / 'teacher'
    costs = str(teacher_dir / 'scale_costs.json')
    cmd = runner.commands['scale_costs']
    assert cmd[1:4] == ['tools/analysis_tools/measure_scale_costs.py',
                        osp.join(REPO_ROOT, TINY['student']), '--checkpoint']
    assert cmd[cmd.index('--num-images') + 1] == '3'
    assert cmd[cmd.index('--scales') + 1:cmd.index('--out')] == ['0.8', '0.7', '0.6', '0.5',
                                                                 '0.4', '0.3']
    # Every student trains and is evaluated with the costs; SKD-only with its one scale.
    for stage in ('dld_gamma_0.1', 'dld_gamma_0.1/test', 'dld_gamma_0.1/flops'):
        assert f'model.scale_costs_file={costs}' in runner.commands[stage]
    skd_costs = teacher_dir / 'scale_costs_0.5.json'
    assert f'model.scale_costs_file={skd_costs}' in runner.commands['skd_only_s_x_0.5']
    assert json.loads(skd_costs.read_text())['scale_gflops'] == [1.6]

    rows = {row['name']: row for row in result['rows']}
    assert rows['DLD (gamma 0.1)']['drs'] and not rows['SKD-only (S x 0.5)']['drs']
    assert rows['Vanilla S-320']['per_image'].endswith(
        osp.join('eval', 'vanilla_S-320', 'metrics', 'per_image.json'))
    text = out.read_text()
    # Two images: the teacher's 5 of 6 words with 6 detections, resampled.
    teacher = rows['Vanilla S-320']
    assert teacher['e2e_none'] == pytest.approx(100 * 5 / 6)
    assert (f'| Vanilla S-320 | 83.3 [{teacher["e2e_none_low"]:.1f}, '
            f'{teacher["e2e_none_high"]:.1f}] |') in text
    assert '* DLD (gamma 0.1) against Vanilla at the same GFLOPs (2.00; per-image counts ' \
        '0.667 x Vanilla S-160 + 0.333 x Vanilla S-320)' in text
    assert '* SKD-only (S x 0.5) against Vanilla S-160 (the same input scale, 0.5)' in text
    assert '| DLD (gamma 0.1) | 2.00 | ' in text
    # The tiny test images are one mixed, one large; DLD read them at 0.8 and 0.5.
    assert '| DLD (gamma 0.1) | mixed | 1 | 0 |' in text
    assert '| DLD (gamma 0.1) | large | 0 | 1 |' in text
    data = json.loads((tmp_path / 'docs' / 'results.json').read_text())
    assert data['regimes']['DLD (gamma 0.1)']['correlation']['images'] == 2
    assert data['oracle']['models']['DLD (gamma 0.1)']['gflops'] == 2.0
    assert (tmp_path / 'docs' / 'results_e2e_vs_gflops.png').read_bytes()[:4] == b'\x89PNG'
    # The DLD (gamma 0.1) student forced to each candidate scale, its DRS run compared.
    assert runner.planned[-1] == 'dld_gamma_0.1/oracle'
    cmd = runner.commands['dld_gamma_0.1/oracle']
    assert cmd[1] == 'tools/analysis_tools/scale_oracle.py' and '--force-dld-scale' in cmd
    assert cmd[cmd.index('--scales') + 1:cmd.index('--work-dir')] == ['0.8', '0.7', '0.6',
                                                                      '0.5', '0.4', '0.3']
    assert cmd[cmd.index('--drs') + 1] == rows['DLD (gamma 0.1)']['per_image']
    assert f'model.scale_costs_file={costs}' in cmd
    assert '## The DLD student against its own scale oracle' in text
    assert '| DLD (gamma 0.1) | 2.000 |' in text
    assert data['student_oracle']['drs'] == dict(gflops=2.0, hmean=0.8)
    assert 'choices' not in data['student_oracle']['cheapest_keeping_matches']


def test_reproduction_without_the_student_oracle(tmp_path):
    runner = FakeStages()
    out = tmp_path / 'docs' / 'results.md'
    os.makedirs(out.parent)
    run_reproduction('tiny', work_dir=str(tmp_path / 'work'), out_md=str(out), cost_images=1,
                     fps_images=0, vanilla_scales=(1.0, 0.5), variants=['DLD (gamma 0.1)'],
                     scale_cost_images=3, runner=runner, root=REPO_ROOT,
                     student_oracle=False, **TINY)
    assert 'dld_gamma_0.1/oracle' not in runner.planned + list(runner.commands)
    assert '## The DLD student against its own scale oracle' not in out.read_text()
    data = json.loads((tmp_path / 'docs' / 'results.json').read_text())
    assert data['student_oracle'] is None


def test_reproduction_of_the_teacher_alone_writes_its_curve_and_oracle(tmp_path):
    runner = FakeStages()
    out = tmp_path / 'docs' / 'results.md'
    os.makedirs(out.parent)
    result = run_reproduction('tiny', work_dir=str(tmp_path / 'work'), out_md=str(out),
                              cost_images=1, fps_images=0, vanilla_scales=(1.0, 0.5),
                              variants=[], scale_cost_images=3, runner=runner,
                              root=REPO_ROOT, **TINY)
    assert runner.planned == ['data', 'teacher', 'scale_costs', 'vanilla_S-320/test',
                              'vanilla_S-320/flops', 'vanilla_S-160/test',
                              'vanilla_S-160/flops']
    assert [row['name'] for row in result['rows']] == ['Vanilla S-320', 'Vanilla S-160']
    text = out.read_text()
    assert '| Vanilla S-160 | 54.5 [' in text  # 3 of 6 words, 5 detections
    data = json.loads((tmp_path / 'docs' / 'results.json').read_text())
    assert data['oracle']['models'] == {}


def test_students_are_tested_with_the_budget_test_options(tmp_path):
    out = tmp_path / 'docs' / 'results.md'
    os.makedirs(out.parent)

    def student_test_command(**kwargs):
        runner = FakeStages()
        run_reproduction('tiny', work_dir=str(tmp_path / 'work'), out_md=str(out),
                         cost_images=1, fps_images=0, vanilla_scales=(1.0, ),
                         variants=['DLD (gamma 0.1)'], scale_cost_images=3, runner=runner,
                         root=REPO_ROOT, student_oracle=False, **TINY, **kwargs)
        return runner.commands['dld_gamma_0.1/test']

    # The default: the Mask R-CNN spotter reports no masks.
    assert 'model.student.test_cfg.rcnn.return_masks=False' in student_test_command()
    for path in (tmp_path / 'work' / 'eval').rglob('*'):  # the test stage runs again
        if path.is_file():
            path.unlink()
    # No `rcnn` override for a spotter without one (the Text Perceptron budget).
    cmd = student_test_command(test_options={})
    assert not [arg for arg in cmd if 'test_cfg.rcnn' in arg]


@pytest.mark.parametrize('name, spotter, title', [
    ('tp_dynamic', 'TextPerceptronSpotter', 'Text Perceptron'),
    ('mango_dynamic', 'MANGOSpotter', 'MANGO')])
def test_the_single_level_budgets_test_without_rcnn_options(load_tool, name, spotter, title):
    tool = load_tool('tools/reproduce.py')
    budget = tool.BUDGETS[name]
    assert budget['test_options'] == {}
    # The data, costs and Vanilla scales of the Mask R-CNN dynamic budget.
    for key in ('cost_images', 'fps_images', 'scale_cost_images', 'vanilla_scales'):
        assert budget[key] == tool.BUDGETS['dynamic'][key], key
    for key in ('teacher', 'student'):
        cfg = Config.fromfile(osp.join(REPO_ROOT, budget[key]))
        model = cfg.model if key == 'teacher' else cfg.model.student
        assert model.type == spotter
        assert 'rcnn' not in (model.get('test_cfg') or {})
        assert cfg.test_dataloader == Config.fromfile(
            osp.join(REPO_ROOT, tool.BUDGETS['dynamic'][key])).test_dataloader
    assert budget_note(name).startswith(f'**{title} on the dynamic-resolution budget**')
