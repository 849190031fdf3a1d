"""A tiny Text Perceptron spotter and head maps that encode known words, for the spotter tests.

Imported by ``test_tp_spotter.py`` and ``test_tp_distill.py`` (pytest puts this folder on
``sys.path``, as it has no ``__init__.py``).
"""
from typing import Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from mmdld.models.text_perceptron import text_perceptron_targets
from mmdld.registry import MODELS

#: K of the tiny spotter.
POINTS_PER_SIDE = 4
#: ``(H_r, W_r)`` of its crops and channels of its map.
ROI_SIZE = (4, 16)
CHANNELS = 16


def tiny_spotter_cfg(**overrides) -> dict:
    """The config of a spotter small enough for CPU tests (8-channel ResNet-18, 16-ch FPN)."""
    cfg = dict(
        type='TextPerceptronSpotter',
        data_preprocessor=dict(type='mmdet.DetDataPreprocessor', mean=[127.5] * 3,
                               std=[64.] * 3, pad_size_divisor=32),
        backbone=dict(type='mmdet.ResNet', depth=18, base_channels=8, out_indices=(0, 1, 2, 3),
                      norm_eval=False, init_cfg=None),
        neck=dict(type='mmdet.FPN', in_channels=[8, 16, 32, 64], out_channels=CHANNELS,
                  num_outs=4),
        det_head=dict(type='TextPerceptronHead', in_channels=CHANNELS, feat_channels=CHANNELS,
                      num_convs=1, num_points_per_side=POINTS_PER_SIDE),
        shape_transform=dict(type='ShapeTransformModule', output_size=ROI_SIZE,
                             num_points_per_side=POINTS_PER_SIDE, spatial_scale=0.25),
        rec_head=dict(type='BiLSTMAttnHead', in_channels=CHANNELS, roi_size=ROI_SIZE,
                      conv_channels=16, num_convs=2, lstm_hidden=16, embed_dims=16,
                      attn_dims=16, decoder_hidden=16, max_seq_len=8))
    cfg.update(overrides)
    return cfg


def build_tiny_spotter(**overrides):
    return MODELS.build(tiny_spotter_cfg(**overrides))


def head_maps(polygons: Sequence[np.ndarray], feat_shape: Tuple[int, int],
              stride: int = 4) -> Tuple[Tensor, Tensor]:
    """Confident head outputs ``[1, 5, H, W]``, ``[1, 12, H, W]`` that encode ``polygons``.

    The logits are 10 x the one-hot labels of ``text_perceptron_targets`` and the offsets its
    regression targets: what a perfectly trained head would predict for these words.
    """
    targets = text_perceptron_targets(polygons, feat_shape, stride)
    seg = torch.from_numpy(targets['seg'])
    logits = 10. * F.one_hot(seg, 5).permute(2, 0, 1).float()[None]
    return logits, torch.from_numpy(targets['reg'])[None]
