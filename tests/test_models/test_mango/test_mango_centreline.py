"""MANGO's centre-line branch: its targets, the words it finds, the cells' vote, the spotter."""
import numpy as np
import pytest
import torch
from helpers import batch, packed_sample, rect
from shapely.geometry import Polygon
from tiny_mango import CHANNELS, NUM_GRID, build_tiny_spotter, head_maps

from mmdld.models.mango import (MANGOCentrelineHead, centreline_targets, centreline_words,
                                group_cells, shrink_polygon, vote_text)
from mmdld.models.mango.centreline import grow_distance, shrink_distance

pytestmark = pytest.mark.usefixtures('single_thread')

CENTRELINE = dict(type='MANGOCentrelineHead', in_channels=CHANNELS, feat_channels=8,
                  num_convs=1)


def iou(a, b):
    pa, pb = Polygon(np.reshape(a, (-1, 2))), Polygon(np.reshape(b, (-1, 2)))
    return pa.intersection(pb).area / pa.union(pb).area


def arc_word(cx=96., cy=140., r_in=60., r_out=84., start=200., stop=340., points=7):
    """A word bent along a circular arc, 14 points: 7 on the outer edge, 7 back on the inner."""
    angles = np.deg2rad(np.linspace(start, stop, points))
    outer = np.stack([cx + r_out * np.cos(angles), cy + r_out * np.sin(angles)], 1)
    inner = np.stack([cx + r_in * np.cos(angles), cy + r_in * np.sin(angles)], 1)[::-1]
    return np.concatenate([outer, inner]).astype(np.float32).reshape(-1)


def test_shrink_is_dbnets_distance():
    word = rect(0, 0, 80, 16)
    # A (1 - r^2) / P = 1280 * 0.64 / 192.
    assert shrink_distance(word, 0.6) == pytest.approx(1280 * 0.64 / 192)
    shrunk = shrink_polygon(word, 0.6).reshape(-1, 2)
    # The box [4.27, 75.73] x [4.27, 11.73] (to the offset's 1/16 px).
    np.testing.assert_allclose(shrunk.min(0), [4.27, 4.27], atol=1 / 16)
    np.testing.assert_allclose(shrunk.max(0), [75.73, 11.73], atol=1 / 16)
    # Even a 2 x 1 px word keeps a region: the distance (0.21) is under half its height.
    tiny = shrink_polygon(rect(0, 0, 2, 1), 0.6).reshape(-1, 2)
    np.testing.assert_allclose(tiny.max(0) - tiny.min(0), [2 - 0.43, 1 - 0.43], atol=1 / 16)


@pytest.mark.parametrize('width, height', [(80, 16), (30, 20), (300, 12)])
def test_growing_undoes_the_shrink_of_a_rectangle(width, height):
    d = shrink_distance(rect(0, 0, width, height), 0.6)
    inner_w, inner_h = width - 2 * d, height - 2 * d
    grown = grow_distance(inner_w * inner_h, 2 * (inner_w + inner_h), 0.6)
    assert grown == pytest.approx(d, rel=1e-6)


def test_targets_are_the_centre_regions_and_leave_out_dont_care():
    word, thin = rect(8, 8, 88, 24), rect(100, 40, 102, 41)
    ignored = rect(0, 40, 60, 60)
    target, counted = centreline_targets([word, thin], (16, 32), 4, 0.6, [ignored])
    # The shrunk word spans y in [12, 20], x in [12, 84]: pixel centres 14, 18 and 14..82.
    rows, cols = np.nonzero(target[:, :24])
    assert set(rows) == {3, 4} and (cols.min(), cols.max()) == (3, 20)
    # A word too thin to shrink keeps its nearest pixel.
    assert target[:, 24:].sum() == 1 and target[10, 25] == 1
    # The don't-care word's pixels (centres 42..58 x 2..58) get no loss, the rest all do.
    assert not counted[10:15, 0:15].any() and counted[:10].all() and counted[15:].all()


@pytest.mark.parametrize('word', [rect(20, 24, 180, 56), arc_word()], ids=['straight', 'arc'])
def test_a_words_region_grows_back_into_its_polygon(word):
    target, _ = centreline_targets([word], (64, 48), 4, 0.6)
    found = centreline_words(target, 0.5, 0.6, 4, (256, 192))
    assert len(found.polygons) == 1 and found.labels.max() == 1
    assert iou(found.polygons[0], word) > 0.8
    assert np.array_equal(found.labels > 0, target > 0.5)


def test_small_regions_are_dropped_and_polygons_clipped():
    prob = np.zeros((16, 16), np.float32)
    prob[2:4, 0:12] = 0.9  # touches the left edge: its grown polygon is clipped at x = 0
    prob[10, 10] = 0.9
    found = centreline_words(prob, 0.5, 0.6, 4, (64, 64), min_area=2)
    assert len(found.polygons) == 1 and found.labels[10, 10] == 0
    assert found.polygons[0][0::2].min() == 0


