"""Tests of the text-spotting data pipeline (mmdld.datasets.transforms + the configs' pipelines)."""
import json
import os.path as osp
from unittest import mock

import cv2
import numpy as np
import pytest
import torch
from helpers import CONFIG_DIR
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks, PolygonMasks
from mmengine.config import Config
from mmengine.dataset import Compose

from mmdld.datasets.transforms import (FilterSpottingInstances, PackSpottingInputs,
                                       PolygonsToMasks, polygon_area)
from mmdld.models.roi_heads import mask_to_polygon
from mmdld.registry import DATASETS, TRANSFORMS

FILTER_MODULE = 'mmdld.datasets.transforms.filter_instances.print_log'


def square(x, y, s):
    return np.array([x, y, x + s, y, x + s, y + s, x, y + s], dtype=np.float32)


def sample(polygons, texts, ignored=None, shape=(100, 200), path='imgs/a.jpg'):
    n = len(polygons)
    return dict(
        img=np.zeros((*shape, 3), np.uint8),
        img_shape=shape,
        ori_shape=shape,
        img_path=path,
        gt_polygons=[np.asarray(p, np.float32) for p in polygons],
        gt_bboxes=np.zeros((n, 4), np.float32),
        gt_bboxes_labels=np.zeros(n, np.int64),
        gt_ignored=np.array(ignored if ignored is not None else [False] * n, bool),
        gt_texts=list(texts))


# ----------------------------------------------------------------------------- helpers
def test_polygon_area_hand_computed():
    assert polygon_area(square(0, 0, 10)) == pytest.approx(100.0)
    assert polygon_area(np.array([0, 0, 4, 0, 0, 3], np.float32)) == pytest.approx(6.0)
    assert polygon_area(np.array([0, 0, 5, 5], np.float32)) == 0.0
    assert polygon_area(np.array([0, 0, 5, 0, 10, 0], np.float32)) == 0.0


# ------------------------------------------------------------------ FilterSpottingInstances
def test_filter_marks_unreadable_and_degenerate_instances():
    t = FilterSpottingInstances(dictionary=dict(type='mmocr.Dictionary'), max_seq_len=8)
    polys = [square(0, 0, 10), square(20, 0, 10), square(40, 0, 10),
             np.array([60, 0, 70, 0, 80, 0], np.float32),  # zero area
             square(90, 0, 10), square(110, 0, 10)]
    texts = ['HELLO', 'caf\u00e9', 'ABCDEFGHIJ', 'ZERO', '###', 'ok!']
    res = sample(polys, texts, ignored=[False, False, False, False, True, False])
    with mock.patch(FILTER_MODULE) as log:
        out = t(res)
    assert out['gt_ignored'].tolist() == [False, True, True, True, True, False]
    assert log.call_count == 1
    message = log.call_args.args[0]
    assert message.startswith('imgs/a.jpg: ')
    assert ("text 'caf\u00e9' of instance 1 has characters ['\u00e9'] outside the dictionary"
            in message)
    assert "text 'ABCDEFGHIJ' of instance 2 is longer than max_seq_len=8" in message
    assert 'instance 3 has a degenerate polygon (area 0.00 px)' in message
    assert 'instance 4' not in message and 'instance 5' not in message
    # A second epoch over the same sample does not repeat the warnings.
    with mock.patch(FILTER_MODULE) as log:
        t(sample(polys, texts))
    assert log.call_count == 0


def test_filter_without_dictionary_keeps_texts():
    t = FilterSpottingInstances()
    out = t(sample([square(0, 0, 10)], ['\u00e9\u00e9']))
    assert out['gt_ignored'].tolist() == [False]


@pytest.mark.parametrize('bad, words', [
    (np.array([0, 0, 10, 0, 10], np.float32), 'odd number of coordinates'),
    (np.array([0, 0, np.nan, 0, 10, 10], np.float32), 'non-finite'),
])
def test_filter_rejects_malformed_polygons_naming_the_sample(bad, words):
    t = FilterSpottingInstances()
    with pytest.raises(ValueError, match=f'imgs/bad.jpg: instance 1 .*{words}'):
        t(sample([square(0, 0, 10), bad], ['A', 'B'], path='imgs/bad.jpg'))


