"""The FLOP counter's handle of ``F.grid_sample`` (``aten::grid_sampler``) against hand counts."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmdld.models.task_modules import count_flops

pytestmark = pytest.mark.usefixtures('single_thread')


class GridSample(nn.Module):
    """``F.grid_sample(x, grid, mode)`` as a module (what the counter traces)."""

    def __init__(self, mode):
        super().__init__()
        self.mode = mode

    def forward(self, x, grid):
        return F.grid_sample(x, grid, mode=self.mode, align_corners=False)


@pytest.mark.parametrize('mode, taps', [('bilinear', 4), ('nearest', 1), ('bicubic', 16)])
def test_grid_sample_is_taps_per_output_element_and_channel(mode, taps):
    # 2 images x 3 channels, sampled on a 4 x 7 grid: 2 * 3 * 4 * 7 = 168 output elements.
    count = count_flops(GridSample(mode), (torch.randn(2, 3, 5, 6), torch.rand(2, 4, 7, 2)))
    assert count.total == taps * 168
    assert count.by_operator == {'grid_sampler': taps * 168}
    assert 'aten::grid_sampler' not in count.unsupported


def test_volumetric_grid_sample_is_trilinear():
    # 1 x 2 channels on a 3 x 4 x 5 grid: 120 output elements, 8 taps each.
    count = count_flops(GridSample('bilinear'),
                        (torch.randn(1, 2, 4, 5, 6), torch.rand(1, 3, 4, 5, 3)))
    assert count.total == 8 * 120


def test_each_call_is_counted_with_its_own_output():
    class Both(nn.Module):

        def forward(self, x, grid):
            half = grid[:, :2]  # 2 x 7 of the 4 x 7 grid
            return (F.grid_sample(x, grid, mode='bilinear', align_corners=False),
                    F.grid_sample(x, half, mode='nearest', align_corners=False))

    count = count_flops(Both(), (torch.randn(1, 3, 5, 6), torch.rand(1, 4, 7, 2)))
    assert count.total == 4 * 3 * 4 * 7 + 1 * 3 * 2 * 7
