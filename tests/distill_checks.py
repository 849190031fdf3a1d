"""What the tests of DLD on the single-level spotters (Text Perceptron, MANGO) share.

Each of them distils a tiny spotter into itself with the unchanged ``DLDDistiller`` on the same
two images, then checks that one optimiser step moves the student only and that ``predict``
reports the scale each image was read at.
"""
from typing import Dict, List, Sequence

import pytest
import torch
from helpers import batch, packed_sample, rect
from mmengine.optim import OptimWrapper

from mmdld.models.distillers import DLDDistiller
from mmdld.registry import MODELS


def tiny_dld(spotter: dict, scales: Sequence[float]) -> DLDDistiller:
    """``spotter`` distilled into itself, with a 16-px DRS over ``scales``."""
    return MODELS.build(
        dict(type='DLDDistiller', student=spotter, teacher=spotter,
             selector=dict(type='DynamicResolutionSelector', scales=tuple(scales),
                           input_size=(16, 16), channels=(4, 8))))


def two_images() -> Dict[str, List]:
    """Two differently sized images with two and one words (and one ignored region)."""
    return batch(
        packed_sample([rect(8, 8, 120, 40), rect(16, 56, 150, 96)], ['ab', 'cde'],
                      shape=(128, 160), ignored=[rect(100, 100, 150, 120)], seed=1),
        packed_sample([rect(10, 30, 100, 70)], ['b'], shape=(96, 128), seed=2))


def assert_a_step_moves_the_student_only(model: DLDDistiller) -> None:
    """One SGD ``train_step`` on :func:`two_images` changes student weights, no teacher weight."""
    before = {name: [p.detach().clone() for p in part.parameters()]
              for name, part in (('student', model.student), ('teacher', model.teacher))}
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    log_vars = model.train_step(two_images(), optim)
    assert torch.isfinite(log_vars['loss'])
    for name, part in (('student', model.student), ('teacher', model.teacher)):
        moved = [not torch.equal(a, b) for a, b in zip(before[name], part.parameters())]
        assert any(moved) == (name == 'student'), name


def predict_two_images(model: DLDDistiller, scales: Sequence[float]) -> list:
    """``predict`` on :func:`two_images`; checks each result's scale, GFLOPs and polygons."""
    model.eval()
    with torch.no_grad():
        results = model(**model.data_preprocessor(two_images(), False), mode='predict')
    for result in results:
        assert result.dld_scale in scales
        assert result.dld_gflops == pytest.approx(
            model.gflops_at(list(scales).index(result.dld_scale)))
        pred = result.pred_instances
        assert len(pred.polygons) == len(pred.texts) == len(pred.scores)
    return results
