"""A cost budget at inference: ``inference_spotter(budget=...)``, ``SpottingInferencer`` and
``calibrate_budget`` on the tiny DLD config (random weights) and two synthetic images."""
import json
import os
import os.path as osp

import pytest
import torch
from helpers import CONFIG_DIR
from mmengine.dataset import Compose, pseudo_collate

from mmdld.apis import SpottingInferencer, inference_spotter, init_spotter
from mmdld.apis.inference import calibrate_budget, drs_logits, pipeline_input
from mmdld.apis.pipelines import inference_pipeline_cfg
from mmdld.datasets.synthesis import generate_dataset
from mmdld.models.selectors import calibrate_offset, choose_with_offset
from mmdld.models.selectors.budget_costs import budget_costs, load_latency_file

DLD = osp.join(CONFIG_DIR, 'dld', 'dld_r18_synthetic_tiny.py')
SCALES = (0.8, 0.7, 0.6, 0.5, 0.4, 0.3)
T = [s * s for s in SCALES]
#: Given costs: the model does not trace every scale on its first batch.
DLD_COSTS = {
    'model.scale_costs': T,
    'model.scale_gflops': list(SCALES),
    'model.selector_gflops': 0.05,
    # Untrained, every image has the most detections: fewer of them keep the test short.
    'model.student.test_cfg.rcnn.max_per_img': 5,
}


@pytest.fixture(scope='module')
def images(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synthetic'))
    generate_dataset(root, num_train=1, num_test=2, img_size=160, seed=0, workers=1)
    folder = osp.join(root, 'imgs', 'test')
    return sorted(osp.join(folder, n) for n in os.listdir(folder) if n.endswith('.jpg'))


@pytest.fixture(scope='module')
def dld():
    torch.manual_seed(0)
    model = init_spotter(DLD, cfg_options=DLD_COSTS)
    # Spread the random DRS's logits, so that images differ in their choice.
    with torch.no_grad():
        model.selector.fc.weight.mul_(300)
    return model


def _batches(model, images):
    pipeline = Compose(inference_pipeline_cfg(model.cfg))
    return [pseudo_collate([pipeline(pipeline_input(img, i))]) for i, img in enumerate(images)]


def _latency_file(tmp_path, **changes):
    data = dict(scales=list(SCALES), scale_ms=[40., 32., 25., 19., 14., 10.],
                reference_ms=60., selector_ms=2.)
    data.update(changes)
    data = {k: v for k, v in data.items() if v is not ...}  # `...` leaves a key out
    path = tmp_path / 'scale_latency.json'
    path.write_text(json.dumps(data))
    return str(path)


def test_inference_with_a_budget_meets_it_on_the_images(dld, images):
    logits = drs_logits(dld, _batches(dld, images))
    assert logits.shape == (2, 6)
    trained = [T[i] for i in logits.argmax(-1).tolist()]
    budget = 0.5 * (sum(trained) / 2 + min(T)) if max(trained) > min(T) else min(T)
    expected = calibrate_offset(logits, T, budget)
    results = inference_spotter(dld, images, budget=budget)
    chosen = [SCALES.index(s.metainfo['dld_scale']) for s in results]
    assert chosen == choose_with_offset(logits, T, expected.offset).tolist()
    assert sum(T[i] for i in chosen) / 2 <= budget < sum(trained) / 2
    assert all(s.metainfo['dld_cost_offset'] == pytest.approx(expected.offset) for s in results)
    # The offset applied to that call only.
    assert dld.selector.cost_offset == 0 and dld.selector.offset_costs is None


def test_budgets_in_gflops_and_ms_and_their_errors(dld, images, tmp_path):
    batches = _batches(dld, images)
    # GFLOPs per image as the metric reports them: the student's plus the DRS's 0.05.
    result, costs = calibrate_budget(dld, batches, 0.5, 'gflops')
    assert costs.costs == pytest.approx([s + 0.05 for s in SCALES])
    assert result.mean_cost <= 0.5
    path = _latency_file(tmp_path)
    result, costs = calibrate_budget(dld, batches, 20., 'ms', latency_file=path)
    assert costs.costs == [42., 34., 27., 21., 16., 12.] and costs.overhead == 2.
    assert result.mean_cost <= 20.
    with pytest.raises(ValueError, match="the budget 11 ms is below the cheapest scale's cost "
                       r'12 ms \(scale 0.3\)'):
        calibrate_budget(dld, batches, 11., 'ms', latency_file=path)
    with pytest.raises(ValueError, match=r"below the cheapest scale's cost 0.09 \(scale 0.3\)"):
        inference_spotter(dld, images, budget=0.05)
    with pytest.raises(ValueError, match="a budget in 'ms' needs the latency file"):
        budget_costs(dld, 'ms')
    with pytest.raises(ValueError, match="budget unit must be one of"):
        budget_costs(dld, 'seconds')
    with pytest.raises(ValueError, match='a cost budget needs a DLD model with a DRS'):
        drs_logits(torch.nn.Linear(1, 1), batches)


def test_latency_file_errors_name_the_file_and_the_key(tmp_path):
    with pytest.raises(FileNotFoundError, match='latency file .*missing.json does not exist'):
        load_latency_file(str(tmp_path / 'missing.json'), SCALES)
    path = _latency_file(tmp_path, scale_ms=...)
    with pytest.raises(KeyError, match=f'latency file {path} has no `scale_ms`'):
        load_latency_file(path, SCALES)
    path = _latency_file(tmp_path, scales=[0.5, 0.25], scale_ms=[2., 1.])
    with pytest.raises(ValueError, match=r'was measured at the scales \[0.5, 0.25\]'):
        load_latency_file(path, SCALES)
    path = _latency_file(tmp_path, scale_ms=[1., 0., 1., 1., 1., 1.])
    with pytest.raises(ValueError, match='`scale_ms` needs one time > 0 per scale'):
        load_latency_file(path, SCALES)


def test_spotting_inferencer_accepts_a_budget(images):
    torch.manual_seed(0)
    inferencer = SpottingInferencer(DLD, device='cpu', cfg_options=DLD_COSTS)
    out = inferencer(images, budget=min(T))
    assert [p['scale'] for p in out['predictions']] == [0.3, 0.3]
    assert out['budget']['mean_cost'] == pytest.approx(min(T))
    assert out['budget']['unit'] == 'relative' and out['budget']['budget'] == min(T)
    assert inferencer.model.selector.cost_offset == 0
