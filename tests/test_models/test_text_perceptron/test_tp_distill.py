"""DLD (the unchanged ``DLDDistiller``) with Text Perceptron as teacher and student."""
import pytest
import torch
from distill_checks import (assert_a_step_moves_the_student_only, predict_two_images, tiny_dld,
                            two_images)
from tiny_text_perceptron import tiny_spotter_cfg

pytestmark = pytest.mark.usefixtures('single_thread')

SCALES = (0.75, 0.5)


def test_dld_trains_and_predicts_text_perceptron():
    model = tiny_dld(tiny_spotter_cfg(), SCALES)
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

    assert_a_step_moves_the_student_only(model)

    predict_two_images(model, SCALES)
