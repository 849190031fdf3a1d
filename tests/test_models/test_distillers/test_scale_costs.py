import importlib.util
import json
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from helpers import TOOLS_DIR
from mmdet.models.data_preprocessors import DetDataPreprocessor
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import BitmapMasks, PolygonMasks
from mmengine.model import BaseModel
from mmengine.structures import InstanceData
from torch.utils.data import Dataset

from mmdld.models.distillers import ScaleCostTable
from mmdld.models.distillers.scale_costs import in_input_frame, selector_gflops
from mmdld.models.utils import (count_forward_flops, measure_scale_flops, normalise_costs,
                                resize_batch)
from mmdld.registry import DATASETS, MODELS

TOOL = osp.join(TOOLS_DIR, 'analysis_tools', 'measure_scale_costs.py')
FLOPS_PER_PIXEL = 8 * 3 * 9 + 4 * 8 * 9  # conv 3->8 and conv 8->4, 3x3, "same" padding


@MODELS.register_module(name='TinyConvSpotterForCosts', force=True)
class TinyConvSpotter(BaseModel):
    """A detector-like conv net whose FLOPs grow exactly with the pixel count."""

    def __init__(self, pad_size_divisor: int = 1):
        super().__init__(data_preprocessor=DetDataPreprocessor(
            mean=[0., 0., 0.], std=[1., 1., 1.], pad_size_divisor=pad_size_divisor))
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 4, 3, padding=1)
        self.seen_shapes = []

    def _forward(self, inputs, data_samples=None):
        self.seen_shapes.append([tuple(s.img_shape) for s in data_samples])
        return dict(feat=self.conv2(F.relu(self.conv1(inputs))))

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return self._forward(inputs, data_samples)


@DATASETS.register_module(name='TinyImagesForCosts', force=True)
class TinyImages(Dataset):
    """Three blank images of different sizes, as a pipeline would pack them."""
    shapes = [(64, 64), (32, 48), (48, 32)]

    def __len__(self):
        return len(self.shapes)

    def __getitem__(self, idx):
        h, w = self.shapes[idx]
        sample = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w),
                                             scale_factor=(1., 1.)))
        return dict(inputs=torch.full((3, h, w), 100, dtype=torch.uint8), data_samples=sample)


def _batch(*shapes):
    return dict(
        inputs=[torch.randint(0, 255, (3, h, w), dtype=torch.uint8) for h, w in shapes],
        data_samples=[
            DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w),
                                        scale_factor=(1., 1.))) for h, w in shapes
        ])