def test_filter_replaces_polygons_of_fewer_than_3_points_by_their_box():
    from mmocr.datasets.transforms import Resize
    t = FilterSpottingInstances()
    polys = [square(0, 0, 10), np.array([20, 5, 40, 15], np.float32),
             np.array([50, 5, 60, 5], np.float32), np.zeros(0, np.float32)]
    res = sample(polys, ['A', 'B', '###', 'D'], ignored=[False, False, True, False],
                 path='imgs/two.jpg')
    with mock.patch(FILTER_MODULE) as log:
        out = t(res)
    # Don't-care, the ignored one too: MMOCR's transforms assert 3 points on every polygon.
    assert out['gt_ignored'].tolist() == [False, True, True, True]
    np.testing.assert_array_equal(out['gt_polygons'][1], [20, 5, 40, 5, 40, 15, 20, 15])
    np.testing.assert_array_equal(out['gt_polygons'][2], [50, 5, 60, 5, 60, 5, 50, 5])
    np.testing.assert_array_equal(out['gt_polygons'][3], np.zeros(8))
    message = log.call_args.args[0]
    assert message.startswith('imgs/two.jpg: instance 1 has a polygon of 2 point(s)')
    assert 'instance 2 has a polygon of 2 point(s)' in message
    assert 'instance 3 has a polygon of 0 point(s)' in message
    # What crashed with a bare AssertionError in MMOCR's poly2shapely before.
    resized = Resize(scale=(100, 50), keep_ratio=True)(out)
    assert len(resized['gt_polygons']) == 4


# ------------------------------------------------------------------------ PolygonsToMasks
def test_polygons_to_masks_boxes_and_masks():
    tri = np.array([10, 10, 50, 10, 10, 40], np.float32)
    res = sample([square(100, 20, 30), tri], ['A', 'B'])
    out = PolygonsToMasks(poly2mask=True)(res)
    assert isinstance(out['gt_masks'], BitmapMasks)
    np.testing.assert_allclose(out['gt_bboxes'], [[100, 20, 130, 50], [10, 10, 50, 40]])
    areas = out['gt_masks'].masks.reshape(2, -1).sum(1)
    # Rasterisation adds at most a pixel-wide rim to the exact areas (900 and 600).
    assert 900 <= areas[0] <= 31 * 31
    assert 600 <= areas[1] <= 600 + 40 + 30 + 50
    assert out['gt_ignored'].tolist() == [False, False]
    assert len(out['gt_polygons']) == 2


def test_polygons_to_masks_default_keeps_polygon_masks_and_clips():
    res = sample([square(-10, -10, 30), square(190, 90, 30)], ['A', 'B'], shape=(100, 200))
    out = PolygonsToMasks()(res)
    assert isinstance(out['gt_masks'], PolygonMasks)
    np.testing.assert_allclose(out['gt_bboxes'], [[0, 0, 20, 20], [190, 90, 200, 100]])
    assert out['gt_polygons'][0].min() == 0


def test_polygons_to_masks_makes_vanished_words_dont_care():
    # A word entirely outside the image (e.g. after a rotation) and a sliver of 0.5 px^2.
    res = sample([square(300, 300, 10), np.array([5, 5, 6, 5, 6, 5.5, 5, 5.5], np.float32),
                  square(10, 10, 10)], ['A', 'B', 'C'])
    out = PolygonsToMasks(poly2mask=True)(res)
    assert out['gt_ignored'].tolist() == [True, True, False]
    assert out['gt_masks'].masks.shape == (3, 100, 200)


def test_polygons_to_masks_no_instances():
    out = PolygonsToMasks(poly2mask=True)(sample([], []))
    assert out['gt_bboxes'].shape == (0, 4)
    assert len(out['gt_masks']) == 0


# ---------------------------------------------------------------------- PackSpottingInputs
def test_pack_splits_texts_and_polygons_by_ignore_flag():
    res = sample([square(0, 0, 10), square(20, 0, 10), square(40, 0, 10)],
                 ['A', '###', 'C'], ignored=[False, True, False])
    res = PolygonsToMasks()(res)
    packed = PackSpottingInputs(meta_keys=('img_path', 'img_shape', 'scale_factor'))(res)
    ds = packed['data_samples']
    assert isinstance(ds, DetDataSample)
    assert packed['inputs'].shape == (3, 100, 200)
    assert ds.gt_instances.texts == ['A', 'C']
    assert ds.ignored_instances.texts == ['###']
    assert [p.tolist() for p in ds.gt_instances.polygons] == [square(0, 0, 10).tolist(),
                                                              square(40, 0, 10).tolist()]
    assert all(p.dtype == np.float32 for p in ds.gt_instances.polygons)
    torch.testing.assert_close(ds.gt_instances.bboxes,
                               torch.tensor([[0., 0., 10., 10.], [40., 0., 50., 10.]]))
    assert ds.gt_instances.labels.tolist() == [0, 0]
    assert len(ds.gt_instances.masks) == 2 and len(ds.ignored_instances.masks) == 1
    # An untransformed sample gets the identity scale factor.
    assert ds.metainfo['scale_factor'] == (1.0, 1.0)


