"""The model, weights, images and DRS FLOPs that the per-scale cost tools measure on."""
import pytest
import torch
import torch.nn as nn
from mmdet.models.data_preprocessors import DetDataPreprocessor
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.model import BaseModel
from torch.utils.data import Dataset

from mmdld.evaluation.cost_inputs import (blank_batches, dataset_batches, default_split,
                                          format_costs, load_weights, select_model_cfg,
                                          selector_flops_of)
from mmdld.registry import DATASETS

pytestmark = pytest.mark.usefixtures('single_thread')


@DATASETS.register_module(name='ThreeImagesForCostInputs', force=True)
class ThreeImages(Dataset):
    """Three packed samples of heights 8, 16 and 24 px, the image value its index."""

    def __len__(self):
        return 3

    def __getitem__(self, idx):
        h = 8 * (idx + 1)
        sample = DetDataSample(metainfo=dict(img_shape=(h, 8), ori_shape=(h, 8)))
        return dict(inputs=torch.full((3, h, 8), idx, dtype=torch.uint8), data_samples=sample)


class Plain(BaseModel):
    """A model with only a data preprocessor (mean 0, std 1)."""

    def __init__(self):
        super().__init__(data_preprocessor=DetDataPreprocessor(mean=[0.] * 3, std=[1.] * 3))
        self.head = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return inputs


class PointwiseSelector(nn.Module):
    """A 1x1 conv 3 -> 2 without bias: 6 multiply-adds per input pixel."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1, bias=False)
        self.shapes = None

    def forward(self, inputs, img_shapes=None):
        self.shapes = img_shapes
        return self.conv(inputs).mean((2, 3))


def test_select_model_cfg_prefers_the_student_and_names_the_missing_key():
    cfg = Config(dict(model=dict(type='D', student=dict(type='S'), teacher=dict(type='T')),
                      data_preprocessor=dict(type='P')))
    assert select_model_cfg(cfg, None) == dict(type='S', data_preprocessor=dict(type='P'))
    assert select_model_cfg(cfg, 'model.teacher')['type'] == 'T'
    own = Config(dict(model=dict(type='M', data_preprocessor=dict(type='Own')),
                      data_preprocessor=dict(type='P')))
    assert select_model_cfg(own, None) == dict(type='M', data_preprocessor=dict(type='Own'))
    with pytest.raises(KeyError, match='measure_scale_costs: the config has no `model`'):
        select_model_cfg(Config(dict(optim=dict())), None)
    with pytest.raises(KeyError, match=r'no key `model.teacher.neck` \(missing `neck`\)'):
        select_model_cfg(cfg, 'model.teacher.neck')
    with pytest.raises(KeyError, match='`model.teacher.type` is not a model config'):
        select_model_cfg(cfg, 'model.teacher.type')


def test_blank_batches_and_default_split():
    (batch, ) = blank_batches((6, 10))
    (image, ), (sample, ) = batch['inputs'], batch['data_samples']
    assert image.shape == (3, 6, 10) and image.dtype == torch.uint8 and not image.any()
    assert sample.img_shape == (6, 10) and sample.ori_shape == (6, 10)
    assert sample.scale_factor == (1., 1.)
    assert default_split(Config(dict(val_dataloader=dict(batch_size=2)))) == 'val'
    assert default_split(Config(dict(val_dataloader=None, test_dataloader=dict()))) == 'test'


def test_dataset_batches_are_the_first_images_one_per_batch():
    cfg = Config(dict(val_dataloader=dict(
        batch_size=4, num_workers=2, persistent_workers=True,
        dataset=dict(type='ThreeImagesForCostInputs'),
        sampler=dict(type='DefaultSampler', shuffle=False))))
    batches = list(dataset_batches(cfg, 'val', 2))
    assert [len(b['inputs']) for b in batches] == [1, 1]
    assert [tuple(b['inputs'][0].shape) for b in batches] == [(3, 8, 8), (3, 16, 8)]
    assert len(list(dataset_batches(cfg, 'val', 10))) == 3
    with pytest.raises(KeyError, match='measure_scale_costs: the config has no '
                       '`test_dataloader`; use --split or --shape'):
        dataset_batches(cfg, 'test', 1)


def test_load_weights_takes_a_spotter_or_the_student_of_a_dld_checkpoint(tmp_path):
    weight = torch.tensor([[1., 2.]])
    torch.save(dict(state_dict={'student.head.weight': weight,
                                'student.head.bias': torch.tensor([3.]),
                                'teacher.head.bias': torch.tensor([9.])}),
               tmp_path / 'dld.pth')
    model = Plain()
    load_weights(model, str(tmp_path / 'dld.pth'))
    assert model.head.weight.tolist() == [[1., 2.]] and model.head.bias.tolist() == [3.]
    torch.save(dict(state_dict={'head.weight': -weight, 'head.bias': torch.tensor([4.])}),
               tmp_path / 'spotter.pth')
    load_weights(model, str(tmp_path / 'spotter.pth'))
    assert model.head.weight.tolist() == [[-1., -2.]] and model.head.bias.tolist() == [4.]


def test_selector_flops_of_a_batch_is_its_total():
    model, selector = Plain(), PointwiseSelector().eval()
    samples = [DetDataSample(metainfo=dict(img_shape=(8, 8), ori_shape=(8, 8)))
               for _ in range(2)]
    batch = dict(inputs=[torch.zeros(3, 8, 8, dtype=torch.uint8)] * 2, data_samples=samples)
    # Two 8 x 8 images, 6 multiply-adds per pixel.
    assert selector_flops_of(model, selector, batch) == pytest.approx(2 * 8 * 8 * 6)
    assert selector.shapes == [(8, 8), (8, 8)]


def test_format_costs_is_the_config_line():
    assert format_costs([0.65714, 0.5, 0.12345]) == 'scale_costs=[0.6571, 0.5000, 0.1235]'
    assert format_costs([]) == 'scale_costs=[]'
