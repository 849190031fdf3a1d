"""``init_spotter``, ``inference_spotter``, ``SpottingInferencer`` and ``demo/image_demo.py`` on
the tiny configs (random weights) and a few synthetic images."""
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys
from fractions import Fraction

import cv2
import numpy as np
import pytest
import torch
from helpers import CONFIG_DIR, REPO_ROOT
from mmdet.structures import DetDataSample
from mmengine.config import Config

from mmdld.apis import SpottingInferencer, inference_spotter, init_spotter
from mmdld.datasets.synthesis import generate_dataset

SPOTTER = osp.join(CONFIG_DIR, 'spotter', 'maskrcnn_r18_fpn_spotter_synthetic_tiny.py')
DLD = osp.join(CONFIG_DIR, 'dld', 'dld_r18_synthetic_tiny.py')
SCALES = (0.8, 0.7, 0.6, 0.5, 0.4, 0.3)
#: Given costs: the DLD model does not trace every scale on its first batch.
DLD_COSTS = {
    'model.scale_costs': [s * s for s in SCALES],
    'model.scale_gflops': list(SCALES),
    'model.selector_gflops': 0.05,
}


@pytest.fixture(scope='module')
def image_dir(tmp_path_factory) -> str:
    """A folder of three synthetic test images (and a text file that is not an image)."""
    root = str(tmp_path_factory.mktemp('synthetic'))
    generate_dataset(root, num_train=1, num_test=3, img_size=160, seed=0, workers=1)
    folder = osp.join(root, 'imgs', 'test')
    with open(osp.join(folder, 'notes.txt'), 'w', encoding='utf-8') as f:
        f.write('not an image')
    return folder


@pytest.fixture(scope='module')
def images(image_dir):
    return sorted(osp.join(image_dir, n) for n in os.listdir(image_dir) if n.endswith('.jpg'))


@pytest.fixture(scope='module')
def spotter():
    torch.manual_seed(0)
    with pytest.warns(UserWarning, match='no checkpoint'):
        # Untrained, every image has the most detections: fewer of them keep the test short.
        return init_spotter(SPOTTER, cfg_options={'model.test_cfg.rcnn.max_per_img': 5})


@pytest.fixture(scope='module')
def dld():
    torch.manual_seed(0)
    return init_spotter(DLD, cfg_options=DLD_COSTS)


def _check_predictions(sample: DetDataSample, img_path=None) -> None:
    assert isinstance(sample, DetDataSample)
    pred = sample.pred_instances
    assert len(pred.polygons) == len(pred.texts) == len(pred.scores) == len(pred.bboxes)
    assert all(isinstance(t, str) for t in pred.texts)
    if img_path is not None:
        assert sample.img_path == img_path


def test_init_spotter_builds_spotter_and_dld_models(spotter, dld):
    for model in (spotter, dld):
        assert not model.training
        assert isinstance(model.cfg, Config) and isinstance(model.dataset_meta, dict)
    assert dld.cfg.model.selector_gflops == 0.05
    assert tuple(dld.scales) == SCALES


def test_init_spotter_loads_checkpoints_with_the_allowlist(tmp_path, spotter):
    state = {k: v + 1 if v.is_floating_point() else v for k, v in spotter.state_dict().items()}
    ckpt = str(tmp_path / 'spotter.pth')
    # numpy values in the meta, as MMEngine's runner writes them.
    torch.save(dict(state_dict=state, meta=dict(seed=np.int64(3),
                                                dataset_meta=dict(classes=('text', )))), ckpt)
    model = init_spotter(Config.fromfile(SPOTTER), ckpt)
    assert model.dataset_meta == dict(classes=('text', ))
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key

    # A type outside the allowlist is refused, as mmdld's loader does.
    bad = str(tmp_path / 'bad.pth')
    torch.save(dict(state_dict=state, meta=dict(obj=Fraction(1, 3))), bad)
    with pytest.raises(RuntimeError, match='Refusing to load checkpoint'):
        init_spotter(SPOTTER, bad)