def test_pack_without_annotations():
    res = dict(img=np.zeros((20, 30, 3), np.uint8), img_path='x.jpg')
    ds = PackSpottingInputs(meta_keys=('img_path', 'ori_shape', 'img_shape'))(res)['data_samples']
    assert ds.metainfo['img_shape'] == (20, 30)
    assert len(ds.gt_instances) == 0


# ------------------------------------------------------- polygon <-> mask round trip, rotated
@pytest.mark.parametrize('angle', [-15.0, 7.5, 15.0])
def test_polygon_mask_round_trip_with_rotation(angle):
    """Polygons rotated by MMOCR's RandomRotate stay on the rotated image's text, and the
    mask built from them gives back the polygon."""
    h, w = 120, 200
    poly = np.array([30, 40, 170, 30, 175, 80, 35, 90], np.float32)
    img = np.zeros((h, w, 3), np.uint8)
    cv2.fillPoly(img, [poly.reshape(-1, 2).round().astype(np.int32)], (255, 255, 255))
    rotate = TRANSFORMS.build(dict(type='mmocr.RandomRotate', max_angle=15, use_canvas=True,
                                   pad_with_fixed_color=True))
    rotate._sample_angle = lambda max_angle: angle
    res = sample([poly.copy()], ['WORD'], shape=(h, w))
    res['img'] = img
    res = rotate(res)
    res = PolygonsToMasks(poly2mask=True)(res)
    mask = res['gt_masks'].masks[0].astype(bool)
    drawn = res['img'][..., 0] > 127
    iou = (mask & drawn).sum() / (mask | drawn).sum()
    assert iou > 0.95
    # The canvas grew to hold the rotated image, so the word is never cut.
    assert res['img'].shape[:2] != (h, w)
    # mask -> polygon -> mask.
    back = mask_to_polygon(mask, res['gt_bboxes'][0])
    remasked = PolygonMasks([[back]], *mask.shape).to_ndarray()[0].astype(bool)
    assert (mask & remasked).sum() / (mask | remasked).sum() > 0.9


# -------------------------------------------------------------- the configs' pipelines
def write_dataset(root, records):
    """A tiny MMOCR textspotting dataset: (name, image or bytes, instances) records."""
    data_list = []
    for name, img, instances in records:
        path = osp.join(root, name)
        if isinstance(img, bytes):
            with open(path, 'wb') as f:
                f.write(img)
            hgt, wid = 100, 160
        else:
            cv2.imwrite(path, img)
            hgt, wid = img.shape[:2]
        data_list.append(dict(img_path=name, height=hgt, width=wid, instances=instances))
    ann = dict(metainfo=dict(dataset_type='TextSpottingDataset', task_name='textspotting',
                             category=[dict(id=0, name='text')]), data_list=data_list)
    with open(osp.join(root, 'ann.json'), 'w') as f:
        json.dump(ann, f)


def instance(poly, text, ignore=False):
    poly = [float(v) for v in poly]
    xs, ys = poly[0::2], poly[1::2]
    return dict(polygon=poly, bbox=[min(xs), min(ys), max(xs), max(ys)], bbox_label=0,
                ignore=ignore, text=text)


