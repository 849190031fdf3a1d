"""Tests of tools/analysis_tools/mango_char_attention.py on the tiny MANGO spotter."""
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from helpers import batch, packed_sample, rect

# The tiny MANGO of the model tests (its folder has no __init__.py).
sys.path.append(osp.join(osp.dirname(osp.dirname(__file__)), 'test_models', 'test_mango'))
from tiny_mango import build_tiny_spotter  # noqa: E402

pytestmark = pytest.mark.usefixtures('single_thread')


def test_centroid_errors_are_in_character_spacings_and_the_summary_counts_positions(load_tool):
    tool = load_tool('tools/analysis_tools/mango_char_attention.py')
    spotter = build_tiny_spotter(det_head=dict(
        type='MANGOHead', in_channels=16, feat_channels=16, kernel_channels=8, num_grid=8,
        num_positions=9, num_convs=1, char_position_prior=True)).eval()
    # One horizontal word 'abcd' from x 16 to 112 px (y 16-48): pseudo character centres
    # every 24 px from x 28, i.e. feature x 6.5, 12.5, 18.5, 24.5 at y 7.5 (stride 4, pixel
    # centres at integers).
    data = spotter.data_preprocessor(
        batch(packed_sample([rect(16, 16, 112, 48)], ['abcd'], shape=(128, 128), seed=1)),
        False)
    feat = spotter.extract_feat(data['inputs'])[0]
    cell = int(spotter._centre_cells(feat, [data['data_samples'][0].gt_instances])[1][0])
    # Zero mask features (no content term) and a position prior so sharp that it alone places
    # each attention: on its character's centre, except character 0, one spacing (6 feature
    # px) to the right. The 32 x 32 map has 8 cells a side: feature x is (x + 0.5) / 4 in cell
    # units, the cell's centre j + 0.5.
    wanted = np.array([[12.5, 7.5], [12.5, 7.5], [18.5, 7.5], [24.5, 7.5]])
    head = spotter.det_head
    with torch.no_grad():
        head.conv_mask.weight.zero_()
        head.conv_mask.bias.zero_()
        head.conv_char_pos.weight.zero_()
        bias = head.conv_char_pos.bias.view(9, 3)
        bias.zero_()
        bias[:, 2] = 200.
        for pos, (x, y) in enumerate(wanted):
            bias[pos, 0] = (x + .5) / 4 - (cell % 8 + .5)
            bias[pos, 1] = (y + .5) / 4 - (cell // 8 + .5)
    [record] = tool.word_records(spotter, data)
    assert record['text'] == 'abcd' and record['spacing_px'] == pytest.approx(24.)
    np.testing.assert_allclose(record['centroid_error'], [1., 0., 0., 0.], atol=1e-3)
    assert len(record['char_correct']) == 4
    short = dict(record, text='a', read='a', centroid_error=[3.], char_correct=[True])
    summary = tool.summarise([record, short])
    assert summary['words'] == 2 and summary['word_accuracy'] == 0.5
    assert [r['words'] for r in summary['positions']] == [2, 1, 1, 1]
    assert summary['positions'][0]['median_error'] == pytest.approx(2., abs=1e-3)
    assert summary['positions'][0]['char_accuracy'] == pytest.approx(
        (record['char_correct'][0] + 1) / 2)
