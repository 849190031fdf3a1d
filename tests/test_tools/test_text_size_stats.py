"""``tools/analysis_tools/text_size_stats.py`` on a hand-made annotation file and synthetic data."""
import json
import os.path as osp
import subprocess
import sys

import pytest
from helpers import REPO_ROOT, rect

from mmdld.datasets.synthesis import generate_dataset

TOOL_PATH = 'tools/analysis_tools/text_size_stats.py'


def instance(polygon, text, ignore=False):
    polygon = [float(v) for v in polygon]
    return dict(polygon=polygon, bbox=[min(polygon[0::2]), min(polygon[1::2]),
                                       max(polygon[0::2]), max(polygon[1::2])],
                bbox_label=0, ignore=ignore, text=text)


def write_annotations(path, data_list):
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(dict(metainfo=dict(dataset_type='TextSpottingDataset',
                                     task_name='textspotting'), data_list=data_list), f)
    return str(path)


@pytest.fixture
def hand_made(tmp_path):
    """Four images whose word heights at a long side of 200 px are 5 and 10 | 30 | 20 | none."""
    data_list = [
        dict(img_path='a.jpg', width=400, height=200, regime='small', instances=[
            instance(rect(0, 0, 80, 10), 'ten'), instance(rect(0, 50, 80, 70), 'twenty'),
            instance(rect(0, 100, 30, 104), '###', ignore=True)]),
        dict(img_path='b.jpg', width=200, height=100, regime='large', instances=[
            instance(rect(0, 0, 100, 40), 'dropped', ignore=True),
            instance(rect(0, 50, 100, 80), 'thirty')]),
        dict(img_path='c.jpg', width=100, height=100, regime='large', instances=[
            instance(rect(0, 0, 60, 10), 'ten')]),
        dict(img_path='d.jpg', width=100, height=100, regime='empty', instances=[]),
    ]
    return write_annotations(tmp_path / 'textspotting_test.json', data_list)


@pytest.fixture
def tool(load_tool):
    return load_tool(TOOL_PATH)


def test_table_per_regime_at_a_long_side(tool, hand_made, tmp_path, capsys):
    out = str(tmp_path / 'sizes.json')
    assert tool.main([osp.dirname(hand_made), '--base-size', '200', '--by-regime',
                      '--out', out]) == 0
    printed = capsys.readouterr().out
    assert f'Word heights in px of {hand_made}, images at long side 200 px:' in printed
    assert '| small | 1 | 1 | 2 | 7.5 | 5.2 | 5.0 | 100% | 100% | 100% |' in printed
    assert '| large | 2 | 2 | 2 | 25.0 | 20.5 | 25.0 | 0% | 0% | 0% |' in printed
    assert '| empty | 1 | 0 | 0 | - | - | - | - | - | - |' in printed
    assert '| all | 4 | 3 | 4 | 15.0 | 5.8 | 20.0 | 33% | 33% | 33% |' in printed

    with open(out, encoding='utf-8') as f:
        result = json.load(f)
    assert list(result['table']) == ['large', 'small', 'empty', 'all']
    assert result['table']['all']['p5'] == pytest.approx(5.75)
    assert result['table']['all']['min_below'] == pytest.approx({'8': 1 / 3, '12': 1 / 3,
                                                                 '16': 1 / 3})
    images = {r['img_path']: r for r in result['images']}
    assert images['a.jpg']['scale_factor'] == [0.5, 0.5]
    assert images['a.jpg']['heights'] == pytest.approx([5.0, 10.0])
    assert images['c.jpg']['scale_factor'] == [2.0, 2.0]
    assert (images['c.jpg']['min'], images['c.jpg']['regime']) == (20.0, 'large')
    assert (images['d.jpg']['n'], images['d.jpg']['min']) == (0, None)


def test_without_by_regime_only_all_is_printed(tool, hand_made, capsys):
    assert tool.main([hand_made]) == 0
    printed = capsys.readouterr().out
    assert 'images at original size:' in printed
    # Original pixels: 10 and 20 | 30 | 10.
    assert '| all | 4 | 3 | 4 | 15.0 | 10.0 | 10.0 | 0% | 67% | 67% |' in printed
    assert '| small |' not in printed


