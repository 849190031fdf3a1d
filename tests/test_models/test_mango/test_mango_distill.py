"""DLD (the unchanged ``DLDDistiller``) with MANGO as teacher and student."""
import pytest
import torch
from distill_checks import (assert_a_step_moves_the_student_only, predict_two_images, tiny_dld,
                            two_images)
from tiny_mango import tiny_spotter_cfg

pytestmark = pytest.mark.usefixtures('single_thread')

SCALES = (0.75, 0.5)
# Every cell is a candidate, so that the untrained student reports words (and the cost table
# counts their reading).
SPOTTER = tiny_spotter_cfg(test_cfg=dict(cell_score_thr=0., filter_thr=0., max_per_img=5))


def test_dld_trains_and_predicts_mango():
    model = tiny_dld(SPOTTER, SCALES)
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

    assert_a_step_moves_the_student_only(model)

    results = predict_two_images(model, SCALES)
    assert sum(len(r.pred_instances) for r in results) > 0
    for result in results:
        pred = result.pred_instances
        assert len(pred.polygons) <= 5
        assert all(p.shape == (8, ) for p in pred.polygons)


def test_dld_trains_and_predicts_mango_with_the_centreline_branch():
    # The Total-Text configs' MANGO: words from the centre-line branch.
    spotter = tiny_spotter_cfg(
        centreline_head=dict(type='MANGOCentrelineHead', in_channels=16, feat_channels=8,
                             num_convs=1),
        test_cfg=dict(cell_score_thr=0., max_per_img=5, instances='centreline',
                      centreline_thr=0.))
    model = tiny_dld(spotter, SCALES)
    model.train()
    data = model.data_preprocessor(two_images(), True)
    losses = model(**data, mode='loss')
    # The student's own detection losses (L_det) include the branch's; it reaches its head.
    assert torch.isfinite(losses['loss_centreline']) and losses['loss_centreline'] > 0
    [grad] = torch.autograd.grad(losses['loss_centreline'],
                                 [model.student.centreline_head.conv_logit.weight],
                                 retain_graph=True)
    assert grad.abs().sum() > 0
    assert_a_step_moves_the_student_only(model)
    # Threshold 0: the whole map is one region per image, read by its cells' vote.
    results = predict_two_images(model, SCALES)
    assert [len(r.pred_instances) for r in results] == [1, 1]
    assert all(isinstance(r.pred_instances.texts[0], str) for r in results)
