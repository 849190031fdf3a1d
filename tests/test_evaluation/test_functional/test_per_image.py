"""per_image.json: writing, reading, checking, and the count tables built from it."""
import json

import numpy as np
import pytest

from mmdld.evaluation.functional import (PER_IMAGE_FILE, PER_IMAGE_FORMAT, RECORD_KEYS,
                                         counts_array, load_per_image, write_per_image)


def record(name, e2e, det=(1, 1, 1, 0, 0), **fields):
    base = dict(name=name, img_path=f'imgs/{name}.jpg', scale=None, gflops=None,
                gt_texts=['Caf\u00e9'], num_gt_dont_care=0, det_texts=['caf\u00e9'],
                det_scores=None, matched_texts=['Caf\u00e9'],
                counts={'det': list(det), 'e2e/none': list(e2e)}, rec=None)
    base.update(fields)
    return base


def test_round_trip_keeps_records_and_metadata(tmp_path):
    records = [record('img_1', [1, 1, 1, 0, 0], scale=0.5, gflops=12.5, det_scores=[0.9]),
               record('img_2', [0, 2, 1, 1, 0], rec=[1, 2])]
    path = tmp_path / 'out' / PER_IMAGE_FILE
    write_per_image(str(path), records, iou_thr=0.5, score_thr=0.3)
    data = load_per_image(str(path))
    assert data == dict(format=PER_IMAGE_FORMAT, iou_thr=0.5, score_thr=0.3, num_images=2,
                        images=records)
    text = path.read_text(encoding='utf-8')
    assert 'Caf\u00e9' in text  # texts are written as they are, not \u-escaped
    # One record per line: a changed image shows as one changed line.
    assert [line.startswith('{"name": "img_') for line in text.splitlines()] == [
        False, True, True, False]
    assert PER_IMAGE_FILE == 'per_image.json' and PER_IMAGE_FORMAT == 'mmdld.per_image/1'


def test_no_images(tmp_path):
    path = tmp_path / PER_IMAGE_FILE
    write_per_image(str(path), [])
    assert load_per_image(str(path)) == dict(format=PER_IMAGE_FORMAT, num_images=0, images=[])
    assert counts_array([], 'e2e/none').shape == (0, 5)


def test_write_rejects_incomplete_records_and_reserved_metadata(tmp_path):
    path = str(tmp_path / PER_IMAGE_FILE)
    incomplete = record('img_7', [0, 1, 0, 0, 0])
    del incomplete['counts'], incomplete['rec']
    with pytest.raises(ValueError, match=r"record 0 \(img_7\) has no \['counts', 'rec'\]"):
        write_per_image(path, [incomplete])
    with pytest.raises(ValueError, match="'images' is not a metadata key"):
        write_per_image(path, [], images=[])
    with pytest.raises(ValueError, match='num_images=3 but 1 records'):
        write_per_image(path, [record('img_1', [0, 1, 0, 0, 0])], num_images=3)


def test_load_names_the_file_and_the_problem(tmp_path):
    path = tmp_path / PER_IMAGE_FILE
    path.write_text('{"format": ')
    with pytest.raises(ValueError, match=f'{path}: not valid JSON'):
        load_per_image(str(path))
    path.write_text(json.dumps(dict(metrics={})))
    with pytest.raises(ValueError, match=f"{path}: format is None, expected 'mmdld.per_image/1'"):
        load_per_image(str(path))
    path.write_text(json.dumps(dict(format='mmdld.per_image/0', images=[])))
    with pytest.raises(ValueError, match="format is 'mmdld.per_image/0'"):
        load_per_image(str(path))
    path.write_text(json.dumps(dict(format=PER_IMAGE_FORMAT)))
    with pytest.raises(ValueError, match=f"{path}: no 'images' list"):
        load_per_image(str(path))
    broken = record('img_3', [0, 1, 0, 0, 0])
    del broken['matched_texts']
    path.write_text(json.dumps(dict(format=PER_IMAGE_FORMAT, images=[broken])))
    with pytest.raises(ValueError, match=f"{path}: image img_3 has no 'matched_texts'"):
        load_per_image(str(path))
    short = record('img_4', [0, 1, 0])
    path.write_text(json.dumps(dict(format=PER_IMAGE_FORMAT, images=[short])))
    with pytest.raises(ValueError, match=r"image img_4: counts\['e2e/none'\] has 3 values"):
        load_per_image(str(path))


def test_counts_array_takes_one_key_in_record_order():
    images = [record('img_1', [1, 1, 1, 0, 0]),
              record('img_2', [0, 2, 1, 1, 0], det=[1, 2, 1, 1, 0])]
    table = counts_array(images, 'e2e/none')
    assert table.dtype == np.int64 and table.tolist() == [[1, 1, 1, 0, 0], [0, 2, 1, 1, 0]]
    assert counts_array(images, 'det')[:, 0].tolist() == [1, 1]
    with pytest.raises(ValueError, match=r"image img_1 has no counts 'ws/none' \(it has "
                                         r"\['det', 'e2e/none'\]\)"):
        counts_array(images, 'ws/none')
    assert set(images[0]) == set(RECORD_KEYS)