def _load_tool():
    spec = importlib.util.spec_from_file_location('measure_scale_costs', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_count_forward_flops_matches_hand_count():
    model = TinyConvSpotter()
    samples = [DetDataSample(metainfo=dict(img_shape=(64, 64)))]
    flops = count_forward_flops(model, torch.zeros(1, 3, 64, 64), samples)
    assert flops == 64 * 64 * FLOPS_PER_PIXEL


def _relative_costs(model, batches, scales):
    flops = measure_scale_flops(model, batches, [1.0, *scales])
    return normalise_costs(flops[1:], flops[0])


def test_costs_of_a_conv_net_scale_as_s_squared():
    model = TinyConvSpotter()
    scales = [0.75, 0.5, 0.25]
    costs = _relative_costs(model, [_batch((64, 64))], scales)
    assert costs == pytest.approx([s**2 for s in scales], rel=1e-9)
    # The model ran on the resized images with matching metainfo: 1.0 first, then the scales.
    assert model.seen_shapes[-4:] == [[(64, 64)], [(48, 48)], [(32, 32)], [(16, 16)]]
    assert model.training  # training mode is restored


def test_flops_are_averaged_per_image():
    model = TinyConvSpotter()
    flops = measure_scale_flops(model, [_batch((64, 64)), _batch((32, 48))], [1.0, 0.5])
    full = (64 * 64 + 32 * 48) * FLOPS_PER_PIXEL / 2
    assert flops == pytest.approx([full, full / 4])
    # A two-image batch counts as two images.
    flops2 = measure_scale_flops(model, [_batch((64, 64), (32, 48))], [1.0])
    assert flops2[0] == pytest.approx(64 * 64 * FLOPS_PER_PIXEL)  # 2 images padded to 64x64


def test_padding_is_part_of_the_measured_cost():
    # 64 * 0.75 = 48 is padded back to 64 by a size divisor of 32: no saving at that scale.
    model = TinyConvSpotter(pad_size_divisor=32)
    costs = _relative_costs(model, [_batch((64, 64))], [0.75, 0.5])
    assert costs == pytest.approx([1.0, 0.25])


def test_cost_table_keeps_given_values_and_measures_the_missing_ones_once():
    student, teacher = TinyConvSpotter(), TinyConvSpotter()
    given = ScaleCostTable((0.5, 0.25), relative=[0.3, 0.1], gflops=[2., 1.],
                           selector_gflops=0.5)
    assert given.ready and given.gflops_at(1) == pytest.approx(1.5)
    # Ready: nothing is measured (the models are not even called).
    assert not given.ensure(None, None, None, torch.zeros(1, 3, 8, 8), [], 1, 0.)
    with pytest.raises(ValueError, match='`model.scale_gflops` needs one value per'):
        ScaleCostTable((0.5, 0.25), gflops=[1.])

    table = ScaleCostTable((0.5, 0.25), gflops=[9., 8.], selector_gflops=None,
                           with_selector=False)
    assert table.ready and table.selector_gflops == 0. and table.relative is None
    table = ScaleCostTable((0.5, 0.25), gflops=[9., 8.])
    assert not table.ready
    data = student.data_preprocessor(_batch((64, 64)), False)
    samples = data['data_samples']
    assert table.ensure(student, teacher, None, data['inputs'], samples, 1, 0.)
    assert table.ready and table.relative == pytest.approx([0.25, 0.0625])
    assert table.gflops == [9., 8.] and table.selector_gflops == 0.
    assert not table.ensure(student, teacher, None, data['inputs'], samples, 1, 0.)


def test_measure_requires_images():
    with pytest.raises(ValueError, match='yielded no images'):
        measure_scale_flops(TinyConvSpotter(), [], [1.0])


def test_cli_prints_config_line_from_blank_image(tmp_path, capsys):
    cfg = tmp_path / 'tiny.py'
    cfg.write_text("default_scope = 'mmdld'\nmodel = dict(type='TinyConvSpotterForCosts')\n")
    costs = _load_tool().main([str(cfg), '--scales', '0.5', '0.25', '--shape', '64', '64'])
    assert costs == pytest.approx([0.25, 0.0625])
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1] == 'scale_costs=[0.2500, 0.0625]'
    assert f'{64 * 64 * FLOPS_PER_PIXEL / 1e9:10.3f}' in out
    gflops = [64 * 64 * FLOPS_PER_PIXEL * s**2 / 1e9 for s in (0.5, 0.25)]
    assert f'scale_gflops=[{gflops[0]:.4f}, {gflops[1]:.4f}]' in out


def test_cli_measures_dataset_images_of_the_student(tmp_path, capsys):
    cfg = tmp_path / 'dld.py'
    cfg.write_text(
        "default_scope = 'mmdld'\n"
        "model = dict(type='SomeDistiller', student=dict(type='TinyConvSpotterForCosts'))\n"
        "test_dataloader = dict(batch_size=4, num_workers=2,\n"
        "    dataset=dict(type='TinyImagesForCosts'),\n"
        "    sampler=dict(type='DefaultSampler', shuffle=False))\n")
    costs = _load_tool().main([str(cfg), '--scales', '0.5', '--num-images', '2'])
    assert costs == pytest.approx([0.25])
    assert 'scale_costs=[0.2500]' in capsys.readouterr().out
    with pytest.raises(KeyError, match='no key `model.teacher`'):
        _load_tool().main([str(cfg), '--model-key', 'model.teacher', '--shape', '8', '8'])
    with pytest.raises(KeyError, match='no `val_dataloader`'):
        _load_tool().main([str(cfg), '--split', 'val'])


