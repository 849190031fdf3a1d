"""Text Perceptron's Shape Transform Module: the TPS warp against crops and hand coordinates."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmdld.models.task_modules import count_flops
from mmdld.models.text_perceptron.shape_transform import (ShapeTransformModule,
                                                          edge_target_points,
                                                          tps_interpolation_weights)
from mmdld.registry import MODELS

pytestmark = pytest.mark.usefixtures('single_thread')

K = 7  # points per side
STRIDE = 4  # input pixels per feature pixel (spatial_scale 0.25)


def side_points(start, end, num=K):
    """``num`` points evenly from ``start`` to ``end`` (x, y), a [num, 2] float32 tensor."""
    start, end = torch.tensor(start, dtype=torch.float32), torch.tensor(end, dtype=torch.float32)
    return start + torch.linspace(0, 1, num)[:, None] * (end - start)


def quad_points(tl, tr, br, bl):
    """Fiducial points of a quadrilateral: top TL -> TR, then bottom BL -> BR ([2K, 2])."""
    return torch.cat([side_points(tl, tr), side_points(bl, br)])


def coordinate_map(height, width):
    """[1, 2, H, W] map whose channels are each pixel centre's x and y (feature pixels)."""
    ys, xs = torch.meshgrid(torch.arange(height) + 0.5, torch.arange(width) + 0.5, indexing='ij')
    return torch.stack([xs, ys])[None].float()


def curved_points():
    """A word along an arc (top radius 100, bottom 60, centre (160, 130)): input pixels."""
    angles = torch.linspace(math.radians(200), math.radians(340), K)
    top = torch.stack([160 + 100 * torch.cos(angles), 130 + 100 * torch.sin(angles)], 1)
    bottom = torch.stack([160 + 60 * torch.cos(angles), 130 + 60 * torch.sin(angles)], 1)
    return torch.cat([top, bottom]).float()


@pytest.fixture(scope='module')
def module():
    return ShapeTransformModule(output_size=(8, 32), num_points_per_side=K, spatial_scale=0.25)


def test_is_registered_and_keeps_nothing_in_checkpoints():
    built = MODELS.build(dict(type='ShapeTransformModule', output_size=(4, 16),
                              num_points_per_side=5))
    assert isinstance(built, ShapeTransformModule)
    assert built.grid_weights.shape == (4 * 16, 10)
    assert built.state_dict() == {}  # derived buffers, not persistent


def test_the_spline_interpolates_its_control_points_and_reproduces_affine_maps():
    control = edge_target_points((8, 32), K) / 8
    identity = torch.eye(2 * K, dtype=torch.float64)
    assert torch.allclose(tps_interpolation_weights(control, control), identity, atol=1e-9)
    # Values that are an affine function of the control points come out as that function
    # of any query point (no bending).
    query = torch.rand(20, 2, dtype=torch.float64) * torch.tensor([4., 1.], dtype=torch.float64)
    matrix = torch.tensor([[2., -1.], [0.5, 3.]], dtype=torch.float64)
    offset = torch.tensor([7., -2.], dtype=torch.float64)
    values = control @ matrix.T + offset
    assert torch.allclose(tps_interpolation_weights(query, control) @ values,
                          query @ matrix.T + offset, atol=1e-9)


def test_target_points_lie_on_the_output_edges():
    points = edge_target_points((8, 32), 5)
    assert points.tolist() == [[0, 0], [8, 0], [16, 0], [24, 0], [32, 0],
                               [0, 8], [8, 8], [16, 8], [24, 8], [32, 8]]


def test_an_axis_aligned_rectangle_is_a_crop_and_a_bilinear_resize(module):
    feats = torch.randn(1, 3, 24, 80)
    # Feature rectangle x 8..40, y 4..12 (input pixels x 4): exactly 8 x 32 feature pixels.
    same_size = quad_points((32., 16.), (160., 16.), (160., 48.), (32., 48.))
    out = module(feats, [same_size[None]])
    assert torch.allclose(out, feats[:, :, 4:12, 8:40], atol=1e-4)
    # Feature rectangle x 8..72, y 4..20: a 2x bilinear downsampling of that crop.
    double = quad_points((32., 16.), (288., 16.), (288., 80.), (32., 80.))
    crop = F.interpolate(feats[:, :, 4:20, 8:72], size=(8, 32), mode='bilinear',
                         align_corners=False)
    assert torch.allclose(module(feats, [double[None]]), crop, atol=1e-4)


