"""Tests of SpottingLocalVisualizer (polygons and words of DetDataSamples)."""
import numpy as np
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from mmdld.registry import VISUALIZERS


def prediction(scores, texts):
    ds = DetDataSample(metainfo=dict(img_shape=(60, 100), ori_shape=(60, 100)))
    pred = InstanceData()
    n = len(scores)
    pred.bboxes = torch.tensor([[10., 10., 60., 30.], [20., 35., 90., 55.]])[:n]
    pred.scores = torch.tensor(scores)
    pred.polygons = [np.array([10, 10, 60, 10, 60, 30, 10, 30], np.float32),
                     np.array([20, 35, 90, 35, 90, 55, 20, 55], np.float32)][:n]
    pred.texts = texts
    ds.pred_instances = pred
    ds.gt_instances = InstanceData()  # as packed at inference: empty
    return ds


def build():
    return VISUALIZERS.build(dict(type='SpottingLocalVisualizer', name='test_vis'))


def test_draws_polygons_beside_words_and_writes_the_file(tmp_path):
    vis = build()
    image = np.full((60, 100, 3), 255, np.uint8)
    out_file = tmp_path / 'vis.jpg'
    drawn = vis.add_datasample('x', image, prediction([0.9, 0.2], ['HELLO', 'low']),
                               pred_score_thr=0.5, out_file=str(out_file))
    # The image with the filled polygon, then a white canvas with the word: side by side.
    assert drawn.shape == (60, 200, 3)
    left, right = drawn[:, :100], drawn[:, 100:]
    assert (left[10:30, 10:60] != 255).any()  # the kept polygon is filled
    assert (left[40:50, 30:80] == 255).all()  # the low-score one is not drawn
    assert (right[12:28, 12:58] < 128).any()  # the word is written in its box
    assert out_file.exists()


def test_no_prediction_above_threshold_keeps_a_blank_canvas():
    vis = build()
    image = np.full((60, 100, 3), 255, np.uint8)
    drawn = vis.add_datasample('x', image, prediction([0.1], ['A']), pred_score_thr=0.5)
    assert drawn.shape == (60, 200, 3) and (drawn == 255).all()


def test_gt_with_words_is_drawn_above_the_prediction():
    vis = build()
    ds = prediction([0.9], ['HI'])
    gt = InstanceData()
    gt.bboxes = torch.tensor([[10., 10., 60., 30.]])
    gt.polygons = [np.array([10, 10, 60, 10, 60, 30, 10, 30], np.float32)]
    gt.texts = ['HI']
    ds.gt_instances = gt
    drawn = vis.add_datasample('x', np.zeros((60, 100, 3), np.uint8), ds)
    assert drawn.shape == (120, 200, 3)
