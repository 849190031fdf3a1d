"""FLOPs and FPS tools on a toy model with hand-counted FLOPs."""
import importlib.util
import json
import os.path as osp

import pytest
import torch
from helpers import TOOLS_DIR
from mmdet.structures import DetDataSample
from mmengine.model import BaseModel
from mmengine.structures import InstanceData
from torch import nn
from torch.utils.data import Dataset

from mmdld.evaluation.cost import (benchmark_inference, count_inference_flops,
                                   summarize_flops)
from mmdld.registry import DATASETS, MODELS

ANALYSIS_TOOLS = osp.join(TOOLS_DIR, 'analysis_tools')


class ToyCostSpotter(BaseModel):
    """A selector picks a scale (through Python, like a DRS), then conv + LSTM + linear.

    FLOPs of an H x W image, by hand: selector 1x1 conv 3*H*W; the input is then halved by
    striding (no FLOPs); 3x3 conv 3->4 on (H/2)(W/2) pixels: 27*H*W; LSTM(4->5) over W/2 steps:
    (W/2) * (4*5*4 + 4*5*5) = 90*W; linear 5->1 on W/2 steps: 2.5*W.
    """

    def __init__(self):
        super().__init__(data_preprocessor=dict(type='mmdet.DetDataPreprocessor'))
        self.selector = nn.Conv2d(3, 1, 1, bias=False)
        self.conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.lstm = nn.LSTM(4, 5, batch_first=True)
        self.fc = nn.Linear(5, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        logit = self.selector(inputs).mean()
        stride = [1, 2][int(torch.stack([logit, logit + 1]).argmax().item())]  # always 2
        x = self.conv(inputs[..., ::stride, ::stride])
        seq, _ = self.lstm(x.mean(dim=2).permute(0, 2, 1))
        scores = self.fc(seq).reshape(len(data_samples), -1).sigmoid()
        for sample, score in zip(data_samples, scores):
            sample.pred_instances = InstanceData(scores=score, texts=['a'] * len(score))
            sample.set_metainfo(dict(dld_scale=1 / stride, dld_gflops=2.0))
        return data_samples


class ToyCostDataset(Dataset):
    """Two images, 8 x 8 and 8 x 16."""
    sizes = [(8, 8), (8, 16)]

    def __len__(self):
        return len(self.sizes)

    def __getitem__(self, index):
        height, width = self.sizes[index]
        sample = DetDataSample(metainfo=dict(img_shape=(height, width),
                                             ori_shape=(height, width)))
        return dict(inputs=torch.full((3, height, width), index + 1, dtype=torch.uint8),
                    data_samples=sample)


MODELS.register_module(name='ToyCostSpotter', module=ToyCostSpotter, force=True)
DATASETS.register_module(name='ToyCostDataset', module=ToyCostDataset, force=True)


def hand_flops(height, width):
    return 3 * height * width + 27 * height * width + 90 * width + 2.5 * width


def batch(index):
    item = ToyCostDataset()[index]
    return dict(inputs=[item['inputs']], data_samples=[item['data_samples']])


def test_whole_test_step_is_counted_including_python_side_choices():
    model = ToyCostSpotter().eval()
    result = count_inference_flops(model, batch(0))
    assert result['flops'] == hand_flops(8, 8)
    assert result['input_shape'] == (1, 3, 8, 8)
    assert result['dld_scale'] == [0.5] and result['dld_gflops'] == [2.0]
    summary = summarize_flops([result, count_inference_flops(model, batch(1))], 2)
    assert summary['gflops'] == pytest.approx((hand_flops(8, 8) + hand_flops(8, 16)) / 2 / 1e9)
    assert summary['dld_gflops'] == 2.0 and summary['dld_scale'] == 0.5
    assert summary['input_shapes'] == [(1, 3, 8, 8), (1, 3, 8, 16)]
    # The selector is the DRS part; the rest belongs to no spotter part.
    assert result['parts'] == dict(DRS=3 * 8 * 8, other=hand_flops(8, 8) - 3 * 8 * 8,
                                   RoIAlign=0, total=hand_flops(8, 8))
    assert summary['parts_gflops']['DRS'] == pytest.approx(3 * (64 + 128) / 2 / 1e9)


def test_benchmark_times_images_after_warmup():
    model = ToyCostSpotter().eval()
    result = benchmark_inference(model, [batch(0)] * 4, max_iter=3, num_warmup=1,
                                 log_interval=0)
    assert result['num_images'] == 2 and result['fps'] > 0
    assert result['ms_per_image'] == pytest.approx(1000 / result['fps'])
    with pytest.raises(ValueError, match='no batch left to time after 5 warm-up'):
        benchmark_inference(model, [batch(0)] * 3, num_warmup=5)


def load_tool(name):
    spec = importlib.util.spec_from_file_location(name, osp.join(ANALYSIS_TOOLS, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_command_line_tools_on_a_config(tmp_path):
    config = tmp_path / 'toy_config.py'
    config.write_text(
        "default_scope = 'mmdld'\n"
        "model = dict(type='ToyCostSpotter')\n"
        "test_dataloader = dict(batch_size=2, num_workers=0, dataset=dict(type='ToyCostDataset'),"
        " sampler=dict(type='DefaultSampler', shuffle=False))\n")
    out = tmp_path / 'flops.json'
    result = load_tool('get_flops').main([str(config), '--device', 'cpu', '--out', str(out)])
    assert result['gflops'] == pytest.approx((hand_flops(8, 8) + hand_flops(8, 16)) / 2 / 1e9)
    assert result['num_images'] == 2 and result['dld_scale'] == 0.5
    assert json.loads(out.read_text())['input_shapes'] == [[1, 3, 8, 8], [1, 3, 8, 16]]
    one = load_tool('get_flops').main([str(config), '--device', 'cpu', '--num-images', '1'])
    assert one['gflops'] == pytest.approx(hand_flops(8, 8) / 1e9)
    report = tmp_path / 'spotting_results.json'
    report.write_text(json.dumps({'Det (%)': 80.0}))
    fps = load_tool('benchmark_fps').main([str(config), '--device', 'cpu', '--num-warmup', '1',
                                          '--repeat-num', '2', '--merge-json', str(report)])
    assert fps['num_images'] == 1 and len(fps['fps_list']) == 2 and fps['fps'] > 0
    load_tool('get_flops').main([str(config), '--device', 'cpu', '--merge-json', str(report)])
    merged = json.loads(report.read_text())
    assert merged['Det (%)'] == 80.0 and merged['FPS'] == round(fps['fps'], 2)
    assert merged['FLOPS (G)'] == round(result['gflops'], 3)


class UntraceableToy(ToyCostSpotter):
    """The same computation with a comparison to a Python bool, which JIT tracing rejects."""

    def forward(self, inputs, data_samples=None, mode='tensor'):
        flags = inputs[0, 0, 0] > 0
        assert bool((flags == True).all())  # noqa: E712 (the point of this model)
        return super().forward(inputs, data_samples, mode)


def test_an_untraceable_model_is_an_error_naming_it():
    # Every model of the project traces; a partial count would be silently wrong.
    with pytest.raises(RuntimeError, match=r'JIT tracing of the test step of UntraceableToy '
                       r'failed \(.*\); the counter needs a traceable forward'):
        count_inference_flops(UntraceableToy().eval(), batch(1))


class _OneOffWorkSpotter(ToyCostSpotter):
    """Does extra work on the first image it sees, as a DLD student measures its scale costs."""

    def __init__(self):
        super().__init__()
        self.measure = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.measured = False

    def forward(self, inputs, data_samples=None, mode='tensor'):
        if not self.measured:
            self.measure(inputs)  # 3*8*9 = 216 FLOPs per pixel, once
            self.measured = True
        return super().forward(inputs, data_samples, mode)


def test_warmup_keeps_one_off_work_out_of_the_count():
    counted_cold = count_inference_flops(_OneOffWorkSpotter().eval(), batch(0))['flops']
    assert counted_cold == hand_flops(8, 8) + 216 * 8 * 8
    warmed = count_inference_flops(_OneOffWorkSpotter().eval(), batch(0), warmup=True)
    assert warmed['flops'] == hand_flops(8, 8)
