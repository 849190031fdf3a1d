"""``tools/analysis_tools/check_dataset.py`` on clean and broken copies of synthetic data."""
import json
import os.path as osp
import shutil
import subprocess
import sys

import pytest
from helpers import CONFIG_DIR, REPO_ROOT

from mmdld.datasets.synthesis import generate_dataset

TOOL = osp.join(REPO_ROOT, 'tools', 'analysis_tools', 'check_dataset.py')


@pytest.fixture(scope='module')
def synthetic(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synthetic'))
    generate_dataset(root, num_train=3, num_test=1, img_size=160, seed=0, workers=1)
    return root


def check(*args):
    proc = subprocess.run([sys.executable, TOOL, *args], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


def test_clean_synthetic_data_passes(synthetic):
    rc, out = check('--ann-file', osp.join(synthetic, 'textspotting_train.json'))
    assert rc == 0, out
    assert 'Checked 3 images' in out and 'No problems found.' in out


def test_each_problem_is_counted_and_its_first_offenders_named(synthetic, tmp_path):
    root = str(tmp_path / 'data')
    shutil.copytree(synthetic, root)
    ann_file = osp.join(root, 'textspotting_train.json')
    with open(ann_file, encoding='utf-8') as f:
        ann = json.load(f)
    samples = ann['data_list']
    # A truncated JPEG.
    truncated = osp.join(root, samples[0]['img_path'])
    with open(truncated, 'rb') as f:
        content = f.read()
    with open(truncated, 'wb') as f:
        f.write(content[:len(content) // 3])
    # A 2-point polygon, a character outside the dictionary, an empty text.
    samples[1]['instances'][0]['polygon'] = samples[1]['instances'][0]['polygon'][:4]
    samples[1]['instances'][1]['text'] = 'caf\u00e9'
    samples[2]['instances'][0]['text'] = ''
    with open(ann_file, 'w', encoding='utf-8') as f:
        json.dump(ann, f)

    rc, out = check('--ann-file', ann_file)
    assert rc == 1, out
    assert '4 problem(s):' in out
    for line in ('image_truncated: 1', 'polygon_few_points: 1', 'text_out_of_dictionary: 1',
                 'text_empty: 1'):
        assert f'  {line} (' in out
    second, third = (osp.join(root, s['img_path']) for s in samples[1:])
    assert f'{truncated}: image truncated or corrupt: the image is truncated' in out
    assert f'{second} instance 0: polygon with fewer than 3 points: 2 point(s)' in out
    assert f"{second} instance 1: characters outside the dictionary: 'caf\u00e9' has" in out
    assert f'{third} instance 0: empty transcription' in out


def test_invalid_json_is_a_problem_naming_the_file(tmp_path):
    ann_file = tmp_path / 'textspotting_train.json'
    ann_file.write_text('{"metainfo": {}, "data_list": [')
    rc, out = check('--ann-file', str(ann_file))
    assert rc == 1
    assert '  annotation_file: 1 (' in out
    assert (f'{ann_file}: annotation file cannot be read: ValueError: {ann_file}: not valid '
            'JSON (line 1') in out


def test_config_datasets_and_recogniser_vocabulary(load_tool):
    from mmengine.config import Config
    tool = load_tool('tools/analysis_tools/check_dataset.py')
    cfg = Config.fromfile(
        osp.join(CONFIG_DIR, 'spotter', 'maskrcnn_r18_fpn_spotter_synthetic_tiny.py'))
    targets = tool.dataset_cfgs(cfg, ['train', 'test'])
    assert [split for split, _ in targets] == ['train', 'test']
    assert all(ds['type'] == 'SyntheticSpottingDataset' for _, ds in targets)
    dictionary, max_seq_len = tool.recogniser_vocabulary(cfg.to_dict(), None, None)
    assert max_seq_len == 32
    assert dictionary.char2idx('a', strict=False) is not None
    assert dictionary.char2idx('\u00e9', strict=False) is None
    mixture = Config.fromfile(
        osp.join(CONFIG_DIR, 'spotter', 'maskrcnn_r50_fpn_spotter_mixture.py'))
    roots = [ds['data_root'] for _, ds in tool.dataset_cfgs(mixture, ['train'])]
    assert roots == ['data/mlt2017', 'data/icdar2013', 'data/icdar2015', 'data/totaltext']
