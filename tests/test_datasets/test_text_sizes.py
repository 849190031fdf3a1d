"""Per-image word heights of an annotation file at a resize, and the resizes themselves."""
import json

import pytest
from helpers import rect

from mmdld.datasets.text_sizes import (NO_REGIME, config_resize, image_records,
                                       keep_ratio_resize, long_side_resize)


def _annotations(path, data_list):
    path.write_text(json.dumps(dict(metainfo={}, data_list=data_list)))
    return str(path)


def _word(box, text, ignore=False):
    return dict(polygon=[float(v) for v in rect(*box)], text=text, ignore=ignore)


def test_mmcv_rounding_of_the_resized_size():
    # 333 x 250 to a short side of 100: MMCV rounds the new size to 133 x 100.
    w_scale, h_scale = keep_ratio_resize((1280, 100))(333, 250)
    assert (w_scale, h_scale) == (133 / 333, 100 / 250)
    assert keep_ratio_resize((50, 80), keep_ratio=False)(100, 100) == (0.5, 0.8)
    # An int scale is a square: 200 x 400 fits in 100 x 100 at a quarter.
    assert keep_ratio_resize(100)(200, 400) == (0.25, 0.25)


def test_long_side_resize_keeps_the_ratio_unrounded():
    assert long_side_resize(200)(400, 100) == (0.5, 0.5)
    assert long_side_resize(200)(100, 300) == (2 / 3, 2 / 3)


def test_image_records_measure_care_words_after_the_resize(tmp_path):
    ann = _annotations(tmp_path / 'ann.json', [
        dict(img_path='imgs/a.jpg', width=400, height=200, regime='small', instances=[
            _word((0, 0, 80, 10), 'ten'), _word((0, 50, 80, 70), 'twenty'),
            _word((0, 100, 30, 104), 'dropped', ignore=True), _word((0, 120, 9, 150), 'I')]),
        dict(img_path='imgs/b.jpg', width=100, height=100, instances=[])])
    a, b = image_records(ann, long_side_resize(200), min_length=2)
    assert a['img_path'] == 'imgs/a.jpg' and a['regime'] == 'small'
    assert (a['width'], a['height'], a['scale_factor']) == (400, 200, [0.5, 0.5])
    # Heights 10 and 20 px halved; the ignored word and the one-letter word left out.
    assert a['heights'] == pytest.approx([5.0, 10.0]) and a['n'] == 2
    assert (a['min'], a['median']) == (pytest.approx(5.0), pytest.approx(7.5))
    assert b['regime'] == NO_REGIME and (b['n'], b['min'], b['scale_factor']) == (
        0, None, [2.0, 2.0])
    # Without a resize: original pixels, and the one-letter word (9 px wide, 30 high) counts.
    assert image_records(ann)[0]['heights'] == pytest.approx([10.0, 20.0, 9.0])


def test_image_records_name_the_file_and_image_of_bad_input(tmp_path):
    broken = tmp_path / 'broken.json'
    broken.write_text('{"data_list": [')
    with pytest.raises(ValueError, match=f'{broken}: not an MMOCR annotation file'):
        image_records(str(broken))
    no_list = tmp_path / 'no_list.json'
    no_list.write_text('{"metainfo": {}}')
    with pytest.raises(ValueError, match=f'{no_list}: not an MMOCR annotation file'):
        image_records(str(no_list))
    no_size = _annotations(tmp_path / 'no_size.json', [dict(instances=[])])
    with pytest.raises(ValueError, match=rf'{no_size}: data_list\[0\]: needs integer `width`'):
        image_records(no_size)


def test_config_resize_describes_the_test_pipelines_resize(tmp_path):
    config = tmp_path / 'short_side_100.py'
    config.write_text("test_dataloader = dict(dataset=dict(pipeline=[\n"
                      "    dict(type='mmdld.LoadImageFromFile'),\n"
                      "    dict(type='mmocr.Resize', scale=[1280, 100], keep_ratio=True)]))\n")
    resize, described = config_resize(str(config))
    assert described == f'Resize(scale=(1280, 100), keep_ratio=True) of {config}'
    assert resize(400, 200) == (0.5, 0.5)
    plain = tmp_path / 'no_resize.py'
    plain.write_text("test_dataloader = dict(dataset=dict(pipeline=[\n"
                     "    dict(type='mmdld.LoadImageFromFile')]))\n")
    with pytest.raises(ValueError, match=f'{plain}: test_dataloader.dataset.pipeline has no '
                       'Resize'):
        config_resize(str(plain))