def test_cells_belong_to_the_word_covering_most_of_them():
    labels = np.zeros((16, 16), np.int32)  # grid 4: cells of 4 x 4 pixels
    labels[0:4, 0:3] = 1  # 12 of cell 0's 16 pixels
    labels[0:4, 3:4] = 2  # 4 of cell 0's, and cell 1 has none
    labels[4:8, 4:6] = 2  # 8 of cell 5's
    words, weights = group_cells(labels, np.array([0, 1, 5]), 4)
    assert words.tolist() == [0, -1, 1]
    np.testing.assert_allclose(weights, [0.75, 0., 0.5])


@pytest.mark.parametrize('texts, weights, expected', [
    (['abc', 'abd', 'xbd'], [1., 1., 1.5], 'abd'),  # per position: a (2 > 1.5), b, d (2.5 > 1)
    (['ab', 'abc'], [1., 0.5], 'ab'),  # END outweighs 'c'
    (['ab', 'abc'], [0.5, 1.], 'abc'),
    (['ab', 'cd'], [1., 1.], 'ab'),  # a tie keeps the first reading's character
    ([], [], ''),
])
def test_the_vote_is_per_position_and_weighted(texts, weights, expected):
    assert vote_text(texts, weights) == expected


def test_branch_trains_and_parts_that_do_not_fit_are_refused():
    with pytest.raises(ValueError, match="instances='centreline' needs a centreline_head"):
        build_tiny_spotter(test_cfg=dict(instances='centreline'))
    with pytest.raises(ValueError, match=r"instances must be one of \('mask', 'centreline'\)"):
        build_tiny_spotter(test_cfg=dict(instances='grid'))
    with pytest.raises(ValueError, match='shrink_ratio must be in'):
        MANGOCentrelineHead(CHANNELS, 8, shrink_ratio=1.0)
    spotter = build_tiny_spotter(centreline_head=CENTRELINE)
    data = spotter.data_preprocessor(batch(
        packed_sample([rect(10, 10, 90, 40)], ['ab'], ignored=[rect(100, 5, 180, 30)], seed=1),
        packed_sample([], [], seed=2)), True)
    losses = spotter(**data, mode='loss')
    assert set(losses) == {'loss_cate', 'loss_mask', 'loss_rec', 'loss_centreline'}
    losses['loss_centreline'].backward()
    head_grads = [p.grad for p in spotter.centreline_head.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in head_grads)
    # The branch's loss trains the branch and the features under it, nothing of the others.
    assert spotter.backbone.conv1.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in spotter.det_head.parameters())
    assert all(p.grad is None for p in spotter.rec_head.parameters())


def test_predict_reports_a_word_per_region_read_by_its_cells(monkeypatch):
    spotter = build_tiny_spotter(centreline_head=CENTRELINE,
                                 test_cfg=dict(instances='centreline'))
    words = [rect(40, 20, 120, 52), rect(16, 80, 80, 104)]
    data = spotter.data_preprocessor(
        batch(packed_sample(words, ['ab', 'c'], shape=(128, 192), scale=0.5, seed=4)), False)
    shape = tuple(data['inputs'].shape[-2:])
    maps = head_maps(words, shape)
    # A second confident cell over the first word: it votes, it adds no word.
    centre = int(maps.cate_logits[0].argmax())
    maps.cate_logits[0, centre + 1] = 10.
    target, _ = centreline_targets(words, (shape[0] // 4, shape[1] // 4), 4, 0.6)
    logits = torch.from_numpy(20. * target - 10.)[None]
    monkeypatch.setattr(spotter.det_head, 'forward', lambda feat: maps)
    monkeypatch.setattr(spotter.centreline_head, 'forward', lambda feat: logits)
    spotter.eval()
    with torch.no_grad():
        [result] = spotter.predict(data['inputs'], data['data_samples'], rescale=True)
    pred = result.pred_instances
    assert len(pred) == 2 and len(pred.texts) == 2 and pred.text_scores.shape == (2, )
    torch.testing.assert_close(pred.scores, torch.full((2, ), torch.sigmoid(
        torch.tensor(10.)).item()))
    order = np.argsort([p[1::2].min() for p in pred.polygons])
    for i, word in zip(order, words):
        # In the original frame; a stride-4 region of a 24 px high word is 4 pixels high.
        assert iou(pred.polygons[i], word * 2) > 0.7
    # The texts are the votes of the cells each word's region covers.
    feats = spotter.extract_feat(data['inputs'])
    _, cells, votes = spotter._cells_to_read(feats[0], maps, data['data_samples'])
    word_of, weights = votes[0]
    assert len(cells[0]) == 3 and sorted(word_of.tolist()) == [0, 0, 1]
    roi = spotter.det_head.sequence_features(feats[0], maps, torch.zeros_like(cells[0]),
                                             cells[0])
    readings = spotter.rec_head.predict(roi)[0]
    for k in range(2):
        mine = np.flatnonzero(word_of == k)
        assert pred.texts[k] == vote_text([readings[i] for i in mine], weights[mine])
    assert NUM_GRID == 8  # the cells above are of the tiny spotter's 8 x 8 grid
