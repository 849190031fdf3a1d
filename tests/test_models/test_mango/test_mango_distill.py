"""DLD (the unchanged ``DLDDistiller``) with MANGO as teacher and student."""
import pytest
import torch
from helpers import batch, packed_sample, rect
from mmengine.optim import OptimWrapper
from tiny_mango import tiny_spotter_cfg

from mmdld.models.distillers import DLDDistiller
from mmdld.registry import MODELS

pytestmark = pytest.mark.usefixtures('single_thread')

SCALES = (0.75, 0.5)


def build_dld() -> DLDDistiller:
    # Every cell is a candidate, so that the untrained student reports words (and the cost
    # table counts their reading).
    spotter = tiny_spotter_cfg(test_cfg=dict(cell_score_thr=0., filter_thr=0., max_per_img=5))
    return MODELS.build(
        dict(type='DLDDistiller', student=spotter, teacher=spotter,
             selector=dict(type='DynamicResolutionSelector', scales=SCALES, input_size=(16, 16),
                           channels=(4, 8))))


def two_images():
    return batch(
        packed_sample([rect(8, 8, 120, 40), rect(16, 56, 150, 96)], ['ab', 'cde'],
                      shape=(128, 160), ignored=[rect(100, 100, 150, 120)], seed=1),
        packed_sample([rect(10, 30, 100, 70)], ['b'], shape=(96, 128), seed=2))


def test_dld_trains_and_predicts_mango():
    model = build_dld()
    assert model.roi_align is None  # same sequence features: no connector
    model.train()
    data = model.data_preprocessor(two_images(), True)
    losses = model(**data, mode='loss')
    # T_i measured on this batch, by tracing the student's test step at each scale.
    assert model.costs_ready and 0 < model.scale_costs[1] < model.scale_costs[0] < 1
    for key in ('loss_cate', 'loss_mask', 'loss_rec', 'loss_skd_roi', 'loss_skd_con',
                'loss_skd_seq', 'loss_drs_acc', 'loss_drs_flops'):
        assert torch.isfinite(losses[key]), key
    # The student starts as the teacher but reads the images at a lower resolution.
    assert losses['loss_skd_roi'] > 0 and losses['loss_skd_seq'] > 0
    # The k scale passes ran on the folded copy of the backbone and FPN.
    assert model.scale_pass.extractor is not None
    assert len(model.scale_pass.extractor.folded_pairs) > 0
    # Recognition and L_roi reach the student's backbone and its character attention.
    params = [model.student.backbone.conv1.weight, model.student.det_head.conv_cma.weight]
    grads = torch.autograd.grad(losses['loss_rec'] + losses['loss_skd_roi'], params,
                                retain_graph=True)
    assert all(g.abs().sum() > 0 for g in grads)
    # L_seq reaches the student's decoder through the teacher's exact top-K sequences.
    [grad] = torch.autograd.grad(losses['loss_skd_seq'], [model.student.rec_head.fc.weight],
                                 retain_graph=True)
    assert grad.abs().sum() > 0

    before = {name: [p.detach().clone() for p in part.parameters()]
              for name, part in (('student', model.student), ('teacher', model.teacher))}
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    log_vars = model.train_step(two_images(), optim)
    assert torch.isfinite(log_vars['loss'])
    for name, part in (('student', model.student), ('teacher', model.teacher)):
        moved = [not torch.equal(a, b) for a, b in zip(before[name], part.parameters())]
        assert any(moved) == (name == 'student'), name

    model.eval()
    with torch.no_grad():
        results = model(**model.data_preprocessor(two_images(), False), mode='predict')
    assert sum(len(r.pred_instances) for r in results) > 0
    for result in results:
        assert result.dld_scale in SCALES
        assert result.dld_gflops == pytest.approx(
            model.gflops_at(SCALES.index(result.dld_scale)))
        pred = result.pred_instances
        assert len(pred.polygons) == len(pred.texts) == len(pred.scores) <= 5
        assert all(p.shape == (8, ) for p in pred.polygons)
