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


def _written_words(vis):
    """(text, x0, x1, font size) of each word on the visualizer's current panel."""
    renderer = vis.fig_save.canvas.get_renderer()
    return [(t.get_text(), t.get_window_extent(renderer).x0, t.get_window_extent(renderer).x1,
             t.get_fontsize()) for t in vis.ax_save.texts]


def test_a_word_that_fits_is_written_as_it_is():
    vis = build()
    vis.get_labels_image(np.full((60, 100, 3), 255, np.uint8), ['HI'],
                         np.array([[10., 10., 60., 30.]]), font_size=10)
    [(text, x0, x1, size)] = _written_words(vis)
    assert text == 'HI' and size == 10
    assert 20 < (x0 + x1) / 2 < 50  # centred on its box (x 10-60)


def test_long_words_stay_inside_the_text_panel():
    vis = build()
    width = 100
    long_word = 'supercalifragilisticexpialidocious' * 3
    boxes = np.array([[70., 5., 98., 20.], [0., 25., 20., 40.], [30., 45., 70., 58.]])
    words = [long_word, 'constantinople', 'mediumlengthword']
    panel = vis.get_labels_image(np.full((60, width, 3), 255, np.uint8), words, boxes)
    written = _written_words(vis)
    assert len(written) == 3
    for text, x0, x1, size in written:
        assert 0 <= x0 and x1 <= width, (text, x0, x1)
        assert size >= 6
    # The very long word is cut short with an ellipsis; the shorter ones are whole.
    assert written[0][0].endswith('\u2026') and long_word.startswith(written[0][0][:-1])
    assert [w[0] for w in written[1:]] == words[1:]
    # Ink in the panel, none at its left and right borders (nothing was clipped there).
    dark = panel.min(axis=2) < 128
    assert dark.any()
    assert not dark[:, 0].any() and not dark[:, -1].any()


def test_a_prediction_at_the_threshold_is_drawn():
    vis = build()
    image = np.full((60, 100, 3), 255, np.uint8)
    drawn = vis.add_datasample('x', image, prediction([0.5], ['A']), pred_score_thr=0.5)
    assert (drawn[:, :100] != 255).any()


def test_words_with_dollar_signs_are_written_literally():
    # An untrained recognizer can read 'j`$YY3`$Y...': matplotlib would parse the text between
    # two '$' as mathtext and fail the whole drawing.
    vis = build()
    words = ['j`$YY3`$Y`$YY3`$Y', '$x^2$']
    panel = vis.get_labels_image(np.full((60, 100, 3), 255, np.uint8), words,
                                 np.array([[0., 5., 100., 25.], [10., 30., 90., 55.]]))
    written = _written_words(vis)
    assert [w[0] for w in written] == words
    assert all(not t.get_parse_math() for t in vis.ax_save.texts)
    assert (panel.min(axis=2) < 128).any()
