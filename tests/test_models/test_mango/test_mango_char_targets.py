"""Pseudo character centres and the character-attention loss of MANGO."""
import numpy as np
import pytest
import torch
from helpers import batch, packed_sample, rect
from tiny_mango import MAX_SEQ_LEN, build_tiny_spotter

from mmdld.models.mango.char_targets import char_attention_targets, char_centres

pytestmark = pytest.mark.usefixtures('single_thread')


def test_centres_are_equal_steps_along_the_centre_line():
    np.testing.assert_allclose(char_centres(rect(0, 0, 40, 8), 4),
                               [[5, 4], [15, 4], [25, 4], [35, 4]])
    # A bent word (6 points: top left to right, bottom right to left): the centre line runs
    # (0, 5) -> (10, 15) -> (20, 5), 2 x 14.14 long; 2 characters sit at a quarter and three
    # quarters of it.
    bent = np.float32([0, 0, 10, 10, 20, 0, 20, 10, 10, 20, 0, 10])
    np.testing.assert_allclose(char_centres(bent, 2), [[5, 10], [15, 10]], atol=1e-6)
    with pytest.raises(ValueError, match='num_chars must be >= 1'):
        char_centres(rect(0, 0, 4, 4), 0)


def test_targets_are_normalised_gaussians_at_the_centres_up_to_the_words_length():
    targets, valid = char_attention_targets([rect(0, 0, 40, 8), rect(0, 16, 8, 24)],
                                            ['abcd', ''], (8, 12), 4, 6)
    assert valid.tolist() == [[True] * 4 + [False] * 2, [False] * 6]
    np.testing.assert_allclose(targets[0, :4].sum((1, 2)), 1, rtol=1e-6)
    assert targets[0, 4:].sum() == 0 and targets[1].sum() == 0
    # Character 1 at input (15, 4) is feature (3.25, 0.5): its mass peaks in column 3, row 0-1.
    row, col = np.unravel_index(targets[0, 1].argmax(), (8, 12))
    assert col == 3 and row in (0, 1)
    # Spacing 10 px = 2.5 feature px, sigma 1.25: the mean x of the target is the centre's.
    xs = np.arange(12)[None, :]
    assert (targets[0, 1] * xs).sum() == pytest.approx(3.25, abs=0.05)


def test_loss_is_off_by_default_and_trains_the_character_attention():
    data_words = [rect(16, 16, 112, 48), rect(40, 72, 168, 112)]

    def data(model):
        return model.data_preprocessor(
            batch(packed_sample(data_words, ['ab', 'cab'], shape=(128, 192), seed=4)), True)

    assert 'loss_char_att' not in build_tiny_spotter()(**data(build_tiny_spotter()),
                                                       mode='loss')
    with pytest.raises(ValueError, match='char_attention_loss_weight must be >= 0'):
        build_tiny_spotter(char_attention_loss_weight=-1.)
    torch.manual_seed(0)
    spotter = build_tiny_spotter(char_attention_loss_weight=2.0)
    losses = spotter(**data(spotter), mode='loss')
    # Each target sums to 1 over the map, so the loss is at least its entropy and, for an
    # untrained (near-uniform) attention, about log(H W) per position, times the weight.
    h, w = 128 // 4, 192 // 4
    assert 2.0 * 0.5 * np.log(h * w) < float(losses['loss_char_att']) < 2.0 * 2 * np.log(h * w)
    losses['loss_char_att'].backward()
    assert spotter.det_head.conv_cma.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in spotter.rec_head.parameters())
    # Training on it alone moves position 0's attention to the first character of 'ab'.
    optim = torch.optim.Adam(spotter.parameters(), lr=5e-3)
    for _ in range(60):
        loss = spotter(**data(spotter), mode='loss')['loss_char_att']
        optim.zero_grad()
        loss.backward()
        optim.step()
    # Its floor is the targets' mean entropy (times the weight): half the gap to it is closed.
    targets, valid = char_attention_targets(data_words, ['ab', 'cab'], (h, w), 4,
                                            MAX_SEQ_LEN + 1)
    t = targets[valid]
    floor = 2.0 * float(np.mean(-(t * np.log(np.where(t > 0, t, 1))).sum((1, 2))))
    assert float(loss) - floor < 0.5 * (float(losses['loss_char_att']) - floor)
