"""``measure_scale_latency.py`` (latency per scale) and ``calibrate_drs_budget.py`` (the DRS
offset for a budget, written into a config)."""
import json
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from helpers import CONFIG_DIR
from mmdet.models.data_preprocessors import DetDataPreprocessor
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.runner import Runner

from mmdld.apis import init_spotter
from mmdld.apis.inference import drs_logits
from mmdld.models.distillers.scale_costs import load_costs_file
from mmdld.registry import MODELS

LATENCY_TOOL = 'tools/analysis_tools/measure_scale_latency.py'
CALIBRATION_TOOL = 'tools/analysis_tools/calibrate_drs_budget.py'
DEMO_DLD = osp.join(CONFIG_DIR, 'demo', 'dld_r18w32_demo_tiny.py')
DEMO_TEACHER = osp.join(CONFIG_DIR, 'demo', 'spotter_r18w32_demo_tiny.py')
SCALES = (0.8, 0.7, 0.6, 0.5, 0.4, 0.3)
T = [s * s for s in SCALES]
#: The tiny demo DLD with random weights: the teacher by its absolute path (the tests run in
#: a temporary folder), few detections, given costs (nothing traced).
DEMO_CFG = {
    'model.teacher': DEMO_TEACHER,
    'model.student.test_cfg.rcnn.max_per_img': 5,
    'model.scale_costs': T,
    'model.scale_gflops': list(SCALES),
    'model.selector_gflops': 0.05,
}
#: The same as --cfg-options.
DEMO_OPTIONS = [
    f'{k}={v}' if isinstance(v, (str, int, float)) else f'{k}=[{",".join(map(str, v))}]'
    for k, v in DEMO_CFG.items()
]


class _FakeClock:
    """``time.perf_counter`` that only the model advances."""

    def __init__(self):
        self.now = 0.

    def __call__(self):
        return self.now


@MODELS.register_module(name='ClockedSpotterForLatency', force=True)
class ClockedSpotter(BaseModel):
    """Its predict 'takes' 1 us per input pixel, 10 ms more on its first call and 5 ms more
    on its seventh."""

    def __init__(self, clock=None):
        super().__init__(data_preprocessor=DetDataPreprocessor(mean=[0.] * 3, std=[1.] * 3))
        self.clock = clock
        self.calls = 0
        self.shapes = []

    def forward(self, inputs, data_samples=None, mode='tensor'):
        assert mode == 'predict'
        self.calls += 1
        self.shapes.append(tuple(inputs.shape[2:]))
        extra = {1: 10e-3, 7: 5e-3}.get(self.calls, 0.)
        self.clock.now += inputs.shape[2] * inputs.shape[3] * 1e-6 + extra
        return data_samples


def _preprocessed(model, h, w):
    sample = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w),
                                         scale_factor=(1., 1.)))
    return model.data_preprocessor(
        dict(inputs=[torch.zeros(3, h, w, dtype=torch.uint8)], data_samples=[sample]), False)


def test_latency_is_the_median_of_the_repeats_per_image_and_scale(load_tool, monkeypatch):
    tool = load_tool(LATENCY_TOOL)
    clock = _FakeClock()
    monkeypatch.setattr(tool, 'time', SimpleNamespace(perf_counter=clock))
    model = ClockedSpotter(clock)
    data = [_preprocessed(model, 40, 60), _preprocessed(model, 20, 20)]
    ms = tool.time_scales(model, data, [1.0, 0.5], warmup=1, repeat=3)
    # 1 us per pixel: 2.4 ms and 0.6 ms for the first image, 0.4 and 0.1 for the second. The
    # first call (warm-up) and the seventh (the second image at 1.0 in the first timed pass)
    # are slower; neither shows.
    assert ms == [pytest.approx([2.4, 0.4]), pytest.approx([0.6, 0.1])]
    # Every image at every scale in turn, the half scale resized (no resize at 1.0).
    assert model.shapes[:4] == [(40, 60), (20, 30), (20, 20), (10, 10)]
    assert model.calls == 4 * 4


