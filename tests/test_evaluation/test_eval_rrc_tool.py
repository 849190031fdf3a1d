"""tools/analysis_tools/eval_rrc.py against the online metric."""
import importlib.util
import json
import os.path as osp
import zipfile

import numpy as np
import pytest
from helpers import TOOLS_DIR
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from mmdld.evaluation import E2ESpottingMetric

TOOL = osp.join(TOOLS_DIR, 'analysis_tools', 'eval_rrc.py')


def load_tool():
    spec = importlib.util.spec_from_file_location('eval_rrc', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Per image: GT (polygon, text) and predictions (polygon, text), ICDAR quads and a curved word.
CURVE = [0, 10, 10, 2, 20, 0, 30, 2, 40, 10, 40, 20, 30, 12, 20, 10, 10, 12, 0, 20]
IMAGES = {
    'img_1': ([([0, 0, 50, 0, 50, 20, 0, 20], 'Hello!'), ([60, 0, 90, 0, 90, 20, 60, 20], '###'),
               ([0, 30, 40, 30, 40, 50, 0, 50], 'Cafe')],
              [([1, 0, 50, 1, 49, 20, 0, 19], 'HELLO'), ([61, 0, 90, 0, 90, 20, 61, 20], 'junk'),
               ([0, 30, 40, 30, 40, 50, 0, 50], 'Cafo')]),
    'img_2': ([(CURVE, 'Total'), ([100, 0, 120, 0, 120, 10, 100, 10], '2015')],
              [([c + 1 for c in CURVE], 'total'), ([100, 0, 120, 0, 120, 10, 100, 10], '2015'),
               ([200, 200, 220, 200, 220, 210, 200, 210], 'ghost')]),
    'img_3': ([([0, 0, 10, 0, 10, 10, 0, 10], 'Exit')], []),
}


def write_rrc(tmp_path):
    gt_dir = tmp_path / 'gt'
    gt_dir.mkdir()
    with zipfile.ZipFile(tmp_path / 'submission.zip', 'w') as archive:
        for stem, (gts, preds) in IMAGES.items():
            lines = [','.join(map(str, p)) + (f',{t}' if len(p) == 8 else f',####{t}')
                     for p, t in gts]
            (gt_dir / f'gt_{stem}.txt').write_text('\r\n'.join(lines), encoding='utf-8-sig')
            if preds:
                archive.writestr(f'res_{stem}.txt', '\n'.join(
                    ','.join(map(str, p)) + f',{t}' for p, t in preds))
    (tmp_path / 'full.txt').write_text('HELLO\nCAFE\nTOTAL\nEXIT\n')


def online_metrics(lexicons):
    metric = E2ESpottingMetric(lexicons=lexicons)
    for stem, (gts, preds) in IMAGES.items():
        sample = DetDataSample(metainfo=dict(img_path=f'test/{stem}.jpg'))
        care = [(np.array(p, np.float32), t) for p, t in gts if t != '###']
        dont_care = [(np.array(p, np.float32), t) for p, t in gts if t == '###']
        for field, items in (('gt_instances', care), ('ignored_instances', dont_care),
                             ('pred_instances', preds)):
            data = InstanceData()
            data.polygons = [np.array(p, np.float32) for p, _ in items]
            data.texts = [t for _, t in items]
            setattr(sample, field, data)
        metric.process({}, [sample.to_dict()])
    return metric.evaluate(len(IMAGES))


def test_tool_matches_the_online_metric(tmp_path, capsys):
    write_rrc(tmp_path)
    out = tmp_path / 'results.json'
    metrics = load_tool().main([
        str(tmp_path / 'gt'), str(tmp_path / 'submission.zip'),
        '--lexicon', f'full={tmp_path / "full.txt"}', '--out', str(out)])
    assert metrics == online_metrics(dict(full=str(tmp_path / 'full.txt')))
    # By hand: 5 care GT (Hello!, Cafe, Total, 2015, Exit) and 5 care predictions ('junk' lies
    # on the don't-care GT); 4 detections match. End-to-end: Cafo is wrong; with the full
    # lexicon it becomes CAFE but '2015' becomes the nearest word, CAFE (ties: first word).
    assert metrics['det/recall'] == 0.8 and metrics['det/precision'] == 0.8
    assert metrics['e2e/none/recall'] == 0.6 and metrics['e2e/full/recall'] == 0.6
    # Word spotting: '2015' is don't-care and its prediction dropped: 4 GT, 4 predictions.
    assert metrics['ws/none/recall'] == 0.5 and metrics['ws/none/precision'] == 0.5
    assert metrics['ws/full/hmean'] == 0.75
    printed = capsys.readouterr().out
    assert 'E2E Full' in printed and 'Word Spotting' in printed
    report = json.loads(out.read_text())
    assert report['End-to-End (%)'] == {'None': 60.0, 'Full': 60.0}
    assert report['Word Spotting (%)'] == {'None': 50.0, 'Full': 75.0}
    assert report['Det (%)'] == 80.0


def test_tool_reports_bad_input(tmp_path):
    write_rrc(tmp_path)
    tool = load_tool()
    with pytest.raises(SystemExit, match='eval_rrc.py: not a folder or a zip'):
        tool.main([str(tmp_path / 'missing'), str(tmp_path / 'submission.zip')])
    with pytest.raises(SystemExit):
        tool.main([str(tmp_path / 'gt'), str(tmp_path / 'submission.zip'), '--lexicon', 'full'])
