"""A tiny training run of MANGO: one image, 150 Adam steps (about 2 s on one thread)."""
import numpy as np
import pytest
import torch
from helpers import batch, packed_sample, rect
from tiny_mango import build_tiny_spotter

pytestmark = pytest.mark.usefixtures('single_thread')


def test_a_tiny_run_learns_to_find_the_words_and_lowers_every_loss():
    spotter = build_tiny_spotter()
    words = [rect(16, 16, 112, 48), rect(40, 72, 168, 112)]
    data = spotter.data_preprocessor(
        batch(packed_sample(words, ['ab', 'cab'], shape=(128, 192), seed=4)), True)
    optim = torch.optim.Adam(spotter.parameters(), lr=5e-3)
    spotter.train()
    first = None
    for _ in range(150):
        losses = spotter(**data, mode='loss')
        first = first or {k: float(v.detach()) for k, v in losses.items()}
        optim.zero_grad()
        sum(losses.values()).backward()
        optim.step()
    last = {k: float(v.detach()) for k, v in losses.items()}
    assert last['loss_cate'] < 0.01 * first['loss_cate']
    assert last['loss_mask'] < 0.01 * first['loss_mask']
    assert last['loss_rec'] < 0.2 * first['loss_rec']
    spotter.eval()
    with torch.no_grad():
        [result] = spotter.predict(data['inputs'], data['data_samples'], rescale=False)
    pred = result.pred_instances
    # Exactly the two words (one cell each after Matrix NMS), their rectangles to a pixel.
    assert len(pred) == 2 and bool((pred.scores > 0.5).all())
    order = np.argsort([p[1] for p in pred.polygons])
    for i, word in zip(order, words):
        np.testing.assert_allclose(pred.polygons[i], word, atol=1.)


def test_a_tiny_run_with_the_centreline_branch_outlines_the_words():
    from shapely.geometry import Polygon

    spotter = build_tiny_spotter(
        centreline_head=dict(type='MANGOCentrelineHead', in_channels=16, feat_channels=8,
                             num_convs=1),
        test_cfg=dict(instances='centreline'))
    words = [rect(16, 16, 112, 48), rect(40, 72, 168, 112)]
    data = spotter.data_preprocessor(
        batch(packed_sample(words, ['ab', 'cab'], shape=(128, 192), seed=4)), True)
    optim = torch.optim.Adam(spotter.parameters(), lr=5e-3)
    spotter.train()
    first = None
    for _ in range(150):
        losses = spotter(**data, mode='loss')
        first = first or float(losses['loss_centreline'].detach())
        optim.zero_grad()
        sum(losses.values()).backward()
        optim.step()
    assert float(losses['loss_centreline'].detach()) < 0.1 * first
    spotter.eval()
    with torch.no_grad():
        [result] = spotter.predict(data['inputs'], data['data_samples'], rescale=False)
    pred = result.pred_instances
    # One word per region of the branch, each outlined close to its GT box.
    assert len(pred) == 2
    order = np.argsort([p[1::2].min() for p in pred.polygons])
    for i, word in zip(order, words):
        got, want = Polygon(pred.polygons[i].reshape(-1, 2)), Polygon(word.reshape(-1, 2))
        assert got.intersection(want).area / got.union(want).area > 0.7
