"""Text Perceptron's GT fiducial points, order-aware labels and regression targets."""
import re

import numpy as np
import pytest
from helpers import rect

from mmdld.models.text_perceptron.tp_targets import (BACKGROUND, BOUNDARY, CENTRE, HEAD,
                                                     NUM_REG_CHANNELS, TAIL, gt_fiducial_points,
                                                     text_perceptron_targets)

# A 80 x 40 px rectangle at stride 4 spans feature coordinates x in [1.5, 21.5], y in [1.5, 11.5]
# (x_f = x / 4 - 0.5): pixel centres in columns 2..21 and rows 2..11, a text height of 10.
RECT = rect(8, 8, 88, 48)
FEAT_SHAPE = (14, 24)
RATIOS = dict(head_ratio=0.3, boundary_ratio=0.2)


def rect_targets(**kwargs):
    return text_perceptron_targets([RECT], FEAT_SHAPE, 4, **dict(RATIOS, **kwargs))


def test_rectangle_labels_by_hand():
    seg = rect_targets()['seg']
    expected = np.full(FEAT_SHAPE, BACKGROUND)
    expected[2:12, 2:22] = CENTRE
    # Top/bottom bands: 0.2 x 10 = 2 px from each long side (y < 3.5 and y > 9.5).
    expected[2:4, 2:22] = BOUNDARY
    expected[10:12, 2:22] = BOUNDARY
    # Head/tail: 0.3 x 10 = 3 px from each short side (x < 4.5, x > 18.5), over the full height.
    expected[2:12, 2:5] = HEAD
    expected[2:12, 19:22] = TAIL
    assert seg.dtype == np.int64
    np.testing.assert_array_equal(seg, expected)


def test_rectangle_regression_at_chosen_pixels():
    targets = rect_targets()
    reg, weight = targets['reg'], targets['reg_weight']
    assert reg.shape == weight.shape == (NUM_REG_CHANNELS, ) + FEAT_SHAPE
    assert reg.dtype == weight.dtype == np.float32
    # Corners in feature coordinates: TL (1.5, 1.5), TR (21.5, 1.5), BR (21.5, 11.5), BL (1.5, 11.5).
    # Head pixel (x=3, y=5): TL - p, BL - p.
    np.testing.assert_allclose(reg[:, 5, 3], [-1.5, -3.5, -1.5, 6.5] + [0] * 8)
    np.testing.assert_array_equal(weight[:, 5, 3], [1] * 4 + [0] * 8)
    # Tail pixel (x=20, y=6): TR - p, BR - p.
    np.testing.assert_allclose(reg[:, 6, 20], [0] * 4 + [1.5, -4.5, 1.5, 5.5] + [0] * 4)
    np.testing.assert_array_equal(weight[:, 6, 20], [0] * 4 + [1] * 4 + [0] * 4)
    # Centre pixel (x=10, y=5): nearest top point (10, 1.5), nearest bottom point (10, 11.5).
    np.testing.assert_allclose(reg[:, 5, 10], [0] * 8 + [0, -3.5, 0, 6.5])
    np.testing.assert_array_equal(weight[:, 5, 10], [0] * 8 + [1] * 4)
    # Boundary and background pixels have no regression target.
    for y, x in ((2, 10), (11, 10), (0, 0), (12, 22)):
        assert not weight[:, y, x].any() and not reg[:, y, x].any()
    # Exactly the head, tail and centre pixels carry targets.
    seg = targets['seg']
    np.testing.assert_array_equal(weight[0] > 0, seg == HEAD)
    np.testing.assert_array_equal(weight[4] > 0, seg == TAIL)
    np.testing.assert_array_equal(weight[8] > 0, seg == CENTRE)


def test_head_and_tail_keep_a_centre_on_a_short_word():
    # 6 x 10 feature px: 0.3 x 10 = 3 px ends would meet; each is capped at 6 / 3 = 2 px.
    seg = text_perceptron_targets([rect(8, 8, 32, 48)], FEAT_SHAPE, 4, **RATIOS)['seg']
    np.testing.assert_array_equal(seg[6, :9], [0, 0, HEAD, HEAD, CENTRE, CENTRE, TAIL, TAIL, 0])


def test_min_end_width_on_small_text():
    # Height 2 feature px: 0.3 x 2 = 0.6 px would hold no pixel centre; min_end_width=1 keeps
    # one column at each end (x in [1.5, 2.5] and [12.5, 13.5]).
    seg = text_perceptron_targets([rect(8, 8, 56, 16)], FEAT_SHAPE, 4, **RATIOS)['seg']
    assert set(np.nonzero(seg == HEAD)[1]) == {2}
    assert set(np.nonzero(seg == TAIL)[1]) == {13}