def test_resize_follows_the_configs_test_pipeline(tool, hand_made, tmp_path, capsys):
    config = tmp_path / 'short_side_100.py'
    config.write_text('test_dataloader = dict(dataset=dict(pipeline=[\n'
                      "    dict(type='mmdld.LoadImageFromFile'),\n"
                      "    dict(type='mmocr.Resize', scale=(1280, 100), keep_ratio=True)]))\n")
    out = str(tmp_path / 'sizes.json')
    assert tool.main([hand_made, '--config', str(config), '--out', out]) == 0
    assert 'keep_ratio=True) of' in capsys.readouterr().out
    with open(out, encoding='utf-8') as f:
        images = {r['img_path']: r for r in json.load(f)['images']}
    # Short side to 100 px: 400 x 200 halves, 200 x 100 and 100 x 100 stay.
    assert [images[k]['scale_factor'] for k in ('a.jpg', 'b.jpg', 'c.jpg')] == [
        [0.5, 0.5], [1.0, 1.0], [1.0, 1.0]]
    assert images['c.jpg']['min'] == 10.0


def test_bad_input_is_reported_with_the_file_and_image(tool, hand_made, tmp_path, capsys):
    assert tool.main([str(tmp_path / 'nowhere')]) == 1
    assert capsys.readouterr().err == (
        f"error: {tmp_path / 'nowhere'}: no such data root or annotation file\n")
    assert tool.main([str(tmp_path), '--split', 'train']) == 1
    assert capsys.readouterr().err == (
        f"error: {tmp_path / 'textspotting_train.json'}: no such annotation file "
        "(split 'train')\n")

    broken = write_annotations(tmp_path / 'broken.json', [
        dict(img_path='x.jpg', width=10, height=10,
             instances=[instance(rect(0, 0, 5, 5), 'ok'), dict(polygon=[0, 0, 1], text='bad')])])
    assert tool.main([broken]) == 1
    assert capsys.readouterr().err.startswith(
        f'error: {broken}: x.jpg: instance 1: polygon has an odd number of coordinates')

    no_size = write_annotations(tmp_path / 'no_size.json', [dict(img_path='y.jpg',
                                                                 instances=[])])
    assert tool.main([no_size]) == 1
    assert capsys.readouterr().err.startswith(
        f'error: {no_size}: y.jpg: needs integer `width` and `height`')


@pytest.fixture(scope='module')
def synthetic(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synthetic'))
    generate_dataset(root, num_train=1, num_test=6, img_size=160, seed=0, workers=1,
                     regime_probs=dict(large=0.5, small=0.5))
    return root


def test_synthetic_regimes_and_horizontal_word_heights(synthetic, tmp_path):
    out = str(tmp_path / 'sizes.json')
    proc = subprocess.run([sys.executable, osp.join(REPO_ROOT, TOOL_PATH), synthetic,
                           '--base-size', '320', '--by-regime', '--out', out],
                          capture_output=True, text=True, cwd=str(tmp_path), timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(osp.join(synthetic, 'textspotting_test.json'), encoding='utf-8') as f:
        data_list = json.load(f)['data_list']
    with open(out, encoding='utf-8') as f:
        result = json.load(f)
    regimes = sorted({info['regime'] for info in data_list})
    assert regimes == ['large', 'small']  # the generator's draw for seed 0
    assert list(result['table']) == ['large', 'small', 'all']
    for regime in regimes:
        assert f'| {regime} | ' in proc.stdout
        expected_words = sum(1 for info in data_list if info['regime'] == regime
                             for inst in info['instances'] if not inst['ignore'])
        assert result['table'][regime]['words'] == expected_words
    # An axis-aligned word's height is its bbox height times the resize (160 -> 320: 2).
    checked = 0
    for info, record in zip(data_list, result['images']):
        care = [inst for inst in info['instances'] if not inst['ignore']]
        assert record['img_path'] == info['img_path'] and record['n'] == len(care)
        for inst, height in zip(care, record['heights']):
            xs, ys = inst['polygon'][0::2], inst['polygon'][1::2]
            if len(xs) == 4 and len(set(xs)) == 2 and len(set(ys)) == 2:
                box_w, box_h = max(xs) - min(xs), max(ys) - min(ys)
                assert height == pytest.approx(2 * min(box_w, box_h))
                checked += 1
    assert checked > 0
