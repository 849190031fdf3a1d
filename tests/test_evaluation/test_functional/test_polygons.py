"""Polygon IoU and don't-care coverage on shapely."""
import numpy as np
import pytest

from mmdld.evaluation.functional import coverage_matrix, iou_matrix, to_geometries, to_geometry


def box(x1, y1, x2, y2):
    return [x1, y1, x2, y1, x2, y2, x1, y2]


def test_iou_of_shifted_squares():
    gts = to_geometries([box(0, 0, 10, 10)], 'gt')
    preds = to_geometries([box(5, 0, 15, 10), box(20, 20, 30, 30), box(0, 0, 10, 10)], 'pred')
    np.testing.assert_allclose(iou_matrix(gts, preds), [[50 / 150, 0.0, 1.0]])


def test_nested_point_lists_and_arrays_are_accepted():
    as_pairs = to_geometry(np.array([[0, 0], [4, 0], [4, 2], [0, 2]], dtype=np.float32), 'p')
    assert as_pairs.area == pytest.approx(8.0)


def test_self_intersecting_polygon_keeps_both_lobes():
    bow_tie = [0, 0, 2, 2, 2, 0, 0, 2]  # edges cross at (1, 1)
    geometry = to_geometry(bow_tie, 'bow-tie')
    assert geometry.is_valid
    assert geometry.area == pytest.approx(2.0)
    iou = iou_matrix(to_geometries([box(0, 0, 2, 2)], 'gt'), to_geometries([bow_tie], 'pred'))
    assert iou[0, 0] == pytest.approx(0.5)
    self_iou = iou_matrix(to_geometries([bow_tie], 'a'), to_geometries([bow_tie], 'b'))
    assert self_iou[0, 0] == pytest.approx(1.0)


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