def word_image(h=100, w=160):
    img = np.full((h, w, 3), 200, np.uint8)
    cv2.putText(img, 'AB', (20, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (0, 0, 0), 3)
    return img


def synthetic_pipelines():
    cfg = Config.fromfile(osp.join(CONFIG_DIR, '_base_', 'datasets', 'synthetic_spotting.py'))
    return cfg.synthetic_train_pipeline, cfg.synthetic_test_pipeline


def build_dataset(root, pipeline, test_mode):
    return DATASETS.build(dict(type='mmocr.OCRDataset', data_root=str(root), ann_file='ann.json',
                               data_prefix=dict(img_path=''), pipeline=pipeline,
                               test_mode=test_mode))


def test_train_pipeline_from_config_keeps_words_whole(tmp_path):
    np.random.seed(0)
    words = [instance(square(15, 20, 30), 'AB'), instance(square(90, 30, 40), 'CD'),
             instance(square(60, 70, 20), '###', ignore=True),
             instance([100, 5, 120, 5, 140, 5], 'LINE'),  # zero area
             instance(square(5, 75, 20), '\u00e9t\u00e9')]  # outside the dictionary
    write_dataset(str(tmp_path), [('a.jpg', word_image(), words)])
    train_pipeline, _ = synthetic_pipelines()
    ds = build_dataset(tmp_path, train_pipeline, test_mode=False)
    with mock.patch(FILTER_MODULE):
        for _ in range(6):  # random crops, scales and angles
            out = ds[0]
            sample_ = out['data_samples']
            gt = sample_.gt_instances
            h, w = sample_.metainfo['img_shape']
            assert out['inputs'].shape[1:] == (h, w)
            assert set(gt.texts) <= {'AB', 'CD'}
            assert len(gt.texts) >= 1  # the crop keeps at least one word
            assert set(sample_.ignored_instances.texts) <= {'###', 'LINE', '\u00e9t\u00e9'}
            boxes = gt.bboxes.numpy()
            assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= w).all()
            assert (boxes[:, 1] >= 0).all() and (boxes[:, 3] <= h).all()
            # Words are never cut: a kept 30 px (40 px) square keeps at least 0.6^2 of its
            # area after scaling, whatever the rotation.
            for text, poly in zip(gt.texts, gt.polygons):
                side = 30 if text == 'AB' else 40
                assert polygon_area(poly) >= 0.99 * (0.6 * side)**2
            masks = gt.masks.to_ndarray()
            assert masks.shape[1:] == (h, w)


def test_test_pipeline_keeps_gt_in_original_frame(tmp_path):
    words = [instance(square(15, 20, 30), 'AB'), instance(square(60, 70, 20), '###', True)]
    write_dataset(str(tmp_path), [('a.jpg', word_image(), words)])
    _, test_pipeline = synthetic_pipelines()
    out = build_dataset(tmp_path, test_pipeline, test_mode=True)[0]
    ds = out['data_samples']
    assert ds.metainfo['ori_shape'] == (100, 160)
    assert ds.metainfo['img_shape'] == (320, 512)  # S-320
    assert ds.metainfo['scale_factor'] == pytest.approx((3.2, 3.2))
    assert out['inputs'].shape == (3, 320, 512)
    np.testing.assert_allclose(ds.gt_instances.polygons[0], square(15, 20, 30))
    assert ds.gt_instances.texts == ['AB'] and ds.ignored_instances.texts == ['###']


def test_image_without_text(tmp_path):
    write_dataset(str(tmp_path), [('empty.jpg', word_image(), [])])
    train_pipeline, _ = synthetic_pipelines()
    out = build_dataset(tmp_path, train_pipeline, test_mode=False)[0]
    gt = out['data_samples'].gt_instances
    assert gt.bboxes.shape == (0, 4) and gt.texts == [] and len(gt.masks) == 0


def test_corrupt_image(tmp_path):
    words = [instance(square(15, 20, 30), 'AB')]
    write_dataset(str(tmp_path), [('broken.jpg', b'not a jpeg', words),
                                  ('good.jpg', word_image(), words)])
    train_pipeline, test_pipeline = synthetic_pipelines()
    # Test time: a clear error naming the file.
    with pytest.raises(OSError, match='broken.jpg: the image cannot be decoded'):
        build_dataset(tmp_path, test_pipeline, test_mode=True)[0]
    # Training: skipped with a warning naming the file, another sample is drawn.
    ds = build_dataset(tmp_path, train_pipeline, test_mode=False)
    with mock.patch('mmdld.datasets.transforms.loading.print_log') as log:
        out = ds[0]
    assert 'broken.jpg: the image cannot be decoded' in log.call_args.args[0]
    assert out['data_samples'].img_path.endswith('good.jpg')


def test_pipeline_transforms_resolve_in_mmdld_scope():
    train_pipeline, test_pipeline = synthetic_pipelines()
    names = [type(t).__name__ for t in Compose(train_pipeline).transforms]
    assert names == ['LoadImageFromFile', 'LoadOCRAnnotations', 'FilterSpottingInstances',
                     'RandomApply', 'RandomResize', 'RandomRotate', 'PhotoMetricDistortion',
                     'PolygonsToMasks', 'PackSpottingInputs']
    resize = Compose(train_pipeline).transforms[4].resize
    assert type(resize).__module__.startswith('mmocr')
