"""Command lines, Vanilla configs, scale costs and scale histograms of the demo/reproduction
pipeline."""
import json
import os.path as osp
import pickle

import pytest
from mmengine.config import Config

from experiments import pipeline
from experiments.stages import StageRunner
from helpers import CONFIG_DIR

TEACHER = osp.join(CONFIG_DIR, 'demo', 'spotter_r18w32_demo.py')
TINY = osp.join(CONFIG_DIR, 'demo', 'spotter_r18w32_demo_tiny.py')


class Recorder(StageRunner):
    """Records the stages instead of running them."""

    def __init__(self):
        super().__init__('t', log_fn=lambda m: None)
        self.calls = []

    def run(self, name, outputs, cmd=None, fn=None, log_file=None):
        self.calls.append((name, list(outputs), cmd))


def test_cfg_options_round_trip_through_dictaction():
    from mmengine.config import DictAction
    import argparse
    args = pipeline.cfg_options({'a.b': 0.5, 'c': None, 'd': 'x/y.pth', 'e': []})
    assert args[0] == '--cfg-options'
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    parsed = parser.parse_args(args).cfg_options
    assert parsed == {'a.b': 0.5, 'c': None, 'd': 'x/y.pth', 'e': []}
    assert pipeline.cfg_options({}) == []


def test_final_checkpoint_from_max_iters(tmp_path):
    assert pipeline.final_checkpoint('w', TINY) == osp.join('w', 'iter_2.pth')
    epoch_cfg = tmp_path / 'e.py'
    epoch_cfg.write_text("train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=3)\n")
    with pytest.raises(ValueError, match='max_iters'):
        pipeline.final_checkpoint('w', str(epoch_cfg))


def test_train_resumes_when_a_checkpoint_is_there(tmp_path):
    runner = Recorder()
    ckpt = pipeline.train(runner, 'teacher', TINY, str(tmp_path), {'x.y': 1})
    name, outputs, cmd = runner.calls[0]
    assert outputs == [ckpt] and ckpt.endswith('iter_2.pth')
    assert cmd[1:5] == ['tools/train.py', TINY, '--work-dir', str(tmp_path)]
    assert '--resume' not in cmd and cmd[-2:] == ['--cfg-options', 'x.y=1']
    (tmp_path / 'last_checkpoint').write_text('iter_1.pth')
    pipeline.train(runner, 'teacher', TINY, str(tmp_path))
    assert runner.calls[1][2][-1] == '--resume'


def test_evaluate_declares_outputs_and_skips_fps_at_zero(tmp_path):
    runner = Recorder()
    paths = pipeline.evaluate(runner, 'm', 'c.py', 'k.pth', str(tmp_path), {'o': 1},
                              cost_images=3, fps_images=0, dump_predictions=True,
                              test_options={'t': 2})
    assert [c[0] for c in runner.calls] == ['m/test', 'm/flops']
    assert paths['fps'] is None
    test_cmd = runner.calls[0][2]
    assert '--out' in test_cmd and paths['predictions'] in test_cmd
    assert f'test_evaluator.outfile_dir={tmp_path}/metrics' in test_cmd and 'o=1' in test_cmd
    # The metric writes its per-image records beside its results: both mark the test done.
    assert paths['per_image'] == str(tmp_path / 'metrics' / 'per_image.json')
    assert runner.calls[0][1] == [paths['metrics'], paths['per_image'], paths['predictions']]
    assert 't=2' in test_cmd
    flops_cmd = runner.calls[1][2]
    assert flops_cmd[flops_cmd.index('--num-images') + 1] == '3'
    # Test-only overrides stay out of the cost measurements.
    assert 'o=1' in flops_cmd and 't=2' not in flops_cmd
    runner = Recorder()
    paths = pipeline.evaluate(runner, 'm', 'c.py', 'k.pth', str(tmp_path), fps_images=5)
    fps_cmd = runner.calls[2][2]
    assert fps_cmd[fps_cmd.index('--max-iter') + 1] == '5'
    assert fps_cmd[fps_cmd.index('--num-warmup') + 1] == '2'


