"""Polygon IoU and don't-care coverage on shapely."""
import numpy as np
import pytest

from mmdld.evaluation.functional import (coverage_matrix, iou_matrix, outline_area, outline_areas,
                                         to_geometries, to_geometry)


def box(x1, y1, x2, y2):
    return [x1, y1, x2, y1, x2, y2, x1, y2]


def test_iou_of_shifted_squares():
    gts = to_geometries([box(0, 0, 10, 10)], 'gt')
    preds = to_geometries([box(5, 0, 15, 10), box(20, 20, 30, 30), box(0, 0, 10, 10)], 'pred')
    np.testing.assert_allclose(iou_matrix(gts, preds), [[50 / 150, 0.0, 1.0]])


def test_nested_point_lists_and_arrays_are_accepted():
    as_pairs = to_geometry(np.array([[0, 0], [4, 0], [4, 2], [0, 2]], dtype=np.float32), 'p')
    assert as_pairs.area == pytest.approx(8.0)


# Crosses itself at (4, 4): lobes (0,0)-(4,4)-(0,6) of 12 px² and (4,4)-(12,12)-(12,0) of 48 px²,
# wound in opposite directions.
BOW_TIE = [0, 0, 12, 12, 12, 0, 0, 6]


def test_outline_area_is_the_shoelace_area():
    assert outline_area(box(0, 0, 4, 3), 'box') == 12.0
    clockwise = np.array(box(0, 0, 4, 3)).reshape(-1, 2)[::-1].reshape(-1)
    assert outline_area(clockwise, 'reversed') == 12.0  # either orientation
    # Shoelace by hand: 0*12 - 12*0 + 12*0 - 12*12 + 12*6 - 0*0 + 0*0 - 0*6 = -72 -> 36.
    assert outline_area(BOW_TIE, 'bow-tie') == 36.0
    assert outline_area([0, 0, 2, 2, 2, 0, 0, 2], 'symmetric') == 0.0  # the lobes cancel
    far = [x + 1e7 for x in box(0, 0, 4, 3)]
    assert outline_area(far, 'far') == 12.0
    np.testing.assert_array_equal(outline_areas([box(0, 0, 1, 1), BOW_TIE], 'p'), [1.0, 36.0])
    assert outline_areas([], 'none').shape == (0, )


def test_self_intersecting_polygon_keeps_both_lobes_for_intersections():
    geometry = to_geometry(BOW_TIE, 'bow-tie')
    assert geometry.is_valid
    assert geometry.area == pytest.approx(60.0)  # 12 + 48: the repaired region
    square = to_geometries([box(0, 0, 12, 12)], 'gt')
    bow_ties = to_geometries([BOW_TIE], 'pred')
    # RRC: intersection 60 over a union of 144 + 36 - 60 = 120.
    iou = iou_matrix(square, bow_ties, outline_areas([box(0, 0, 12, 12)], 'gt'),
                     outline_areas([BOW_TIE], 'pred'))
    assert iou[0, 0] == pytest.approx(0.5)
    # Without outline areas the geometries' own areas are used: 60 / (144 + 60 - 60).
    assert iou_matrix(square, bow_ties)[0, 0] == pytest.approx(60 / 144)
    # Against itself: 60 / (36 + 36 - 60) = 5, as the scripts compute it.
    self_iou = iou_matrix(bow_ties, bow_ties, [36.0], [36.0])
    assert self_iou[0, 0] == pytest.approx(5.0)


def test_non_positive_union_gives_zero_iou():
    # The symmetric bow-tie has outline area 0 and repaired area 2: against itself the union is
    # 0 + 0 - 2 < 0 (the scripts' IoU would be -1, never a match).
    symmetric = [0, 0, 2, 2, 2, 0, 0, 2]
    geometries = to_geometries([symmetric], 'p')
    assert iou_matrix(geometries, geometries, [0.0], [0.0])[0, 0] == 0.0


def test_bow_tie_coverage_is_relative_to_its_outline_area():
    regions = to_geometries([box(0, 0, 4, 6), box(4, 0, 12, 12)], 'dc')
    coverage = coverage_matrix(to_geometries([BOW_TIE], 'pred'), regions,
                               outline_areas([BOW_TIE], 'pred'))
    # Small lobe 12 / 36, big lobe 48 / 36.
    np.testing.assert_allclose(coverage, [[1 / 3, 4 / 3]])
    np.testing.assert_allclose(coverage_matrix(to_geometries([BOW_TIE], 'pred'), regions),
                               [[0.2, 0.8]])
    with pytest.raises(ValueError, match='2 areas for 1 geometries'):
        coverage_matrix(to_geometries([BOW_TIE], 'pred'), regions, [1.0, 2.0])


def test_collinear_polygon_has_no_area_and_never_overlaps():
    flat = to_geometry([0, 0, 5, 0, 10, 0], 'line')
    assert flat.area == 0
    gts = to_geometries([box(0, -1, 10, 1)], 'gt')
    preds = np.array([flat], dtype=object)
    assert iou_matrix(gts, preds)[0, 0] == 0
    assert coverage_matrix(preds, gts)[0, 0] == 0  # no area: never a don't-care drop


def test_coverage_is_relative_to_the_prediction_area():
    preds = to_geometries([box(0, 0, 10, 10), box(0, 0, 4, 4)], 'pred')
    regions = to_geometries([box(5, 0, 100, 100)], 'dc')
    np.testing.assert_allclose(coverage_matrix(preds, regions), [[0.5], [0.0]])


def test_empty_inputs_give_empty_matrices():
    empty = to_geometries([], 'none')
    gts = to_geometries([box(0, 0, 1, 1)], 'gt')
    assert iou_matrix(gts, empty).shape == (1, 0)
    assert coverage_matrix(empty, gts).shape == (0, 1)


@pytest.mark.parametrize('coords,message', [
    ([0, 0, 1, 0, 1], 'odd number'),
    ([0, 0, 1, 1], 'at least 3 points'),
    ([0, 0, 1, 0, float('nan'), 1], 'non-finite'),
    (['a', 'b', 'c', 'd', 'e', 'f'], 'not a sequence of numbers'),
])
def test_bad_polygons_name_their_origin(coords, message):
    with pytest.raises(ValueError, match=f'img_7.jpg: prediction 2.*{message}'):
        to_geometry(coords, 'img_7.jpg: prediction 2')
    with pytest.raises(ValueError, match=f'img_7.jpg: prediction 2.*{message}'):
        outline_area(coords, 'img_7.jpg: prediction 2')