def test_a_parallelogram_samples_the_affine_image_of_each_output_pixel(module):
    tl, tr, br, bl = (40., 20.), (200., 20.), (230., 70.), (70., 70.)
    out = module(coordinate_map(30, 80), [quad_points(tl, tr, br, bl)[None]])
    # By hand, output pixel (0, 0): u = 0.5 / 32, v = 0.5 / 8 of the way along TL->TR, TL->BL.
    # x = 40 + 160 / 64 + 30 / 16 = 44.375, y = 20 + 50 / 16 = 23.125 (input pixels).
    assert out[0, :, 0, 0].tolist() == pytest.approx([44.375 / 4, 23.125 / 4], abs=1e-3)
    # Pixel (7, 31): u = 31.5 / 32, v = 7.5 / 8: x = 40 + 157.5 + 28.125, y = 20 + 46.875.
    assert out[0, :, 7, 31].tolist() == pytest.approx([225.625 / 4, 66.875 / 4], abs=1e-3)
    # Every pixel: TL + u (TR - TL) + v (BL - TL).
    v, u = torch.meshgrid((torch.arange(8) + 0.5) / 8, (torch.arange(32) + 0.5) / 32,
                          indexing='ij')
    expected_x = 40 + u * 160 + v * 30
    expected_y = 20 + v * 50
    assert torch.allclose(out[0, 0], expected_x / STRIDE, atol=1e-3)
    assert torch.allclose(out[0, 1], expected_y / STRIDE, atol=1e-3)


def test_a_rotated_rectangle_reads_along_its_own_axes(module):
    # 160 x 40 box centred at (160, 100), rotated by 30 degrees (clockwise on screen: y down).
    angle = math.radians(30)
    along = torch.tensor([math.cos(angle), math.sin(angle)])
    across = torch.tensor([-math.sin(angle), math.cos(angle)])
    centre = torch.tensor([160., 100.])
    tl = centre - 80 * along - 20 * across
    corners = [tl, tl + 160 * along, tl + 160 * along + 40 * across, tl + 40 * across]
    out = module(coordinate_map(50, 80), [quad_points(*[c.tolist() for c in corners])[None]])
    for i, j in ((0, 0), (3, 16), (7, 31), (4, 5)):
        expected = tl + (j + 0.5) / 32 * 160 * along + (i + 0.5) / 8 * 40 * across
        assert out[0, :, i, j].tolist() == pytest.approx((expected / STRIDE).tolist(),
                                                         abs=1e-3), (i, j)


def test_point_order_sets_the_reading_direction(module):
    feats = torch.randn(1, 4, 64, 80)
    points = curved_points()
    out = module(feats, [points[None]])
    top, bottom = points[:K], points[K:]
    # Right to left on both sides: the same region read mirrored.
    mirrored = torch.cat([top.flip(0), bottom.flip(0)])
    assert torch.allclose(module(feats, [mirrored[None]]), out.flip(-1), atol=1e-4)
    # Top and bottom swapped: upside down.
    upside_down = torch.cat([bottom, top])
    assert torch.allclose(module(feats, [upside_down[None]]), out.flip(-2), atol=1e-4)
    assert not torch.allclose(out, out.flip(-1), atol=1e-2)  # the test can tell


def test_a_curved_word_follows_its_arc(module):
    # The middle column of the output (between pixels 15 and 16) is the arc's axis x = 160;
    # rows 0 and 7 read 1/16 of the 40-pixel height inside the outer (100) and inner (60) arcs,
    # at radii 97.5 and 62.5 up to the spline's bending between the points (measured: 1 px).
    out = module(coordinate_map(64, 80), [curved_points()[None]])
    middle_x = (out[0, 0, :, 15] + out[0, 0, :, 16]) / 2
    assert torch.allclose(middle_x, torch.full((8, ), 160. / STRIDE), atol=1e-3)
    radius = ((out[0, 0] - 160 / STRIDE)**2 + (out[0, 1] - 130 / STRIDE)**2).sqrt() * STRIDE
    assert 96 < radius[0].min() and radius[0].max() < 99
    assert 61 < radius[7].min() and radius[7].max() < 64