def test_later_polygon_owns_overlapping_pixels():
    # The second rectangle, x_f in [16.5, 23.5] (7 x 10 px: ends capped at 7 / 3 px), covers
    # the first one's centre columns 17, 18 and its tail columns 19..21.
    second = rect(68, 8, 96, 48)
    targets = text_perceptron_targets([RECT, second], (14, 26), 4, **RATIOS)
    seg, weight, reg = targets['seg'], targets['reg_weight'], targets['reg']
    assert set(np.nonzero(seg == TAIL)[1]) == {22, 23}  # the first polygon's tail is gone
    # Column 17 is the second polygon's head: its corners TL (16.5, 1.5), BL (16.5, 11.5).
    assert seg[6, 17] == HEAD
    np.testing.assert_array_equal(weight[:, 6, 17], [1] * 4 + [0] * 8)
    np.testing.assert_allclose(reg[:, 6, 17], [-0.5, -4.5, -0.5, 5.5] + [0] * 8)
    # Column 20 was the first polygon's tail; now it is the second's centre.
    assert seg[6, 20] == CENTRE
    np.testing.assert_array_equal(weight[:, 6, 20], [0] * 8 + [1] * 4)
    np.testing.assert_allclose(reg[:, 6, 20], [0] * 8 + [0, -4.5, 0, 5.5])


def test_no_polygon_gives_background_and_no_target():
    targets = text_perceptron_targets([], FEAT_SHAPE, 4)
    assert (targets['seg'] == BACKGROUND).all()
    assert not targets['reg'].any() and not targets['reg_weight'].any()


def test_polygon_outside_the_map_is_ignored():
    targets = text_perceptron_targets([rect(200, 200, 260, 240)], FEAT_SHAPE, 4)
    assert (targets['seg'] == BACKGROUND).all()


# ---------------------------------------------------------------- fiducial points
def test_gt_fiducial_points_of_a_quad():
    quad = [0, 0, 10, 0, 10, 4, 0, 4]  # TL, TR, BR, BL
    points = gt_fiducial_points(quad, 3)
    assert points.dtype == np.float32 and points.shape == (6, 2)
    np.testing.assert_allclose(points, [[0, 0], [5, 0], [10, 0], [0, 4], [5, 4], [10, 4]])
    # [P, 2] input gives the same points.
    np.testing.assert_array_equal(gt_fiducial_points(np.reshape(quad, (4, 2)), 3), points)


def _arc_position(point: np.ndarray, polyline: np.ndarray) -> tuple:
    """(distance to the polyline, arc length from its start of the nearest point)."""
    best = (np.inf, 0.0)
    travelled = 0.0
    for a, b in zip(polyline[:-1], polyline[1:]):
        seg_len = np.linalg.norm(b - a)
        t = np.clip(np.dot(point - a, b - a) / seg_len**2, 0, 1)
        dist = np.linalg.norm(a + t * (b - a) - point)
        if dist < best[0]:
            best = (dist, travelled + t * seg_len)
        travelled += seg_len
    return best


def test_gt_fiducial_points_of_a_curve_are_evenly_spaced():
    # 14 points: 7 on an upper arc at uneven angles (left to right), then 7 on a lower one
    # (right to left).
    angles = np.deg2rad([150, 138, 120, 100, 85, 60, 30])
    top = np.stack([100 + 80 * np.cos(angles), 120 - 80 * np.sin(angles)], axis=1)
    bottom = np.stack([100 + 50 * np.cos(angles), 120 - 50 * np.sin(angles)], axis=1)
    polygon = np.concatenate([top, bottom[::-1]]).reshape(-1)
    k = 5
    points = gt_fiducial_points(polygon, k).astype(np.float64)
    assert points.shape == (2 * k, 2)
    np.testing.assert_allclose(points[[0, k - 1, k, 2 * k - 1]],
                               [top[0], top[-1], bottom[0], bottom[-1]], atol=1e-4)
    for side, side_points in ((top, points[:k]), (bottom, points[k:])):
        total = sum(np.linalg.norm(b - a) for a, b in zip(side[:-1], side[1:]))
        positions = [_arc_position(p, side) for p in side_points]
        assert max(dist for dist, _ in positions) < 1e-4  # on the side
        np.testing.assert_allclose([s for _, s in positions], np.linspace(0, total, k),
                                   atol=1e-3)


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize('polygon, problem', [
    ([0, 0, 10, 0, 10, 4], 'got 3'),
    ([0, 0, 10, 0, 20, 0, 20, 5, 0, 5], 'got 5'),
    ([0, 0, 10, 0, 20, 0, 30, 0], 'zero area'),
    ([0, 0, 10, 0, 10, 4, 0], 'expected flat'),
])
def test_degenerate_polygons_are_named(polygon, problem):
    with pytest.raises(ValueError) as error:
        text_perceptron_targets([RECT, polygon], FEAT_SHAPE, 4)
    message = str(error.value)
    assert message.startswith('text_perceptron_targets: polygon 1 of 2')
    assert problem in message
    # The coordinates are in the message, so the bad annotation can be found.
    assert re.search(r'\[0\.0, 0\.0, 10\.0, 0\.0', message)
    with pytest.raises(ValueError, match=f'gt_fiducial_points: .*{problem}'):
        gt_fiducial_points(polygon, 7)


def test_bad_stride_is_rejected():
    with pytest.raises(ValueError, match='stride must be a positive int, got 0'):
        text_perceptron_targets([RECT], FEAT_SHAPE, 0)
