"""Tests of FoldedFeatureExtractor: the BatchNorm-folded copy that DLD's k passes run."""
import os.path as osp

import pytest
import torch
import torch.nn as nn
from helpers import CONFIG_DIR
from mmengine.config import Config
from torch.nn.modules.batchnorm import _BatchNorm

from mmdld.models.distillers.scale_pass import FoldedFeatureExtractor
from mmdld.registry import MODELS

TINY = osp.join(CONFIG_DIR, 'spotter', 'maskrcnn_r18_fpn_spotter_synthetic_tiny.py')
R50 = osp.join(CONFIG_DIR, 'spotter', 'maskrcnn_r50_fpn_spotter_totaltext.py')


def build_spotter(path: str = TINY) -> nn.Module:
    cfg = Config.fromfile(path).model
    cfg.backbone.init_cfg = None  # no ImageNet download
    torch.manual_seed(0)
    spotter = MODELS.build(cfg)
    # Trained-looking statistics, so that folding is not the identity.
    for module in spotter.modules():
        if isinstance(module, _BatchNorm):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return spotter.eval()


def batchnorms(module: nn.Module) -> int:
    return sum(isinstance(m, _BatchNorm) for m in module.modules())


@pytest.mark.parametrize('path', [TINY, R50], ids=['r18_tiny', 'r50_totaltext'])
def test_every_backbone_and_neck_batchnorm_is_folded(path):
    spotter = build_spotter(path)
    extractor = FoldedFeatureExtractor(spotter.feature_network(), torch.bfloat16)
    expected = batchnorms(spotter.backbone) + batchnorms(spotter.neck)
    assert expected > 0 and len(extractor.folded_pairs) == expected == extractor.num_batchnorms
    assert batchnorms(extractor.copy) == 0
    conv1 = extractor.copy.backbone.conv1
    assert conv1.weight.dtype == torch.bfloat16 and conv1.bias is not None
    assert conv1.weight.is_contiguous(memory_format=torch.channels_last)


def test_folded_copy_computes_the_students_features_and_follows_its_weights():
    spotter = build_spotter()
    extractor = FoldedFeatureExtractor(spotter.feature_network(), torch.float32, num_levels=2)
    images = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        expected = spotter.extract_feat(images)[:2]
        got = extractor(images)
    assert [g.shape for g in got] == [e.shape for e in expected]
    for g, e in zip(got, expected):
        assert torch.allclose(g, e, atol=1e-4, rtol=1e-4)

    # A training step changes conv weights and BatchNorm statistics: stale until refresh().
    with torch.no_grad():
        spotter.backbone.layer1[0].conv1.weight.mul_(1.5)
        spotter.backbone.bn1.running_mean.add_(0.3)
        expected = spotter.extract_feat(images)[:2]
        stale = extractor(images)
        extractor.refresh()
        fresh = extractor(images)
    assert not torch.allclose(stale[0], expected[0], atol=1e-3)
    for g, e in zip(fresh, expected):
        assert torch.allclose(g, e, atol=1e-4, rtol=1e-4)


def test_low_precision_copy_stays_close_under_autocast():
    spotter = build_spotter()
    extractor = FoldedFeatureExtractor(spotter.feature_network(), torch.bfloat16, num_levels=1)
    images = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        expected = spotter.extract_feat(images)[0]
        with torch.autocast('cpu', dtype=torch.bfloat16):
            got = extractor(images)[0]
    assert got.dtype == torch.float32 and got.is_contiguous(memory_format=torch.channels_last)
    assert not torch.equal(got, expected)
    # bfloat16 keeps about 3 significant digits.
    assert (got - expected).abs().max() < 0.05 * expected.abs().max()


class NormBeforeConv(nn.Module):
    """Names its layers like an MMDetection block (``conv1``, ``norm1_name``) but applies the
    BatchNorm before the conv: folding it into the conv would be wrong."""
    norm1_name = 'bn1'

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.conv1 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)

    def forward(self, x):
        return (self.conv1(self.bn1(self.stem(x))), )


def test_layers_outside_the_conventions_are_not_folded():
    spotter = build_spotter()
    spotter.backbone = NormBeforeConv()
    spotter.neck = None
    bn = spotter.backbone.bn1
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    spotter.eval()
    extractor = FoldedFeatureExtractor(spotter.feature_network(), torch.float32)
    # The names look foldable; the self-check on a probe input refuses the fold.
    assert extractor.folded_pairs == [] and extractor.num_batchnorms == 1
    assert batchnorms(extractor.copy) == 1
    images = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        bn.running_mean.add_(0.5)  # unfolded layers are refreshed too
        extractor.refresh()
        assert torch.allclose(extractor(images)[0], spotter.extract_feat(images)[0], atol=1e-5)


def test_a_spotter_with_its_own_extract_feat_has_no_network_to_fold():

    class OwnFeatures(type(build_spotter())):

        def extract_feat(self, batch_inputs):
            return super().extract_feat(batch_inputs)

    spotter = build_spotter()
    assert isinstance(spotter.feature_network(), nn.Module)
    spotter.__class__ = OwnFeatures
    # The scale passes then run its own extract_feat (test_distiller.py).
    assert spotter.feature_network() is None


def test_the_copy_is_current_only_for_the_same_modules_dtype_and_levels():
    spotter = build_spotter()
    extractor = FoldedFeatureExtractor(spotter.feature_network(), torch.float32, num_levels=1)
    # A fresh wrapper around the same backbone and neck is the same network.
    assert extractor.is_current(spotter.feature_network(), torch.float32, 1)
    assert not extractor.is_current(spotter.feature_network(), torch.bfloat16, 1)
    assert not extractor.is_current(spotter.feature_network(), torch.float32, None)
    assert not extractor.is_current(build_spotter().feature_network(), torch.float32, 1)
