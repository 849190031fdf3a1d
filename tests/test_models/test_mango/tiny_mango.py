"""A tiny MANGO spotter and head maps that encode known words, for the MANGO tests.

Imported by the test modules of this folder (pytest puts it on ``sys.path``, as it has no
``__init__.py``).
"""
from typing import Sequence, Tuple

import numpy as np
import torch

from mmdld.models.mango import MANGOMaps, grid_targets, instance_mask_targets
from mmdld.registry import MODELS

#: ``S``, channels of the map, ``max_seq_len`` of the tiny spotter.
NUM_GRID = 8
CHANNELS = 16
MAX_SEQ_LEN = 8


def tiny_spotter_cfg(**overrides) -> dict:
    """The config of a MANGO small enough for CPU tests (8-channel ResNet-18, 16-ch FPN)."""
    cfg = dict(
        type='MANGOSpotter',
        data_preprocessor=dict(type='mmdet.DetDataPreprocessor', mean=[127.5] * 3,
                               std=[64.] * 3, pad_size_divisor=32),
        backbone=dict(type='mmdet.ResNet', depth=18, base_channels=8, out_indices=(0, 1, 2, 3),
                      norm_eval=False, init_cfg=None),
        neck=dict(type='mmdet.FPN', in_channels=[8, 16, 32, 64], out_channels=CHANNELS,
                  num_outs=4),
        det_head=dict(type='MANGOHead', in_channels=CHANNELS, feat_channels=16,
                      kernel_channels=8, num_grid=NUM_GRID, num_positions=MAX_SEQ_LEN + 1,
                      num_convs=1),
        rec_head=dict(type='MANGOSequenceHead', in_channels=CHANNELS, lstm_hidden=8,
                      max_seq_len=MAX_SEQ_LEN))
    cfg.update(overrides)
    return cfg


def build_tiny_spotter(**overrides):
    return MODELS.build(tiny_spotter_cfg(**overrides))


def head_maps(polygons: Sequence[np.ndarray], input_shape: Tuple[int, int],
              num_positions: int = MAX_SEQ_LEN + 1, stride: int = 4) -> MANGOMaps:
    """Confident head outputs that encode ``polygons`` (what a perfect head would predict).

    Mask feature channel ``k`` is +10 inside word ``k`` and -10 outside; the instance kernel of
    word ``k``'s centre cell is the unit vector ``e_k`` and its logit +10; every other cell has
    logit -10. The character kernels are zero (uniform attention over each word).
    """
    feat_shape = (input_shape[0] // stride, input_shape[1] // stride)
    num, cells = len(polygons), NUM_GRID**2
    masks = torch.from_numpy(instance_mask_targets(polygons, feat_shape, stride)).float()
    mask_feats = (20. * masks - 10.)[None]
    centres = grid_targets(polygons, input_shape, NUM_GRID)['centre_cells']
    cate = torch.full((1, cells), -10.)
    ima = torch.zeros(1, cells, num)
    for k, cell in enumerate(centres):
        cate[0, cell] = 10.
        ima[0, cell, k] = 1.
    return MANGOMaps(cate, ima, torch.zeros(1, cells, num_positions, num), mask_feats)