@DATASETS.register_module(name='OtherImagesForCosts', force=True)
class OtherImages(TinyImages):
    """A split of other images (one 16 x 16)."""
    shapes = [(16, 16)]


def test_cli_averages_held_out_images_and_writes_the_cost_file(tmp_path, capsys):
    cfg = tmp_path / 'dld.py'
    cfg.write_text(
        "default_scope = 'mmdld'\n"
        "model = dict(type='SomeDistiller', student=dict(type='TinyConvSpotterForCosts'),\n"
        "    selector=dict(type='DynamicResolutionSelector', scales=(0.5, 0.25),\n"
        "                  input_size=(8, 8)))\n"
        "val_dataloader = dict(batch_size=2, num_workers=0,\n"
        "    dataset=dict(type='TinyImagesForCosts'),\n"
        "    sampler=dict(type='DefaultSampler', shuffle=False))\n"
        "test_dataloader = dict(val_dataloader, dataset=dict(type='OtherImagesForCosts'))\n")
    tool = _load_tool()
    assert tool.parse_args([str(cfg)]).num_images == 50
    student = TinyConvSpotter()
    checkpoint = tmp_path / 'iter_1.pth'
    # A DLD checkpoint: the student's weights under `student.`.
    torch.save(dict(state_dict={f'student.{k}': v for k, v in student.state_dict().items()}),
               checkpoint)
    costs = tool.main([str(cfg), '--scales', '0.5', '0.25', '--checkpoint', str(checkpoint)])
    out = json.loads((tmp_path / 'scale_costs.json').read_text())  # beside the checkpoint
    # The validation split (three images of different sizes), each image's cost averaged.
    pixels = [h * w for h, w in TinyImages.shapes]
    reference = sum(pixels) / 3 * FLOPS_PER_PIXEL / 1e9
    assert out['num_images'] == 3 and out['images'] == 'val'
    assert out['reference_gflops'] == pytest.approx(reference)
    assert out['scales'] == [0.5, 0.25] and out['scale_costs'] == pytest.approx(costs)
    halves = [(h // 2) * (w // 2) for h, w in TinyImages.shapes]
    assert out['scale_gflops'][0] == pytest.approx(sum(halves) / 3 * FLOPS_PER_PIXEL / 1e9)
    assert out['config'] == str(cfg) and out['checkpoint'] == str(checkpoint)
    assert out['parts_gflops']['total'] == pytest.approx(reference)
    # The DRS on the same images, and its share of the full-resolution step.
    drs = MODELS.build(dict(type='DynamicResolutionSelector', scales=(0.5, 0.25),
                            input_size=(8, 8))).eval()
    expected = [selector_gflops(drs, torch.zeros(1, 3, h, w)) for h, w in TinyImages.shapes]
    assert out['selector_gflops'] == pytest.approx(sum(expected) / 3)
    assert out['selector_share'] == pytest.approx(out['selector_gflops'] / reference)
    assert 'DRS:' in capsys.readouterr().out
    # --split test reads the other images.
    other = tmp_path / 'other.json'
    tool.main([str(cfg), '--scales', '0.5', '0.25', '--split', 'test', '--out', str(other)])
    assert json.loads(other.read_text())['reference_gflops'] == pytest.approx(
        16 * 16 * FLOPS_PER_PIXEL / 1e9)


def _costs_file(tmp_path, **changes):
    data = dict(scales=[0.5, 0.25], scale_costs=[0.3, 0.1], scale_gflops=[3., 1.],
                reference_gflops=10., num_images=50, config='c.py', checkpoint=None,
                selector_gflops=0.05)
    data.update(changes)
    data = {k: v for k, v in data.items() if v is not ...}
    path = tmp_path / 'scale_costs.json'
    path.write_text(json.dumps(data))
    return str(path)


def test_cost_table_reads_a_cost_file_and_the_config_wins(tmp_path):
    path = _costs_file(tmp_path)
    table = ScaleCostTable((0.5, 0.25), costs_file=path)
    assert table.ready and table.relative == [0.3, 0.1] and table.gflops == [3., 1.]
    assert table.selector_gflops == 0.05
    assert table.stored_scale_costs.tolist() == [0.3, 0.1]
    # Values of the file count as given: a checkpoint does not replace them.
    assert table.given == {'relative', 'gflops', 'selector_gflops'}
    table = ScaleCostTable((0.5, 0.25), relative=[0.5, 0.2], costs_file=path)
    assert table.relative == [0.5, 0.2] and table.gflops == [3., 1.]
    # A file without the DRS leaves its cost to the measurement.
    no_drs = _costs_file(tmp_path, selector_gflops=...)
    assert ScaleCostTable((0.5, 0.25), costs_file=no_drs).selector_gflops is None


def test_cost_file_errors_name_the_file_and_the_key(tmp_path):
    missing = str(tmp_path / 'nowhere.json')
    with pytest.raises(FileNotFoundError, match=f'`model.scale_costs_file` {missing} does not'):
        ScaleCostTable((0.5, 0.25), costs_file=missing)
    path = _costs_file(tmp_path, scale_gflops=...)
    with pytest.raises(KeyError, match=f'{path} has no `scale_gflops`'):
        ScaleCostTable((0.5, 0.25), costs_file=path)
    path = _costs_file(tmp_path)
    with pytest.raises(ValueError, match=r'measured at the scales \[0.5, 0.25\], the model\'s '
                       r'are \[0.5, 0.3\]'):
        ScaleCostTable((0.5, 0.3), costs_file=path)
    (tmp_path / 'bad.json').write_text('{scales')
    with pytest.raises(ValueError, match='bad.json is not JSON'):
        ScaleCostTable((0.5, 0.25), costs_file=str(tmp_path / 'bad.json'))


# ---------------------------------------------------------------- resize_batch


def _annotated_sample(h, w, pad_shape=None):
    sample = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(2 * h, 2 * w),
                                         scale_factor=(0.5, 0.5), pad_shape=pad_shape))
    bitmap = np.zeros((1, *(pad_shape or (h, w))), dtype=np.uint8)
    bitmap[0, :4, :8] = 1
    sample.gt_instances = InstanceData(
        bboxes=HorizontalBoxes(torch.tensor([[0., 0., 8., 4.]])),
        labels=torch.tensor([0]),
        masks=BitmapMasks(bitmap, *(pad_shape or (h, w))),
        polygons=[np.array([0, 0, 8, 0, 8, 4, 0, 4], dtype=np.float32)],
        texts=['ab'])
    sample.ignored_instances = InstanceData(
        bboxes=torch.tensor([[2., 2., 6., 6.]]),
        masks=PolygonMasks([[np.array([2., 2., 6., 2., 6., 6.])]], h, w))
    return sample