def test_scaled_test_config_halves_the_test_resize_only(tmp_path):
    out = pipeline.scaled_test_config(TEACHER, 0.5, str(tmp_path / 'v.py'))
    cfg, orig = Config.fromfile(out), Config.fromfile(TEACHER)
    resize = [t for t in cfg.test_dataloader.dataset.pipeline if t['type'] == 'mmocr.Resize']
    assert [tuple(t['scale']) for t in resize] == [(640, 160)]
    # Training data and the model are unchanged.
    assert cfg.train_dataloader == orig.train_dataloader
    assert cfg.model == orig.model


def test_scaled_test_config_errors(tmp_path):
    with pytest.raises(ValueError, match=r'scale must be in \(0, 1\]'):
        pipeline.scaled_test_config(TEACHER, 1.5, str(tmp_path / 'v.py'))
    no_resize = tmp_path / 'n.py'
    no_resize.write_text("test_dataloader = dict(dataset=dict(pipeline=[dict(type='X')]))\n")
    with pytest.raises(ValueError, match='no Resize'):
        pipeline.scaled_test_config(str(no_resize), 0.5, str(tmp_path / 'v.py'))


def test_scale_histogram(tmp_path):
    dump = tmp_path / 'p.pkl'
    with open(dump, 'wb') as f:
        pickle.dump([{'dld_scale': 0.5}, {'dld_scale': 0.8}, {'dld_scale': 0.5000001}], f)
    assert pipeline.scale_histogram(str(dump)) == {0.8: 1, 0.5: 2}
    with open(dump, 'wb') as f:
        pickle.dump([{'dld_scale': 0.5}, {'img_path': 'a.jpg'}], f)
    with pytest.raises(KeyError, match=r'p.pkl: prediction 1 has no `dld_scale`'):
        pipeline.scale_histogram(str(dump))


def test_measure_scale_costs_stage(tmp_path):
    runner = Recorder()
    out = str(tmp_path / 'teacher' / 'scale_costs.json')
    assert pipeline.measure_scale_costs(runner, 's.py', 't.pth', out, 50, [0.8, 0.5]) == out
    name, outputs, cmd = runner.calls[0]
    assert name == 'scale_costs' and outputs == [out]
    assert cmd[1:] == ['tools/analysis_tools/measure_scale_costs.py', 's.py', '--checkpoint',
                       't.pth', '--num-images', '50', '--split', 'test', '--scales', '0.8',
                       '0.5', '--out', out]
    with pytest.raises(ValueError, match='--num-images must be >= 1, got 0'):
        pipeline.measure_scale_costs(runner, 's.py', 't.pth', out, 0, [0.8])


def test_fixed_scale_costs_file_keeps_one_scale(tmp_path):
    full = tmp_path / 'scale_costs.json'
    full.write_text(json.dumps(dict(scales=[0.8, 0.5, 0.3], scale_costs=[0.7, 0.4, 0.2],
                                    scale_gflops=[2.1, 1.2, 0.6], reference_gflops=3.0,
                                    selector_gflops=0.01, selector_share=0.0033)))
    out = tmp_path / 'scale_costs_0.5.json'
    assert pipeline.fixed_scale_costs_file(str(full), 0.5, str(out)) == str(out)
    data = json.loads(out.read_text())
    assert (data['scales'], data['scale_costs'], data['scale_gflops']) == ([0.5], [0.4], [1.2])
    assert data['reference_gflops'] == 3.0 and data['derived_from'] == str(full)
    # A fixed-scale model has no DRS to pay for.
    assert 'selector_gflops' not in data and 'selector_share' not in data
    # A scale that was not measured: no file, the model measures its own.
    assert pipeline.fixed_scale_costs_file(str(full), 0.6, str(tmp_path / 'x.json')) is None
    assert not (tmp_path / 'x.json').exists()