def test_latency_tool_helpers_and_errors(load_tool, tmp_path):
    tool = load_tool(LATENCY_TOOL)
    table = tool.format_table([1.0, 0.5], [20., 8.], [4., 1.])
    assert table.splitlines()[2].split() == ['0.50', '8.00', '0.4000', '1.000', '0.2500']
    assert tool.default_scales(Config(dict(model=dict(selector=dict(scales=(0.6, 0.3)))))) == [
        0.6, 0.3]
    assert tool.default_scales(Config(dict(model=dict(type='X')))) == list(SCALES)
    # 0.6 took longer than 0.8 and 0.7: flagged (the table then measured noise).
    assert tool.slower_smaller_scales([1.0, 0.8, 0.7, 0.6], [10., 6., 5., 7.]) == [
        (0.6, 0.8), (0.6, 0.7)]
    assert tool.slower_smaller_scales([1.0, 0.5], [10., 4.]) == []
    path = tmp_path / 'costs.json'
    path.write_text(json.dumps(dict(scales=[0.5], scale_gflops=[1.0])))
    with pytest.raises(KeyError, match=f'--flops-file {path} has no `reference_gflops`'):
        tool.flops_from_file(str(path), [0.5])
    path.write_text(json.dumps(dict(scales=[0.5], scale_gflops=[1.0], reference_gflops=4.)))
    with pytest.raises(ValueError, match=r'measured at the scales \[0.5\], these are \[0.4\]'):
        tool.flops_from_file(str(path), [0.4])
    assert tool.flops_from_file(str(path), [0.5])['reference_gflops'] == 4.
    with pytest.raises(ValueError, match='--repeat must be >= 1'):
        tool.main([DEMO_DLD, '--repeat', '0'])


