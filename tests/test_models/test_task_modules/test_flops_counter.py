"""The project's one FLOP counter against hand counts (one multiply-add = one FLOP)."""
import functools
import os.path as osp

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from helpers import CONFIG_DIR, batch, packed_sample, rect
from mmcv.ops import RoIAlign
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.config import Config
from mmengine.structures import InstanceData

from mmdld.evaluation.cost import count_inference_flops
from mmdld.models.rec_heads.attention_decoder import AdditiveAttentionDecoderCell
from mmdld.models.task_modules import (FlopCount, count_flops, count_predict_flops,
                                       flatten_tensors, inference_only,
                                       roi_align_sampling_points, spotter_parts)
from mmdld.registry import MODELS

pytestmark = pytest.mark.usefixtures('single_thread')

TINY = osp.join(CONFIG_DIR, 'spotter', 'maskrcnn_r18_fpn_spotter_synthetic_tiny.py')


class Call(nn.Module):
    """``fn(*inputs)`` with the modules it uses as children (what the counter traces)."""

    def __init__(self, fn, **modules):
        super().__init__()
        self.fn = fn
        for name, module in modules.items():
            self.add_module(name, module)

    def forward(self, *inputs):
        return self.fn(self, *inputs)


def test_conv_is_cout_cin_k_k_hout_wout_over_groups():
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2)
    count = count_flops(conv, (torch.randn(1, 4, 9, 11), ))
    # Output 5 x 6; each output element: Cin / groups * 3 * 3 multiply-adds.
    assert count.total == 6 * (4 // 2) * 3 * 3 * 5 * 6


def test_linear_and_bmm():
    linear = nn.Linear(7, 3)
    assert count_flops(linear, (torch.randn(2, 5, 7), )).total == 2 * 5 * 7 * 3
    bmm = Call(lambda _, a, b: torch.bmm(a, b))
    assert count_flops(bmm, (torch.randn(2, 3, 4), torch.randn(2, 4, 5))).total == 2 * 3 * 4 * 5


def test_lstm_is_seq_batch_gates_per_direction_and_layer():
    lstm = nn.LSTM(4, 5, batch_first=True)
    steps = 6 * 2  # T x B
    one_direction = steps * (4 * 5 * 4 + 4 * 5 * 5)
    assert count_flops(lstm, (torch.randn(2, 6, 4), )).total == one_direction
    bilstm = nn.LSTM(4, 5, num_layers=2, batch_first=True, bidirectional=True)
    # The second layer reads both directions of the first (I = 2H = 10).
    second_layer = steps * (4 * 5 * 10 + 4 * 5 * 5)
    count = count_flops(bilstm, (torch.randn(2, 6, 4), ))
    assert count.total == 2 * (one_direction + second_layer)
    assert count.by_operator == {'lstm': count.total}


def test_rnn_cells_unrolled_t_steps_cost_t_steps():
    def unroll(module, x):
        h, c = x.new_zeros(3, 5), x.new_zeros(3, 5)
        g = x.new_zeros(3, 5)
        for _ in range(4):
            h, c = module.lstm(x, (h, c))
            g = module.gru(x, g)
        return h, g

    cells = Call(unroll, lstm=nn.LSTMCell(4, 5), gru=nn.GRUCell(4, 5))
    count = count_flops(cells, (torch.randn(3, 4), ))
    lstm_step = 3 * (4 * 5 * 4 + 4 * 5 * 5)
    gru_step = 3 * (3 * 5 * 4 + 3 * 5 * 5)
    assert count.by_module['lstm'] == 4 * lstm_step
    assert count.by_module['gru'] == 4 * gru_step
    assert count.total == 4 * (lstm_step + gru_step)


def test_roi_align_is_4_per_sampling_point_channel_and_bin():
    feat = torch.randn(1, 4, 16, 16)
    # On the map (scale 0.5): 6 x 4 and 15 x 5 (w x h) for an output of 2 x 3 (h x w).
    rois = torch.tensor([[0., 2., 2., 14., 10.], [0., 0., 4., 30., 14.]])
    fixed = RoIAlign((2, 3), spatial_scale=0.5, sampling_ratio=2, aligned=True)
    bins = 4 * 2 * 3  # channels x output bins
    assert count_flops(fixed, (feat, rois)).total == 4 * (2 * 2 ** 2) * bins
    # Adaptive sampling: ceil(4 / 2) x ceil(6 / 3) = 4 points and ceil(5 / 2) x ceil(15 / 3) = 15.
    adaptive = RoIAlign((2, 3), spatial_scale=0.5, sampling_ratio=0, aligned=True)
    count = count_flops(adaptive, (feat, rois))
    assert count.total == 4 * (4 + 15) * bins
    assert count.by_operator == {'roi_align': count.total}
    assert roi_align_sampling_points(rois, (2, 3), 0.5, 0, True) == 19


def test_roi_align_sampling_follows_mmcv_for_tiny_and_empty_rois():
    rois = torch.tensor([[0., 3., 3., 3.5, 3.5], [0., 5., 5., 5., 5.]])
    # Not aligned: sizes at least 1 -> one point per bin each.
    assert roi_align_sampling_points(rois, (2, 2), 1.0, 0, False) == 2
    # Aligned: a zero-size RoI samples nothing.
    assert roi_align_sampling_points(rois, (2, 2), 1.0, 0, True) == 1


def test_each_roi_align_call_is_counted_with_its_own_rois():
    layer = RoIAlign((2, 2), spatial_scale=1.0, sampling_ratio=0, aligned=True)
    big, small = torch.tensor([[0., 0., 0., 8., 8.]]), torch.tensor([[0., 0., 0., 2., 2.]])
    twice = Call(lambda m, x, a, b: (m.layer(x, a), m.layer(x, b)), layer=layer)
    count = count_flops(twice, (torch.randn(1, 3, 8, 8), big, small))
    # 4 x 4 points per bin, then 1 x 1.
    assert count.total == 4 * (16 + 1) * 3 * 2 * 2


def test_a_product_reduced_by_a_sum_is_a_contraction():
    glimpse = Call(lambda _, attn, ctx: (attn * ctx).sum(dim=1))
    attn, ctx = torch.rand(2, 7, 1), torch.randn(2, 7, 6)
    assert count_flops(glimpse, (attn, ctx)).total == 2 * 7 * 6  # what bmm would count
    # Element-wise products and plain sums stay uncounted (and are listed).
    count = count_flops(Call(lambda _, a, b: (a * b, a.sum())), (ctx, ctx))
    assert count.total == 0 and count.unsupported['aten::mul'] == 1


def test_attention_decoder_step_by_hand():
    n, t, d, e, a, h, c = 3, 5, 8, 4, 6, 7, 9
    cell = AdditiveAttentionDecoderCell(c, context_dims=d, embed_dims=e, attn_dims=a,
                                        hidden_dims=h)

    def decode(module, context):
        state = module.cell.init_state(context)
        prev = torch.zeros(n, dtype=torch.long)
        steps = []
        for _ in range(2):
            log_probs, state = module.cell(context, prev, state)
            steps.append(log_probs)  # a trace drops what reaches no output
        return steps

    count = count_flops(Call(decode, cell=cell), (torch.randn(n, t, d), ))
    keys = n * t * d * a  # once per sequence
    step = (n * h * a  # query projection
            + n * t * a  # energy (A -> 1 at every position)
            + n * t * d  # glimpse: sum over positions of alpha * context
            + n * (3 * h * (e + d) + 3 * h * h)  # GRU cell
            + n * (h + d) * c)  # classifier
    assert count.total == keys + 2 * step


def test_antialiased_resize_is_two_separable_passes():
    resize = Call(lambda _, x: F.interpolate(x, size=(8, 8), mode='bilinear', antialias=True))
    count = count_flops(resize, (torch.randn(1, 3, 32, 48), ))
    # Width 48 -> 8: 12 taps for 32 x 8 outputs; height 32 -> 8: 8 taps for 8 x 8 outputs.
    assert count.total == 3 * (32 * 8 * 12 + 8 * 8 * 8)


def test_flatten_tensors_walks_containers_data_elements_and_boxes_in_order():
    a, b, c, d = (torch.full((2, ), float(i)) for i in range(4))
    boxes = HorizontalBoxes(torch.zeros(2, 4))
    instances = InstanceData(metainfo=dict(img_shape=(8, 8)), scores=c, bboxes=boxes,
                             texts=['word', 'other'])
    found = flatten_tensors((a, [dict(x=b, name='skipped', n=3), instances], None, d))
    assert [id(t) for t in found] == [id(a), id(b), id(c), id(boxes.tensor), id(d)]
    assert flatten_tensors('text') == [] and flatten_tensors(boxes) == [boxes.tensor]


def test_inference_only_switches_off_evaluation_aids_and_restores_them():
    head = nn.Module()
    head.test_cfg = dict(rec_on_gt=True, score_thr=0.5)
    model = nn.Sequential(head)
    with inference_only(model):
        assert head.test_cfg == dict(rec_on_gt=False, score_thr=0.5)
    assert head.test_cfg == dict(rec_on_gt=True, score_thr=0.5)


def test_spotter_parts_group_modules_and_keep_the_rest_as_other():
    count = FlopCount(
        total=100, by_operator=dict(conv=90, roi_align=4), unsupported=None,
        by_module={'': 100, 'selector': 2, 'student': 97, 'student.backbone': 50,
                   'student.roi_head.bbox_roi_extractor': 3,
                   'student.roi_head.rec_roi_extractor': 2, 'student.roi_head.rec_head.lstm': 7})
    assert spotter_parts(count) == {
        'DRS': 2, 'backbone': 50, 'RoI extractors': 5, 'BiLSTM': 7, 'other': 36, 'RoIAlign': 4,
        'total': 100}


# ----------------------------------------------------------------------------- whole models
def _spotter_cfg():
    cfg = Config.fromfile(TINY).model
    # Random weights score low: keep two detections so that every head runs.
    cfg.test_cfg.rcnn.update(score_thr=0.0, max_per_img=2)
    return cfg


packed = functools.partial(packed_sample, shape=(96, 128), seed=0)


def test_a_spotter_test_step_counts_every_part_and_leaves_out_rec_on_gt():
    cfg = _spotter_cfg()
    cfg.test_cfg.rcnn.rec_on_gt = True
    model = MODELS.build(cfg).eval()
    data = model.data_preprocessor(batch(packed([rect(10, 20, 110, 45)], ['hello'])), False)
    with torch.no_grad():
        count, results = count_predict_flops(model, data['inputs'], data['data_samples'])
    assert len(results[0].pred_instances) == 2
    assert 'pred_gt_texts' not in results[0]  # the GT boxes were not read
    assert model.roi_head.test_cfg.rec_on_gt  # and the setting is back
    parts = spotter_parts(count)
    for part in ('backbone', 'neck', 'RPN', 'box head', 'mask head', 'RoI extractors',
                 'recognition convs', 'BiLSTM', 'decoder'):
        assert parts[part] > 0, part
    assert 0 < parts['RoIAlign'] < parts['RoI extractors']
    # The BiLSTM by hand: 2 crops x T = 32 positions, both directions of LSTM(I -> H).
    lstm = model.roi_head.rec_head.lstm
    hidden, inputs = lstm.hidden_size, lstm.input_size
    assert parts['BiLSTM'] == 2 * 2 * 32 * (4 * hidden * inputs + 4 * hidden * hidden)
    assert sum(v for k, v in parts.items() if k not in ('RoIAlign', 'total')) == count.total


def test_the_drs_is_counted_in_a_dld_test_step():
    cfg = _spotter_cfg()
    model = MODELS.build(dict(
        type='DLDDistiller', student=cfg, teacher=cfg,
        selector=dict(type='DynamicResolutionSelector', scales=(0.8, 0.5),
                      input_size=(32, 32)),
        scale_costs=[0.8, 0.5], scale_gflops=[1., 1.], selector_gflops=0.01)).eval()
    result = count_inference_flops(model, batch(packed([rect(10, 20, 110, 45)], ['hello'])))
    # The DRS by hand on its 32 x 32 copy of the 96 x 128 image: stem conv 3 -> 16 (stride 2)
    # and three residual layers (3x3 s2, 3x3, 1x1 s2 projection), each BatchNorm 2 FLOPs per
    # element, global average pooling, FC 128 -> 2, the anti-aliased resize (taps 8 and 6).
    convs = 16 * 27 * 16**2 + sum(
        c * (9 * c // 2 + 9 * c + c // 2) * s**2 for c, s in ((32, 4), (64, 2), (128, 1)))
    norms = 2 * (16 * 16**2 + sum(3 * c * s**2 for c, s in ((32, 4), (64, 2), (128, 1))))
    resize = 3 * (96 * 32 * 8 + 32 * 32 * 6)
    assert result['parts']['DRS'] == convs + norms + 128 + 128 * 2 + resize
    assert result['parts']['backbone'] > 0 and result['dld_scale'] in ([0.8], [0.5])