def test_resize_batch_images_metainfo_and_annotations():
    inputs = torch.randn(2, 3, 32, 40)
    inputs[1, :, 16:, :] = 9.  # padding of the second image
    inputs[1, :, :, 20:] = 9.
    samples = [_annotated_sample(32, 40), _annotated_sample(16, 20, pad_shape=(32, 40))]
    out, new = resize_batch(inputs, samples, [0.5, 0.8], size_divisor=8, pad_value=-1.)

    # 32x40 * 0.5 = 16x20; 16x20 * 0.8 = 13x16; batch padded to a multiple of 8.
    assert out.shape == (2, 3, 16, 24)
    torch.testing.assert_close(
        out[0, :, :16, :20],
        F.interpolate(inputs[:1], size=(16, 20), mode='bilinear', align_corners=False)[0])
    torch.testing.assert_close(
        out[1, :, :13, :16],
        F.interpolate(inputs[1:, :, :16, :20], size=(13, 16), mode='bilinear',
                      align_corners=False)[0])
    assert (out[0, :, :, 20:] == -1).all() and (out[1, :, 13:, :] == -1).all()

    assert new[0].img_shape == (16, 20) and new[1].img_shape == (13, 16)
    assert new[0].scale_factor == pytest.approx((0.25, 0.25))
    assert new[1].scale_factor == pytest.approx((0.5 * 16 / 20, 0.5 * 13 / 16))
    assert new[0].pad_shape == (16, 24) and new[1].pad_shape == (16, 16)
    assert new[0].batch_input_shape == (16, 24) and new[0].ori_shape == (64, 80)

    gt = new[0].gt_instances
    torch.testing.assert_close(gt.bboxes.tensor, torch.tensor([[0., 0., 4., 2.]]))
    np.testing.assert_allclose(gt.polygons[0], [0, 0, 4, 0, 4, 2, 0, 2])
    assert gt.masks.masks.shape == (1, 16, 20) and gt.masks.masks.sum() == 2 * 4
    assert gt.texts == ['ab'] and gt.labels.tolist() == [0]
    ign = new[0].ignored_instances
    torch.testing.assert_close(ign.bboxes, torch.tensor([[1., 1., 3., 3.]]))
    np.testing.assert_allclose(ign.masks.masks[0][0], [1, 1, 3, 1, 3, 3])
    assert (ign.masks.height, ign.masks.width) == (16, 20)
    # Padded bitmap masks: valid part resized, then padded like the image.
    assert new[1].gt_instances.masks.masks.shape == (1, 16, 16)

    # The originals are untouched.
    assert samples[0].img_shape == (32, 40)
    torch.testing.assert_close(samples[0].gt_instances.bboxes.tensor,
                               torch.tensor([[0., 0., 8., 4.]]))
    np.testing.assert_allclose(samples[0].gt_instances.polygons[0], [0, 0, 8, 0, 8, 4, 0, 4])


