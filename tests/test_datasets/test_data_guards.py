"""Broken data names its file: truncated images, invalid JSON, 2-point polygons, empty texts.

Each test breaks a copy of a small generated synthetic data set and runs it through the
pipelines of ``configs/_base_/datasets/synthetic_spotting.py``.
"""
import json
import os.path as osp
import re
import shutil
from unittest import mock

import cv2
import numpy as np
import pytest
from helpers import CONFIG_DIR
from mmengine.config import Config

from mmdld.datasets.synthesis import generate_dataset
from mmdld.datasets.transforms import InferencerLoader, LoadImageFromFile, image_defect
from mmdld.registry import DATASETS

LOADING_LOG = 'mmdld.datasets.transforms.loading.print_log'
FILTER_LOG = 'mmdld.datasets.transforms.filter_instances.print_log'


@pytest.fixture(scope='module')
def synthetic(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synthetic'))
    generate_dataset(root, num_train=3, num_test=2, img_size=160, seed=0, workers=1)
    return root


@pytest.fixture
def data(synthetic, tmp_path):
    """A copy of the synthetic data set that a test may break."""
    root = str(tmp_path / 'data')
    shutil.copytree(synthetic, root)
    return root


@pytest.fixture(autouse=True)
def fresh_skip_count(monkeypatch):
    monkeypatch.setattr(LoadImageFromFile, 'num_skipped', 0)


def pipelines():
    cfg = Config.fromfile(osp.join(CONFIG_DIR, '_base_', 'datasets', 'synthetic_spotting.py'))
    return cfg.synthetic_train_pipeline, cfg.synthetic_test_pipeline


def dataset(root, split='train', test_mode=None):
    train_pipeline, test_pipeline = pipelines()
    test_mode = split == 'test' if test_mode is None else test_mode
    return DATASETS.build(dict(type='SpottingDataset', data_root=root,
                               ann_file=f'textspotting_{split}.json',
                               data_prefix=dict(img_path=''), test_mode=test_mode,
                               pipeline=test_pipeline if test_mode else train_pipeline))


def annotations(root, split='train'):
    with open(osp.join(root, f'textspotting_{split}.json'), encoding='utf-8') as f:
        return json.load(f)


def write_annotations(root, ann, split='train'):
    with open(osp.join(root, f'textspotting_{split}.json'), 'w', encoding='utf-8') as f:
        json.dump(ann, f)


def truncate(path, keep=1 / 3):
    with open(path, 'rb') as f:
        content = f.read()
    with open(path, 'wb') as f:
        f.write(content[:int(len(content) * keep)])


def image_bytes(ext):
    img = np.random.RandomState(0).randint(0, 255, (60, 80, 3), np.uint8)
    return cv2.imencode(ext, img)[1].tobytes()


def test_image_defect_tells_truncated_jpeg_and_png_from_complete_ones():
    jpeg, png = image_bytes('.jpg'), image_bytes('.png')
    assert image_defect(jpeg) is None and image_defect(png) is None
    # Trailing data after the end marker is not a truncation (Pillow decodes the file).
    assert image_defect(jpeg + b'camera trailer') is None
    # OpenCV decodes these without an error, the missing rows grey.
    assert cv2.imdecode(np.frombuffer(jpeg[:len(jpeg) // 2], np.uint8), 1) is not None
    assert 'no JPEG end-of-image marker FFD9' in image_defect(jpeg[:len(jpeg) // 2])
    assert 'no PNG IEND chunk' in image_defect(png[:len(png) // 2])
    assert image_defect(b'') == 'is empty (0 bytes)'


def test_truncated_jpeg_is_skipped_in_training_with_a_warning_naming_it(data):
    ds = dataset(data, 'train')
    broken = ds.get_data_info(0)['img_path']
    truncate(broken)
    with mock.patch(LOADING_LOG) as log:
        out = ds[0]
        ds[0]
    # Another sample was drawn instead.
    assert out['data_samples'].img_path != broken
    # One warning per skip (the random redraw may hit the broken image again), each naming
    # the file and counting the skips.
    messages = [call.args[0] for call in log.call_args_list]
    assert len(messages) >= 2 and all(broken in m for m in messages)
    assert 'the image is truncated or corrupt (no JPEG end-of-image marker FFD9' in messages[0]
    for count, message in enumerate(messages, 1):
        assert f'({count} broken image(s) skipped so far by this process)' in message
    assert all(call.kwargs['level'] == 30 for call in log.call_args_list)  # WARNING


def test_truncated_jpeg_is_an_error_naming_it_in_test(data):
    ds = dataset(data, 'test')
    broken = ds.get_data_info(1)['img_path']
    truncate(broken, keep=2 / 3)
    assert ds[0]['data_samples'].img_path != broken
    with pytest.raises(OSError, match=re.escape(broken) + ': the image is truncated or corrupt'):
        ds[1]


def test_missing_and_undecodable_images_name_their_file(data):
    ds = dataset(data, 'test')
    undecodable = ds.get_data_info(0)['img_path']
    with open(undecodable, 'wb') as f:
        f.write(b'not an image')
    with pytest.raises(OSError, match=re.escape(undecodable) + ': the image cannot be decoded'):
        ds[0]
    missing = ds.get_data_info(1)['img_path']
    shutil.move(missing, missing + '.moved')
    with pytest.raises(OSError, match=re.escape(missing) + ': the image cannot be read'):
        ds[1]


def test_inference_loader_checks_paths_and_passes_arrays(data, tmp_path):
    loader = InferencerLoader(color_type='color_ignore_orientation')
    path = annotations(data, 'test')['data_list'][0]['img_path']
    path = osp.join(data, path)
    assert loader(path)['img'].shape[:2] == cv2.imread(path).shape[:2]
    assert loader(np.zeros((4, 5, 3), np.uint8))['img_shape'] == (4, 5)
    truncate(path)
    with pytest.raises(OSError, match=re.escape(path) + ': the image is truncated'):
        loader(path)


def test_invalid_annotation_json_names_the_file(data):
    ann_file = osp.join(data, 'textspotting_train.json')
    with open(ann_file, 'w', encoding='utf-8') as f:
        f.write('{"metainfo": {}, "data_list": [')
    with pytest.raises(ValueError, match=re.escape(ann_file) + r': not valid JSON \(line 1'):
        dataset(data, 'train')
    write_annotations(data, [1, 2])
    with pytest.raises(ValueError, match=re.escape(ann_file) + ': not an MMOCR annotation file'):
        dataset(data, 'train')
    # The synthetic data set reads its JSON the same way.
    with pytest.raises(ValueError, match=re.escape(ann_file)):
        DATASETS.build(dict(type='SyntheticSpottingDataset', data_root=data,
                            synth_cfg=dict(num_train=3, num_test=2, img_size=160, seed=0)))


def test_two_point_polygon_is_dont_care_naming_file_and_instance(data):
    ann = annotations(data)
    sample = ann['data_list'][2]
    x1, y1, x2, y2 = sample['instances'][1]['bbox']
    sample['instances'][1]['polygon'] = [x1, y1, x2, y2]
    sample['instances'][1]['text'] = 'TWOPOINTS'
    write_annotations(data, ann)
    np.random.seed(0)
    ds = dataset(data, 'train')
    img_path = ds.get_data_info(2)['img_path']
    seen = 0
    with mock.patch(FILTER_LOG) as log:
        # Random crops, scales and rotations: none trips over the polygon, and it never
        # reaches the losses (a crop may leave it out altogether).
        for _ in range(6):
            out = ds[2]
            assert out['data_samples'].img_path == img_path
            assert 'TWOPOINTS' not in out['data_samples'].gt_instances.texts
            seen += 'TWOPOINTS' in out['data_samples'].ignored_instances.texts
    assert seen > 0
    message = log.call_args_list[0].args[0]
    assert message.startswith(f'{img_path}: instance 1 has a polygon of 2 point(s)')
    assert "Treated as don't-care" in message


def test_empty_text_is_dont_care_in_training_and_test(data):
    for split in ('train', 'test'):
        ann = annotations(data, split)
        ann['data_list'][0]['instances'][0]['text'] = ''
        write_annotations(data, ann, split)
        ds = dataset(data, split)
        assert ds.get_data_info(0)['instances'][0]['ignore'] is True
        with mock.patch(FILTER_LOG):
            sample = ds[0]['data_samples']
        if split == 'test':  # the test pipeline keeps every instance
            assert '' in sample.ignored_instances.texts
            assert '' not in sample.gt_instances.texts
