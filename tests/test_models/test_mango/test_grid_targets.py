"""Tests of MANGO's grid assignment and instance mask targets on hand-computed cases."""
import numpy as np
import pytest
from helpers import rect

from mmdld.models.mango import centre_region, grid_targets, instance_mask_targets
from mmdld.models.mango.grid_targets import BACKGROUND, IGNORE, TEXT


def test_centre_region_of_a_word_on_a_4x4_grid():
    # 128 x 128 input, 32-px cells. Box centre (64, 56), 48 x 32: centre cell row 1, col 2.
    # sigma 0.5: y in [48, 64] -> rows 1..2, x in [52, 76] -> cols 1..2.
    centre, region = centre_region(rect(40, 40, 88, 72), (128, 128), 4, sigma=0.5)
    assert centre == 1 * 4 + 2
    assert region == (1, 2, 1, 2)
    targets = grid_targets([rect(40, 40, 88, 72)], (128, 128), 4, sigma=0.5)
    assert np.flatnonzero(targets['labels'] == TEXT).tolist() == [5, 6, 9, 10]
    assert np.flatnonzero(targets['labels'] == BACKGROUND).size == 12
    assert targets['instance'].tolist() == [-1] * 5 + [0, 0] + [-1] * 2 + [0, 0] + [-1] * 5
    assert targets['centre_cells'].tolist() == [6]


def test_region_is_limited_to_the_centre_cells_neighbours_and_small_sigma_keeps_the_centre():
    # A 120 x 8 word across an 8 x 8 grid of 16-px cells: centre (64, 68) -> cell (4, 4);
    # sigma 1 spans columns 0..7, cut to 3..5; rows: y in [64, 72] -> row 4 only.
    word = rect(4, 64, 124, 72)
    _, region = centre_region(word, (128, 128), 8, sigma=1.0)
    assert region == (4, 4, 3, 5)
    # sigma 0.2: x in [52, 76] -> cols 3..4 (76 / 16 = 4.75).
    _, region = centre_region(word, (128, 128), 8, sigma=0.2)
    assert region == (4, 4, 3, 4)
    # A tiny word still owns its centre cell.
    targets = grid_targets([rect(33, 33, 35, 35)], (128, 128), 8)
    assert np.flatnonzero(targets['labels'] == TEXT).tolist() == [2 * 8 + 2]


def test_the_smaller_of_two_overlapping_words_keeps_the_shared_cells():
    big, small = rect(0, 0, 128, 64), rect(48, 16, 80, 40)
    # 4 x 4 grid over 128 x 128, sigma 1: big -> centre (64, 32) cell (1, 2), rows 0..2
    # (y in [0, 64]), cols 1..3 (x in [0, 128] cut to 2 +- 1); small -> centre (64, 28),
    # cell (0, 2), rows 0..1 (y in [16, 40]), cols 1..2 (x in [48, 80]).
    targets = grid_targets([small, big], (128, 128), 4, sigma=1.0)
    instance = targets['instance'].reshape(4, 4)
    np.testing.assert_array_equal(instance, [[-1, 0, 0, 1],
                                             [-1, 0, 0, 1],
                                             [-1, 1, 1, 1],
                                             [-1, -1, -1, -1]])
    assert targets['centre_cells'].tolist() == [2, 6]
    # Input order does not matter: the area decides.
    swapped = grid_targets([big, small], (128, 128), 4, sigma=1.0)['instance'].reshape(4, 4)
    np.testing.assert_array_equal(swapped, np.where(instance >= 0, 1 - instance, -1))


def test_dont_care_cells_are_ignored_unless_a_word_owns_them():
    targets = grid_targets([rect(40, 40, 88, 72)], (128, 128), 4, sigma=0.5,
                           ignored_polygons=[rect(0, 40, 56, 72), rect(96, 96, 128, 128)])
    labels = targets['labels'].reshape(4, 4)
    # Don't-care 1: centre (28, 56) -> cell (1, 0), x in [14, 42] -> cols 0..1, rows 1..2;
    # its cells (1, 1) and (2, 1) belong to the word. Don't-care 2: cell (3, 3).
    assert labels[1, 0] == labels[2, 0] == labels[3, 3] == IGNORE
    assert labels[1, 1] == labels[2, 1] == TEXT
    assert (labels == IGNORE).sum() == 3 and (labels == TEXT).sum() == 4


def test_instance_masks_hold_the_pixel_centres_inside_each_word():
    # Stride 4: word x in [8, 24] -> feature x in [1.5, 5.5] -> pixels 2..5; y in [4, 12]
    # -> [0.5, 2.5] -> rows 1..2.
    masks = instance_mask_targets([rect(8, 4, 24, 12), rect(0, 29, 44, 30)], (8, 12), 4)
    assert masks.shape == (2, 8, 12) and masks.dtype == bool
    ys, xs = np.nonzero(masks[0])
    assert sorted(set(ys.tolist())) == [1, 2] and sorted(set(xs.tolist())) == [2, 3, 4, 5]
    assert masks[0].sum() == 8
    # y in [29, 30] -> [6.75, 7]: no pixel centre (rows are half-open); the pixel nearest the
    # box centre (x (-0.5 + 10.5) / 2 = 5, y 6.875 -> 7) stands in.
    assert np.argwhere(masks[1]).tolist() == [[7, 5]]


@pytest.mark.parametrize('kwargs, match', [
    (dict(num_grid=0), 'num_grid must be a positive int'),
    (dict(sigma=0.), r'sigma must be in \(0, 1\]'),
    (dict(input_shape=(0, 10)), 'input_shape must be positive'),
])
def test_bad_arguments_are_refused(kwargs, match):
    args = dict(polygons=[rect(0, 0, 10, 10)], input_shape=(32, 32), num_grid=4)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        grid_targets(**args)
