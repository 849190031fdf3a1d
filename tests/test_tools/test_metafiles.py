"""The model index: one OpenMMLab metafile per config family, read by ``mim search mmdld``.

Every metafile parses, names existing configs, and together they list every config (those in
``_base_`` folders aside); figures appear only where they were measured (docs/report.md).
"""
import glob
import os.path as osp
import re
import subprocess
import sys

import pytest
import yaml
from helpers import CONFIG_DIR, REPO_ROOT

MODEL_INDEX = osp.join(REPO_ROOT, 'model-index.yml')
METAFILES = sorted(glob.glob(osp.join(CONFIG_DIR, '*', 'metafile.yml')))
#: The configs with measured figures: the `make demo` teacher and student (docs/report.md).
MEASURED = {
    'configs/demo/spotter_r18w32_demo.py': 'Teacher (S-320)',
    'configs/demo/dld_r18w32_demo.py': 'DLD student (gamma 0.1)',
}
#: Metafile metric -> column of the report's table.
REPORT_COLUMNS = {'E2E None hmean': 'E2E None', 'E2E Full hmean': 'E2E Full',
                  'WS None hmean': 'WS None', 'Det hmean': 'Det', 'Rec accuracy': 'Rec',
                  'Scale': 'Scale', 'GFLOPs': 'GFLOPs/img'}


def _load(path):
    with open(path, encoding='utf-8') as f:
        return yaml.safe_load(f)


def _models():
    return [model for path in METAFILES for model in _load(path)['Models']]


def _config_files():
    paths = glob.glob(osp.join(CONFIG_DIR, '**', '*.py'), recursive=True)
    return sorted(osp.relpath(p, REPO_ROOT) for p in paths
                  if '_base_' not in osp.relpath(p, CONFIG_DIR).split(osp.sep)[:-1])


def test_model_index_imports_every_metafile():
    imports = _load(MODEL_INDEX)['Import']
    assert sorted(osp.join(REPO_ROOT, p) for p in imports) == METAFILES
    assert len(METAFILES) == 6


@pytest.mark.parametrize('path', METAFILES, ids=lambda p: osp.relpath(p, CONFIG_DIR))
def test_metafile_is_in_the_openmmlab_format(path):
    meta = _load(path)
    assert set(meta) == {'Collections', 'Models'}
    collections = {c['Name']: c for c in meta['Collections']}
    for collection in collections.values():
        assert collection['Paper']['URL'] == 'https://arxiv.org/abs/2207.06694'
        assert 'Low-Resolution Distillation' in collection['Paper']['Title']
        assert osp.isfile(osp.join(REPO_ROOT, collection['README']))
    family = osp.relpath(osp.dirname(path), REPO_ROOT)
    for model in meta['Models']:
        assert model['In Collection'] in collections, model['Name']
        assert model['Config'].startswith(family + '/'), model['Config']
        assert osp.isfile(osp.join(REPO_ROOT, model['Config'])), model['Config']
        assert model['Metadata']['Training Data']
        # No pretrained weights are published.
        assert model['Weights'] is None, model['Name']


def test_every_config_is_listed_once_under_a_unique_name():
    models = _models()
    configs = [m['Config'] for m in models]
    assert sorted(configs) == _config_files()
    names = [m['Name'] for m in models]
    assert len(set(names)) == len(names)


def _report_rows():
    """The first table of docs/report.md's measured demo run: row name -> column -> value."""
    with open(osp.join(REPO_ROOT, 'docs', 'report.md'), encoding='utf-8') as f:
        text = f.read().split('## The demo run measured here', 1)[1]
    table = re.search(r'(\| Model \|.*?)\n\n', text, re.S).group(1).splitlines()
    header = [c.strip() for c in table[0].strip('|').split('|')]
    rows = {}
    for line in table[2:]:
        cells = [c.strip() for c in line.strip('|').split('|')]
        rows[cells[0]] = dict(zip(header[1:], (float(c) for c in cells[1:])))
    return rows


def test_results_only_where_measured_and_as_reported():
    rows = _report_rows()
    with_results = {m['Config']: m['Results'] for m in _models() if m.get('Results')}
    assert set(with_results) == set(MEASURED)
    for config, results in with_results.items():
        [result] = results
        assert result['Task'] == 'End-to-End Text Spotting'
        row = rows[MEASURED[config]]
        assert {k: row[REPORT_COLUMNS[k]] for k in result['Metrics']} == result['Metrics']


def test_mim_reads_the_index_through_the_installed_package():
    # mim reads <package>/.mim/model-index.yml, linked (develop install) to the repository's.
    from mim.commands.search import get_model_info
    info = get_model_info('mmdld', shown_fields=['config'], to_dict=True)
    assert sorted(v['config'] for v in info.values()) == _config_files()


def test_mim_search_lists_the_configs():
    mim = osp.join(osp.dirname(sys.executable), 'mim')
    proc = subprocess.run([mim, 'search', 'mmdld'], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for model in _models():
        assert f'config id: {model["Name"]}' in proc.stdout, model['Name']


def test_mim_download_has_no_weights_to_fetch(tmp_path):
    # Documented in docs/getting_started.md: with no `Weights` in the index, mim 0.3.9 stops
    # before downloading anything (it selects a `weight` field that no model has).
    mim = osp.join(osp.dirname(sys.executable), 'mim')
    proc = subprocess.run([mim, 'download', 'mmdld', '--config', 'dld_r18w32_demo', '--dest',
                           str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "but got {'weight'}" in proc.stdout + proc.stderr
    assert list(tmp_path.iterdir()) == []
