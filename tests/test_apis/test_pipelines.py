"""The test-pipeline helpers: its ``Resize`` found once, and the label-free inference copy."""
import os.path as osp

import pytest
from helpers import CONFIG_DIR
from mmengine.config import Config

from mmdld.apis import find_resize, get_test_pipeline_cfg, inference_pipeline_cfg, short_side

SPOTTER = osp.join(CONFIG_DIR, 'spotter', 'maskrcnn_r18_fpn_spotter_synthetic_tiny.py')


def test_find_resize_and_short_side():
    cfg = Config.fromfile(SPOTTER)
    pipeline = get_test_pipeline_cfg(cfg)
    resize = find_resize(pipeline)
    assert resize['type'] == 'mmocr.Resize' and short_side(resize) == 320
    # The copy is the caller's to edit: the config keeps its own Resize.
    resize['scale'] = (640, 160)
    assert tuple(find_resize(cfg.test_dataloader.dataset.pipeline)['scale']) == (1280, 320)
    assert short_side(dict(scale=256)) == 256
    with pytest.raises(ValueError, match='the test pipeline has no Resize'):
        find_resize([dict(type='LoadImageFromFile')])
    with pytest.raises(ValueError, match='its Resize has no `scale`'):
        find_resize([dict(type='Resize', scale_factor=0.5)])


def test_inference_pipeline_reads_paths_and_arrays_without_labels():
    cfg = Config.fromfile(SPOTTER)
    types = [t['type'] for t in inference_pipeline_cfg(cfg)]
    # mmdld's loader (MMOCR's that refuses truncated files) for mmdld's LoadImageFromFile.
    assert types == ['mmdld.InferencerLoader', 'mmocr.Resize', 'PackSpottingInputs']
    assert inference_pipeline_cfg(cfg)[0]['color_type'] == 'color_ignore_orientation'
    cfg.test_dataloader.dataset.pipeline = [dict(type='LoadImageFromFile'),
                                            dict(type='LoadAnnotations')]
    assert [t['type'] for t in inference_pipeline_cfg(cfg)] == ['mmdet.InferencerLoader']
    cfg.test_dataloader.dataset.pipeline = [dict(type='Resize', scale=(8, 8))]
    with pytest.raises(ValueError, match='has none of'):
        inference_pipeline_cfg(cfg)