def test_resize_batch_keeps_test_annotations_and_reports_errors():
    inputs = torch.randn(1, 3, 32, 40)
    samples = [_annotated_sample(32, 40)]
    _, new = resize_batch(inputs, samples, 0.5, rescale_gt=False)
    assert new[0].gt_instances is samples[0].gt_instances
    out, none = resize_batch(inputs, None, 1.0)
    assert torch.equal(out, inputs) and none is None
    with pytest.raises(ValueError, match='got 2 scales for 1 images'):
        resize_batch(inputs, samples, [0.5, 0.5])
    with pytest.raises(ValueError, match='scales must be > 0'):
        resize_batch(inputs, samples, 0.0)
    with pytest.raises(KeyError, match='data sample 0 has no `img_shape`'):
        resize_batch(inputs, [DetDataSample()], 0.5)
    samples[0].gt_instances.masks = torch.zeros(1, 32, 40, dtype=torch.bool)
    with pytest.raises(TypeError, match='cannot rescale masks of type Tensor'):
        resize_batch(inputs, samples, 0.5)


def test_costs_count_in_the_input_frame_of_a_cropped_training_batch():
    # A random crop of a resized image: mapped back through these, boxes of the crop would
    # leave the 100 x 80 original and the test step's mask paste would fail.
    sample = DetDataSample(metainfo=dict(img_shape=(64, 48), ori_shape=(100, 80),
                                         scale_factor=(2.0, 2.0), img_path='a.jpg'))
    (copy, ) = in_input_frame([sample])
    assert copy.metainfo['ori_shape'] == (64, 48)
    assert copy.metainfo['scale_factor'] == (1.0, 1.0)
    assert copy.metainfo['img_path'] == 'a.jpg'
    assert sample.metainfo['ori_shape'] == (100, 80)  # the batch's own sample is untouched