def test_init_spotter_loads_a_dld_checkpoint(tmp_path, dld):
    state = {k: v + 1 if v.is_floating_point() else v for k, v in dld.state_dict().items()}
    ckpt = str(tmp_path / 'dld.pth')
    torch.save(dict(state_dict=state, meta=dict()), ckpt)
    model = init_spotter(DLD, ckpt, cfg_options=DLD_COSTS)
    for key, value in model.state_dict().items():
        if key.startswith('cost_table.'):
            # Costs given by the config win over the checkpoint's (test_guards.py).
            continue
        assert torch.equal(value, state[key]), key
    assert any(key.startswith('student.') for key in state)


def test_inference_spotter_single_list_array_folder_glob(spotter, images, image_dir):
    single = inference_spotter(spotter, images[0])
    _check_predictions(single, images[0])

    batch = inference_spotter(spotter, images[:2], batch_size=2)
    assert isinstance(batch, list) and len(batch) == 2
    for sample, path in zip(batch, images):
        _check_predictions(sample, path)

    # A BGR array as cv2 reads it gives the predictions of its file.
    array = inference_spotter(spotter, cv2.imread(images[0]))
    _check_predictions(array)
    assert array.img_path is None
    torch.testing.assert_close(array.pred_instances.scores, single.pred_instances.scores)
    assert array.pred_instances.texts == single.pred_instances.texts

    # A folder gives its images (not the text file) in name order; a glob alike.
    folder = inference_spotter(spotter, image_dir, batch_size=2)
    assert [s.img_path for s in folder] == images
    assert [s.img_path for s in inference_spotter(spotter, osp.join(image_dir, '*.jpg'))
            ] == images
    with pytest.raises(FileNotFoundError, match='no image at'):
        inference_spotter(spotter, osp.join(image_dir, 'missing.jpg'))


def test_dld_model_reports_its_chosen_scale(dld, images):
    results = inference_spotter(dld, images, batch_size=2)
    assert len(results) == len(images)
    for sample in results:
        _check_predictions(sample)
        scale = sample.metainfo['dld_scale']
        assert scale in SCALES
        assert sample.metainfo['dld_gflops'] == pytest.approx(
            dld.gflops_at(SCALES.index(scale)))


def test_spotting_inferencer_writes_drawings_and_json(tmp_path, images, image_dir):
    inferencer = SpottingInferencer(DLD, device='cpu', cfg_options=DLD_COSTS)
    vis, preds = str(tmp_path / 'vis'), str(tmp_path / 'preds')
    out = inferencer(image_dir, batch_size=2, img_out_dir=vis, pred_out_dir=preds,
                     return_vis=True)
    names = [osp.basename(p) for p in images]
    assert sorted(os.listdir(vis)) == names
    assert sorted(os.listdir(preds)) == [n.replace('.jpg', '.json') for n in names]
    assert len(out['predictions']) == len(out['visualization']) == len(images)
    for name, pred, drawing in zip(names, out['predictions'], out['visualization']):
        with open(osp.join(preds, name.replace('.jpg', '.json')), encoding='utf-8') as f:
            saved = json.load(f)
        assert saved['img_path'].endswith(name)
        assert {k: saved[k] for k in pred} == pred
        assert set(pred) == {'polygons', 'bboxes', 'scores', 'texts', 'scale', 'gflops'}
        assert pred['scale'] in SCALES
        assert len(pred['polygons']) == len(pred['texts']) == len(pred['scores'])
        image = cv2.imread(osp.join(image_dir, name))
        # The image beside the canvas of its words, RGB.
        assert drawing.shape == (image.shape[0], 2 * image.shape[1], 3)
        assert cv2.imread(osp.join(vis, name)).shape == drawing.shape

    # Arrays are named by their order; data samples on request.
    again = inferencer([cv2.imread(images[0])], img_out_dir=vis, return_datasamples=True)
    assert isinstance(again['predictions'][0], DetDataSample)
    assert osp.isfile(osp.join(vis, f'{len(images):08d}.jpg'))