def test_instances_of_several_images_come_out_in_image_order(module):
    feats = torch.randn(3, 2, 24, 80)
    first = torch.stack([quad_points((32., 16.), (160., 16.), (160., 48.), (32., 48.)),
                         curved_points() / 2])
    third = quad_points((40., 20.), (200., 20.), (230., 70.), (70., 70.))[None]
    out = module(feats, [first, np.zeros((0, 2 * K, 2), np.float32), third.numpy()])
    assert out.shape == (3, 2, 8, 32)
    assert torch.allclose(out[:2], module(feats[:1], [first]), atol=1e-6)
    assert torch.allclose(out[2:], module(feats[2:], [third]), atol=1e-6)
    assert torch.allclose(out[0], feats[0, :, 4:12, 8:40], atol=1e-4)


def test_gradients_reach_only_the_sampled_region(module):
    feats = torch.randn(2, 3, 24, 80, requires_grad=True)
    # A 2x downsampling of feature pixels x 8..72, y 4..20: every output pixel is the mean of
    # one 2 x 2 block, so each pixel of the region gets 1/4 of its output's gradient.
    double = quad_points((32., 16.), (288., 16.), (288., 80.), (32., 80.))
    module(feats, [double[None], torch.zeros(0, 2 * K, 2)]).sum().backward()
    expected = torch.zeros_like(feats)
    expected[0, :, 4:20, 8:72] = 0.25
    assert torch.allclose(feats.grad, expected, atol=1e-4)


def test_no_instance_gives_an_empty_result_in_the_graph(module):
    feats = torch.randn(2, 3, 24, 80, requires_grad=True)
    out = module(feats, [torch.zeros(0, 2 * K, 2), np.zeros((0, 2 * K, 2))])
    assert out.shape == (0, 3, 8, 32) and out.grad_fn is not None
    out.sum().backward()
    assert torch.equal(feats.grad, torch.zeros_like(feats))


def test_low_precision_maps_keep_their_dtype_and_the_float32_grid():
    module = ShapeTransformModule()
    feats = coordinate_map(30, 80).to(torch.bfloat16)
    out = module(feats, [quad_points((40., 20.), (200., 20.), (230., 70.), (70., 70.))[None]])
    assert out.dtype == torch.bfloat16
    # Pixel (7, 31) at x = 56.41: bfloat16's own rounding there is 0.125, the value's only.
    assert out[0, 0, 7, 31].item() == pytest.approx(225.625 / 4, abs=0.13)


def test_bad_points_are_named():
    module = ShapeTransformModule()
    feats = torch.zeros(2, 1, 8, 8)
    with pytest.raises(ValueError, match=r'`batch_points` has 1 entries for a batch of 2'):
        module(feats, [torch.zeros(0, 14, 2)])
    with pytest.raises(ValueError, match=r'fiducial points of image 1 have shape \(3, 10, 2\); '
                       r'expected \(n, 14, 2\) \(7 per side\)'):
        module(feats, [torch.zeros(0, 14, 2), torch.zeros(3, 10, 2)])
    with pytest.raises(ValueError, match='`num_points_per_side` must be at least 2, got 1'):
        ShapeTransformModule(num_points_per_side=1)


def test_flops_are_the_grid_product_and_four_per_sample_and_channel(module):
    feats = torch.randn(2, 3, 24, 80)
    points = [curved_points()[None].repeat(2, 1, 1), curved_points()[None]]
    count = count_flops(module, (feats, ), kwargs=dict(batch_points=points))
    pixels = 8 * 32
    # Grid: 3 instances x 2 coordinates x 2K weights per output pixel; sampling: 4 x C per
    # output pixel and instance.
    assert count.by_operator == {'linear': 3 * 2 * 2 * K * pixels,
                                 'grid_sampler': 4 * 3 * 3 * pixels}
