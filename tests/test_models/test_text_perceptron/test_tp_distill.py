"""DLD (the unchanged ``DLDDistiller``) with Text Perceptron as teacher and student."""
import pytest
import torch
from helpers import batch, packed_sample, rect
from mmengine.optim import OptimWrapper
from tiny_text_perceptron import tiny_spotter_cfg

from mmdld.models.distillers import DLDDistiller
from mmdld.registry import MODELS

pytestmark = pytest.mark.usefixtures('single_thread')

SCALES = (0.75, 0.5)


def build_dld() -> DLDDistiller:
    spotter = tiny_spotter_cfg()
    return MODELS.build(
        dict(type='DLDDistiller', student=spotter, teacher=spotter,
             selector=dict(type='DynamicResolutionSelector', scales=SCALES, input_size=(16, 16),
                           channels=(4, 8))))


def two_images():
    return batch(
        packed_sample([rect(8, 8, 120, 40), rect(16, 56, 150, 96)], ['ab', 'cde'],
                      shape=(128, 160), ignored=[rect(100, 100, 150, 120)], seed=1),
        packed_sample([rect(10, 30, 100, 70)], ['b'], shape=(96, 128), seed=2))


def test_dld_trains_and_predicts_text_perceptron():
    model = build_dld()
    assert model.roi_align is None  # same crops: no connector
    model.train()
    data = model.data_preprocessor(two_images(), True)
    losses = model(**data, mode='loss')
    # T_i measured on this batch, by tracing the student's test step at each scale.
    assert model.costs_ready and 0 < model.scale_costs[1] < model.scale_costs[0] < 1
    for key in ('loss_tp_seg', 'loss_tp_reg', 'loss_rec', 'loss_skd_roi', 'loss_skd_con',
                'loss_skd_seq', 'loss_drs_acc', 'loss_drs_flops'):
        assert torch.isfinite(losses[key]), key
    # The student starts as the teacher but reads the images at a lower resolution.
    assert losses['loss_skd_roi'] > 0 and losses['loss_skd_seq'] > 0
    # The k scale passes ran on the folded copy of the backbone and FPN.
    assert model.scale_pass.extractor is not None
    assert len(model.scale_pass.extractor.folded_pairs) > 0
    # Recognition and L_roi reach the student's backbone through its STM crops.
    [grad] = torch.autograd.grad(losses['loss_rec'] + losses['loss_skd_roi'],
                                 [model.student.backbone.conv1.weight], retain_graph=True)
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
    for result in results:
        assert result.dld_scale in SCALES
        assert result.dld_gflops == pytest.approx(
            model.gflops_at(SCALES.index(result.dld_scale)))
        pred = result.pred_instances
        assert len(pred.polygons) == len(pred.texts) == len(pred.scores)