def test_image_demo_on_a_folder(tmp_path, images, image_dir):
    out_dir = tmp_path / 'out'
    proc = subprocess.run(
        [sys.executable, osp.join(REPO_ROOT, 'demo', 'image_demo.py'), image_dir, SPOTTER,
         '--out-dir', str(out_dir), '--batch-size', '2', '--score-thr', '0'],
        capture_output=True, text=True, timeout=600, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = [osp.basename(p) for p in images]
    stems = [osp.splitext(n)[0] for n in names]
    assert sorted(os.listdir(out_dir)) == sorted(names + [s + '.json' for s in stems])
    words = sum(len(json.loads((out_dir / f'{s}.json').read_text())['texts']) for s in stems)
    # One printed line per word (every score passes a threshold of 0).
    assert len([line for line in proc.stdout.splitlines() if '\t' in line]) == words
    assert f'{len(images)} image(s) written to {out_dir}' in proc.stdout
    # And per image, how many of its detections passed the threshold (all of them at 0).
    for name, stem in zip(names, stems):
        total = len(json.loads((out_dir / f'{stem}.json').read_text())['scores'])
        assert f'{name}: {total} of {total} detections above --score-thr 0' in proc.stdout


def _image_demo():
    spec = importlib.util.spec_from_file_location(
        'image_demo', osp.join(REPO_ROOT, 'demo', 'image_demo.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_image_demo_says_when_nothing_passes_the_threshold(capsys):
    demo = _image_demo()
    preds = [dict(polygons=[[0, 0, 4, 0, 4, 2, 0, 2]] * 3, texts=['a', 'b', 'c'],
                  scores=[0.3, 0.5, 0.7]),
             dict(polygons=[[0, 0, 4, 0, 4, 2, 0, 2]] * 2, texts=['x', 'y'], scores=[0.1, 0.2]),
             dict(polygons=[], texts=[], scores=[])]
    demo.print_predictions(['/imgs/a.jpg', '/imgs/b.jpg', '/imgs/c.jpg'], preds, 0.5)
    lines = capsys.readouterr().out.splitlines()
    # The words at or above the threshold, each image followed by its count.
    assert [line.split('\t')[1] for line in lines if '\t' in line] == ['b', 'c']
    counts = [line for line in lines if '\t' not in line]
    assert counts[0] == 'a.jpg: 2 of 3 detections above --score-thr 0.5'
    assert counts[1].startswith('b.jpg: 0 of 2 detections above --score-thr 0.5 (nothing drawn')
    assert 'best score is 0.20' in counts[1]
    assert counts[2] == 'c.jpg: 0 of 0 detections above --score-thr 0.5 (the model found no text)'


def test_mmdet_init_detector_and_inference_detector_with_the_inference_pipeline(images):
    """MMDetection's entry points build and run the spotter; its inference pipeline is needed.

    ``inference_detector`` feeds the config's test pipeline, which loads annotations (a user's
    image has none), so it is given mmdld's label-free pipeline (docs/getting_started.md).
    """
    from mmdet.apis import inference_detector, init_detector
    from mmengine.dataset import Compose

    from mmdld.apis import inference_pipeline_cfg
    torch.manual_seed(0)
    with pytest.warns(UserWarning, match='checkpoint is None'):
        model = init_detector(SPOTTER, None, device='cpu',
                              cfg_options={'model.test_cfg.rcnn.max_per_img': 5})
    pipeline = Compose(inference_pipeline_cfg(model.cfg))
    results = inference_detector(model, [images[0], cv2.imread(images[1])],
                                 test_pipeline=pipeline)
    assert len(results) == 2
    for result in results:
        pred = result.pred_instances
        assert {'polygons', 'bboxes', 'scores', 'texts'} <= set(pred.keys())
        assert len(pred.texts) == len(pred.scores) == len(pred.polygons)
    # The default pipeline is the config's test pipeline, with its annotation loader.
    with pytest.raises(KeyError, match='instances'):
        inference_detector(model, images[0])