def test_latency_table_of_the_tiny_demo_model(load_tool, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the synthetic data are generated here
    flops = tmp_path / 'scale_costs.json'
    gflops = [0.9 * s * s + 0.1 for s in SCALES]
    flops.write_text(json.dumps(dict(scales=list(SCALES), scale_gflops=gflops,
                                     reference_gflops=1.0, selector_gflops=0.01)))
    out = tmp_path / 'latency.json'
    tool = load_tool(LATENCY_TOOL)
    result = tool.main([
        DEMO_DLD, '--num-images', '2', '--warmup', '0', '--repeat', '1', '--threads', '1',
        '--flops-file', str(flops), '--out', str(out), '--cfg-options', *DEMO_OPTIONS[:2]])
    written = json.loads(out.read_text())
    assert written == json.loads(json.dumps(result))
    assert written['scales'] == list(SCALES) and written['num_images'] == 2
    assert written['images'] == 'test' and written['cost'] == 'latency'
    assert all(ms > 0 for ms in written['scale_ms']) and written['reference_ms'] > 0
    assert written['scale_costs'] == pytest.approx(
        [ms / written['reference_ms'] for ms in written['scale_ms']])
    assert written['selector_ms'] > 0 and written['threads'] == 1
    assert written['monotone'] == (not tool.slower_smaller_scales(
        [1.0, *SCALES], [written['reference_ms'], *written['scale_ms']]))
    assert [len(v) for v in written['per_image_ms'].values()] == [2] * 7
    assert written['flops_costs'] == pytest.approx(gflops)
    assert written['gflops_source'] == str(flops)
    # A DLD config reads it as its cost file: T_i become the relative latencies.
    costs = load_costs_file(str(out), SCALES)
    assert costs['scale_costs'] == written['scale_costs'] and costs['scale_gflops'] == gflops
    printed = capsys.readouterr().out
    assert 'rel. time' in printed and 'rel. FLOPs' in printed and 'DRS:' in printed


# ----------------------------------------------------------------------------- calibration
def test_calibration_tool_errors(load_tool, tmp_path):
    tool = load_tool(CALIBRATION_TOOL)
    assert tool.nest_options({'model.a.b': 1, 'model.c': [2], 'x': None}) == {
        'model': {'a': {'b': 1}, 'c': [2]}, 'x': None}
    with pytest.raises(ValueError, match="key 'model.heads.0.x' indexes a list"):
        tool.nest_options({'model.heads.0.x': 1})
    with pytest.raises(ValueError, match='--unit ms needs --latency-file'):
        tool.main([DEMO_DLD, 'x.pth', '--budget', '10', '--unit', 'ms'])
    with pytest.raises(FileNotFoundError, match='checkpoint .*missing.pth does not exist'):
        tool.main([DEMO_DLD, str(tmp_path / 'missing.pth'), '--budget', '0.5'])
    cfg = tmp_path / 'spotter.py'
    cfg.write_text("default_scope = 'mmdld'\nmodel = dict(type='ClockedSpotterForLatency')\n")
    ckpt = tmp_path / 'spotter.pth'
    torch.save(dict(state_dict={}, meta={}), ckpt)
    with pytest.raises(ValueError, match=f'{cfg} is no DLD model with a DRS'):
        tool.main([str(cfg), str(ckpt), '--budget', '0.5'])
    assert tool.default_out('configs/demo/dld.py', '/w/iter_1.pth', 0.5, 'relative') == \
        '/w/dld_budget0.5.py'
    assert tool.default_out('dld.py', '/w/iter_1.pth', 20, 'ms') == '/w/dld_budget20ms.py'


@pytest.mark.slow
def test_calibration_tool_writes_a_config_that_meets_the_budget(load_tool, tmp_path,
                                                               monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the synthetic data are generated here
    torch.manual_seed(0)
    model = init_spotter(DEMO_DLD, cfg_options=DEMO_CFG)
    with torch.no_grad():
        model.selector.fc.weight.mul_(300)  # images that differ in their choice
    ckpt = tmp_path / 'dld.pth'
    torch.save(dict(state_dict=model.state_dict(), meta={}), ckpt)
    out = tmp_path / 'deploy' / 'dld_budget.py'
    record = load_tool(CALIBRATION_TOOL).main([
        DEMO_DLD, str(ckpt), '--budget', '0.13', '--num-images', '2', '--out', str(out),
        '--cfg-options', *DEMO_OPTIONS])
    assert record['num_images'] == 2 and record['split'] == 'test'
    # The random DRS takes 0.4 (T = 0.16) for both images: one of them must move to 0.3.
    assert record['unbudgeted_cost'] == pytest.approx(0.16) and record['offset'] > 0
    assert record['mean_cost'] == pytest.approx((0.16 + 0.09) / 2)
    assert record['mean_costs']['relative'] == pytest.approx(record['mean_cost'])
    assert record['mean_costs']['gflops'] == pytest.approx((0.4 + 0.3) / 2 + 0.05)
    assert sum(record['images_per_scale'].values()) == 2
    printed = capsys.readouterr().out
    assert 'images per scale' in printed and f'written to {out}' in printed
    # The written config inherits the given one and sets the offset; deployed with the same
    # checkpoint its DRS meets the budget on the same images.
    cfg = Config.fromfile(str(out))
    assert cfg.model.selector.cost_offset == record['offset']
    assert cfg.model.selector.offset_costs == pytest.approx(T)
    assert cfg.model.student.type == 'MaskRCNNSpotter' and cfg.drs_budget['budget'] == 0.13
    # The calibration's --cfg-options (the teacher's path, the costs) are in it too.
    assert cfg.model.teacher == DEMO_TEACHER and cfg.model.scale_costs == pytest.approx(T)
    deployed = init_spotter(str(out), str(ckpt))
    loader = Runner.build_dataloader(
        dict(cfg.test_dataloader, batch_size=1, num_workers=0, persistent_workers=False))
    logits = drs_logits(deployed, list(loader))
    chosen = deployed.selector.select(logits).tolist()
    assert sum(T[i] for i in chosen) / 2 == pytest.approx(record['mean_cost'])
    assert {f'{SCALES[i]:g}' for i in chosen} == {
        k for k, v in record['images_per_scale'].items() if v}
