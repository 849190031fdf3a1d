"""Fiducial-point generation: GT maps back to the GT fiducial points, and what gets dropped."""
from typing import List

import numpy as np
import pytest
import torch
from helpers import rect

from mmdld.models.utils.text_geometry import image_to_feature
from mmdld.models.text_perceptron.tp_head import TextPerceptronHead
from mmdld.models.text_perceptron.tp_points import generate_fiducial_points
from mmdld.models.text_perceptron.tp_targets import (BACKGROUND, HEAD, TAIL, gt_fiducial_points,
                                                     text_perceptron_targets)

pytestmark = pytest.mark.usefixtures('single_thread')

STRIDE = 4
K = 7
FEAT_SHAPE = (72, 80)  # a 320 x 288 px input


def rotated_quad(cx: float, cy: float, width: float, height: float, degrees: float) -> np.ndarray:
    """TL, TR, BR, BL of a ``width x height`` box turned ``degrees`` anticlockwise on screen."""
    a = np.deg2rad(degrees)
    corners = np.array([[-width / 2, -height / 2], [width / 2, -height / 2],
                        [width / 2, height / 2], [-width / 2, height / 2]])
    turn = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    # Anticlockwise on screen (y down) is a negative angle in the y-up frame.
    return (corners @ turn + [cx, cy]).reshape(-1)


def arch(cx: float, cy: float, r_top: float, r_bottom: float, a0: float, a1: float) -> np.ndarray:
    """A 14-point curved word along an arch: 7 points on radius ``r_top`` from angle ``a0`` to
    ``a1`` (degrees, left to right), then 7 on ``r_bottom`` back."""
    angles = np.deg2rad(np.linspace(a0, a1, 7))
    top = np.stack([cx + r_top * np.cos(angles), cy - r_top * np.sin(angles)], axis=1)
    bottom = np.stack([cx + r_bottom * np.cos(angles), cy - r_bottom * np.sin(angles)], axis=1)
    return np.concatenate([top, bottom[::-1]]).reshape(-1)


RECT = rect(16, 16, 136, 56)
QUAD = rotated_quad(230, 70, 120, 36, 20)
CURVE = arch(160, 330, 150, 112, 140, 40)


def perfect_maps(polygons) -> tuple:
    """The class probabilities and offsets of a perfect head (one-hot labels, GT offsets)."""
    targets = text_perceptron_targets(polygons, FEAT_SHAPE, STRIDE)
    probs = np.eye(5, dtype=np.float32)[targets['seg']].transpose(2, 0, 1)
    return probs, targets['reg'], targets


def match_errors(found: np.ndarray, polygons, frame: str) -> List[float]:
    """Per GT polygon, the largest point error of the nearest found instance."""
    errors = []
    for polygon in polygons:
        gt = gt_fiducial_points(polygon, K)
        if frame == 'feature':
            gt = image_to_feature(gt, STRIDE)
        errors.append(min(np.abs(points - gt).max() for points in found))
    return errors


def test_test_polygons_have_all_regions():
    # The maps the round trips start from: each polygon has its own head, tail and centre.
    _, _, targets = perfect_maps([RECT, QUAD, CURVE])
    for polygon in (RECT, QUAD, CURVE):
        alone = text_perceptron_targets([polygon], FEAT_SHAPE, STRIDE)['seg']
        assert set(np.unique(alone)) == {0, 1, 2, 3, 4}
        np.testing.assert_array_equal(targets['seg'][alone > 0], alone[alone > 0])


@pytest.mark.parametrize('polygons', [[RECT], [RECT, QUAD], [RECT, QUAD, CURVE]],
                         ids=['rectangle', 'rectangle+quad', 'rectangle+quad+curve'])
def test_round_trip_recovers_the_fiducial_points(polygons):
    probs, reg, _ = perfect_maps(polygons)
    points, scores = generate_fiducial_points(probs, reg, K)
    assert points.shape == (len(polygons), 2 * K, 2) and points.dtype == np.float32
    np.testing.assert_allclose(scores, 1.0)
    errors = match_errors(points, polygons, 'feature')
    # Straight sides come back exactly; on the curve the traced side cuts the polygon's
    # vertices within a bin (0.40 feature px measured): within half a feature pixel.
    assert max(errors[:2]) < 1e-4
    assert max(errors) < 0.5


def test_round_trip_through_the_head_in_image_pixels():
    polygons = [RECT, QUAD, CURVE]
    probs, reg, _ = perfect_maps(polygons)
    logits = torch.from_numpy(20.0 * probs)[None]
    head = TextPerceptronHead(in_channels=8, num_points_per_side=K)
    instances = head.predict(logits, torch.from_numpy(reg)[None], STRIDE)[0]
    assert len(instances) == 3
    assert max(match_errors(instances.fiducial_points.numpy(), polygons, 'image')) < STRIDE
    for box, points in zip(instances.bboxes.numpy(), instances.fiducial_points.numpy()):
        np.testing.assert_allclose(box, [*points.min(0), *points.max(0)])


def test_noisy_offsets_stay_within_a_stride():
    polygons = [RECT, QUAD, CURVE]
    probs, reg, _ = perfect_maps(polygons)
    noisy = reg + np.random.default_rng(0).normal(0.0, 0.3, reg.shape).astype(np.float32)
    points, _ = generate_fiducial_points(probs, noisy, K)
    assert len(points) == 3
    assert max(match_errors(points, polygons, 'feature')) < 1.0


def test_instances_without_head_or_tail_are_dropped():
    probs, reg, targets = perfect_maps([RECT, QUAD])
    no_head = probs.copy()
    # Remove the rectangle's head (columns x_f < 4 of its rows): only the quad is left.
    rows = slice(3, 14)
    region = targets['seg'][rows, :8] == HEAD
    no_head[HEAD, rows, :8][region] = 0.0
    no_head[BACKGROUND, rows, :8][region] = 1.0
    points, _ = generate_fiducial_points(no_head, reg, K)
    assert len(points) == 1
    assert match_errors(points, [QUAD], 'feature')[0] < 1e-3
    no_tail = probs.copy()
    no_tail[TAIL] = 0.0
    assert len(generate_fiducial_points(no_tail, reg, K)[0]) == 0


def test_thresholds_and_minimum_area():
    probs, reg, _ = perfect_maps([RECT])
    assert len(generate_fiducial_points(0.6 * probs, reg, K)[0]) == 1
    assert len(generate_fiducial_points(0.6 * probs, reg, K, centre_thr=0.7)[0]) == 0
    assert len(generate_fiducial_points(0.6 * probs, reg, K, end_thr=0.7)[0]) == 0
    centre_area = int((probs[1] > 0.5).sum())
    assert len(generate_fiducial_points(probs, reg, K, min_centre_area=centre_area)[0]) == 1
    assert len(generate_fiducial_points(probs, reg, K, min_centre_area=centre_area + 1)[0]) == 0


def test_degenerate_corners_are_dropped_without_error():
    probs, reg, _ = perfect_maps([RECT])
    # Every head and tail pixel regresses the same point: the sides have no length.
    collapsed = reg.copy()
    ys, xs = np.nonzero((probs[HEAD] > 0.5) | (probs[TAIL] > 0.5))
    collapsed[0:8, ys, xs] = (np.array([10.0, 5.0] * 4)[:, None] - np.stack([xs, ys] * 4))
    assert len(generate_fiducial_points(probs, collapsed, K)[0]) == 0
