"""Word heights, per-image text sizes and Spearman's rank correlation on hand-made polygons."""
import math

import numpy as np
import pytest
import shapely
from helpers import rect

from mmdld.evaluation.functional.text_size import (char_height, image_text_sizes, spearman,
                                                   word_height)


def rotated_box(width: float, height: float, degrees: float, centre=(100.0, 80.0)) -> np.ndarray:
    """Flat 4-point polygon of a ``width x height`` box rotated about ``centre``."""
    t = math.radians(degrees)
    corners = np.array([[-width / 2, -height / 2], [width / 2, -height / 2],
                        [width / 2, height / 2], [-width / 2, height / 2]])
    rotation = np.array([[math.cos(t), math.sin(t)], [-math.sin(t), math.cos(t)]])
    return (corners @ rotation + centre).reshape(-1)


def arc_band(inner: float, outer: float, points_per_edge: int = 7,
             centre=(200.0, 200.0)) -> np.ndarray:
    """Total-Text layout polygon of a band between two concentric arcs (200 to 340 degrees).

    The top edge runs along the outer arc from the text's start to its end, the bottom edge
    back along the inner arc; corresponding points lie on the same radius.
    """
    angles = np.radians(np.linspace(200, 340, points_per_edge))
    directions = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    top = centre + outer * directions
    bottom = (centre + inner * directions)[::-1]
    return np.concatenate([top, bottom]).reshape(-1)


def test_axis_aligned_box_height_is_its_short_side():
    assert word_height(rect(5, 7, 45, 17)) == pytest.approx(10.0)
    # A box taller than wide (a short word in a large font) is measured by its short side too.
    assert word_height(rect(0, 0, 8, 20)) == pytest.approx(8.0)


def test_rotated_box_height_is_independent_of_the_angle():
    assert word_height(rotated_box(40, 10, 30)) == pytest.approx(10.0)
    assert word_height(rotated_box(40, 10, -60).reshape(-1, 2)) == pytest.approx(10.0)


def test_curved_polygon_height_is_the_radial_distance_between_its_edges():
    # 52 - 40 = 12: every top point lies 12 px out from its bottom point on the same radius.
    assert word_height(arc_band(40, 52)) == pytest.approx(12.0)
    # The short side of its minimum rotated rectangle (the quad rule) spans the arc's bulge.
    envelope = shapely.oriented_envelope(shapely.MultiPoint(arc_band(40, 52).reshape(-1, 2)))
    corners = np.asarray(envelope.exterior.coords)[:4]
    assert np.linalg.norm(corners - np.roll(corners, -1, axis=0), axis=1).min() > 20.0


def test_odd_point_count_uses_the_rectangle_of_equal_area_and_perimeter():
    # A 40 x 10 rectangle with an extra point in the middle of its top side: area 400,
    # perimeter 100, so the sides are the roots of t^2 - 50 t + 400: 10 and 40.
    polygon = [0, 0, 20, 0, 40, 0, 40, 10, 0, 10]
    assert word_height(polygon) == pytest.approx(10.0)


def test_char_height_is_the_word_height():
    assert char_height(rotated_box(40, 10, 30)) == word_height(rotated_box(40, 10, 30))


def test_outline_without_area_has_height_zero():
    assert word_height([0, 0, 10, 10, 20, 20, 30, 30]) == 0.0


def test_malformed_polygon_error_names_its_origin():
    with pytest.raises(ValueError, match=r'^a.json: img_1.jpg: polygon has an odd number'):
        word_height([0, 0, 1, 1, 2], 'a.json: img_1.jpg')


def test_image_sizes_of_care_words_and_their_scaling():
    polygons = [rect(0, 0, 40, 10), rotated_box(60, 20, 30), arc_band(40, 52)]
    sizes = image_text_sizes(polygons, ['word', 'large', 'curved'])
    assert sizes['n'] == 3
    assert sizes['min'] == pytest.approx(10.0)
    assert sizes['median'] == pytest.approx(12.0)
    assert sizes['heights'] == pytest.approx([10.0, 20.0, 12.0])

    half = image_text_sizes(polygons, ['word', 'large', 'curved'], scale=0.5)
    assert half['min'] == pytest.approx(5.0)
    assert half['median'] == pytest.approx(6.0)


def test_anisotropic_scale_factor_of_a_packed_sample():
    # (w_scale, h_scale) = (2, 0.5): a horizontal 40 x 10 box becomes 80 x 5.
    sizes = image_text_sizes([rect(0, 0, 40, 10)], ['word'], scale=(2.0, 0.5))
    assert sizes['min'] == pytest.approx(5.0)


def test_dont_care_words_are_excluded_unless_asked_for():
    polygons = [rect(0, 0, 40, 4), rect(0, 0, 40, 6), rect(0, 0, 40, 20), rect(0, 0, 40, 30)]
    texts = ['###', '', 'care', None]
    sizes = image_text_sizes(polygons, texts)
    assert (sizes['n'], sizes['min'], sizes['median']) == (1, 20.0, 20.0)
    everything = image_text_sizes(polygons, texts, ignore_dont_care=False)
    assert (everything['n'], everything['min'], everything['median']) == (4, 4.0, 13.0)


def test_min_length_leaves_out_short_words():
    sizes = image_text_sizes([rect(0, 0, 10, 8), rect(0, 0, 40, 14)], ['a', 'word'],
                             min_length=2)
    assert (sizes['n'], sizes['min']) == (1, 14.0)


def test_image_without_care_words_has_no_sizes():
    assert image_text_sizes([rect(0, 0, 40, 10)], ['###']) == dict(min=None, median=None, n=0,
                                                                   heights=[])


def test_bad_image_input_errors_name_the_image():
    with pytest.raises(ValueError, match=r'^x.json: 0001.jpg: 2 polygons but 1 texts$'):
        image_text_sizes([rect(0, 0, 1, 1)] * 2, ['a'], where='x.json: 0001.jpg')
    with pytest.raises(ValueError, match=r'^x.json: 0001.jpg: instance 1: polygon needs at least'):
        image_text_sizes([rect(0, 0, 1, 1), [0, 0, 1, 1]], ['a', 'b'], where='x.json: 0001.jpg')
    with pytest.raises(ValueError, match=r'^scale must be positive, got 0$'):
        image_text_sizes([rect(0, 0, 1, 1)], ['a'], scale=0)


def test_spearman_without_ties_matches_the_rank_difference_formula():
    # Ranks x: 1 2 3 4 5, y: 2 1 4 3 5; sum d^2 = 4, rho = 1 - 6 * 4 / (5 * 24) = 0.8.
    assert spearman([1, 2, 3, 4, 5], [20, 10, 40, 30, 50]) == pytest.approx(0.8)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_spearman_gives_ties_their_average_rank():
    # Ranks x: 1 2.5 2.5 4, y: 1 3 2 4; Pearson on the ranks: 4.5 / sqrt(4.5 * 5).
    assert spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(4.5 / math.sqrt(22.5))


def test_spearman_of_constant_input_is_nan_and_bad_input_is_refused():
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))
    with pytest.raises(ValueError, match=r'^spearman: 3 x values but 2 y values$'):
        spearman([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match=r'^spearman: needs at least 2 pairs, got 1$'):
        spearman([1], [1])
    with pytest.raises(ValueError, match=r'^spearman: values must be finite'):
        spearman([1, float('nan')], [1, 2])
