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


def table_row(printed, first_cell, num_cells):
    """Cells of the printed table row that starts with ``first_cell`` and has ``num_cells``."""
    for line in printed.splitlines():
        cells = [cell.strip() for cell in line.strip().strip('|').split('|')]
        if cells[0] == first_cell and len(cells) == num_cells:
            return cells
    raise AssertionError(f'no row {first_cell!r} with {num_cells} cells in\n{printed}')


def test_tool_prints_and_writes_the_counts(tmp_path, capsys):
    write_rrc(tmp_path)
    out = tmp_path / 'results.json'
    metrics = load_tool().main([str(tmp_path / 'gt'), str(tmp_path / 'submission.zip'),
                                '--out', str(out)])
    # By hand (see above): 5 care GT, 1 don't-care GT, 6 predictions of which 'junk' lies on
    # the don't-care GT, 4 matched; 3 with the right text end to end. Word spotting also
    # exempts '2015' (don't-care GT, its prediction dropped).
    printed = capsys.readouterr().out
    header = table_row(printed, 'Task', 10)
    assert header[5:] == ['Matched', 'GT', 'Det', "GT don't care", "Det don't care"]
    assert table_row(printed, 'Det', 10) == ['Det', '-', '80.00', '80.00', '80.00',
                                             '4', '5', '5', '1', '1']
    assert table_row(printed, 'End-to-End', 10)[5:] == ['3', '5', '5', '1', '1']
    assert table_row(printed, 'Word Spotting', 10)[5:] == ['2', '4', '4', '2', '2']
    report = json.loads(out.read_text())
    assert report['metrics'] == metrics and report['det_only'] is False
    assert report['metrics']['det/num_det_dont_care'] == 1


def write_detection_case(tmp_path):
    gt = tmp_path / 'gt'
    gt.mkdir()
    # Total-Text names; the second GT is don't-care (',####' then '###').
    (gt / 'poly_gt_img1.txt').write_text('0,0,10,0,10,10,0,10,####Hello\n'
                                         '20,0,30,0,30,10,20,10,#######\n')
    res = tmp_path / 'res'
    res.mkdir()
    (res / 'res_img1.txt').write_text('0,0,10,0,10,10,0,10,0.9\n'
                                      '21,0,30,0,30,10,21,10,0.8\n'
                                      '60,0,70,0,70,10,60,10,0.1\n')
    return gt, res


def test_tool_detection_only(tmp_path, capsys):
    gt, res = write_detection_case(tmp_path)
    out = tmp_path / 'det.json'
    metrics = load_tool().main([str(gt), str(res), '--det-only', '--out', str(out)])
    # 1 care GT matched; of 3 detections one is dropped on the don't-care GT, one is false.
    assert metrics['det/precision'] == 0.5 and metrics['det/recall'] == 1.0
    assert not any(key.startswith(('e2e/', 'ws/')) for key in metrics)
    printed = capsys.readouterr().out
    assert table_row(printed, 'Det', 10) == ['Det', '-', '50.00', '100.00', '66.67',
                                             '1', '1', '2', '1', '1']
    assert 'E2E' not in printed
    report = json.loads(out.read_text())
    assert report['Det (%)'] == 66.67 and report['det_only'] is True
    assert 'End-to-End (%)' not in report


def test_tool_refuses_text_less_lines_without_det_only(tmp_path):
    gt, res = write_detection_case(tmp_path)
    (res / 'res_img1.txt').write_text('0,0,10,0,10,10,0,10\n')
    tool = load_tool()
    with pytest.raises(SystemExit, match=r'eval_rrc.py: .*res_img1.txt:1: 8 numbers and no '
                       'transcription.*--det-only'):
        tool.main([str(gt), str(res)])
    assert tool.main([str(gt), str(res), '--det-only'])['det/hmean'] == 1.0
    with pytest.raises(SystemExit, match='a detection-only submission has none'):
        tool.main([str(gt), str(res), '--det-only', '--lexicon', f'full={tmp_path}/full.txt'])


def test_tool_warns_about_an_empty_submission(tmp_path, capsys):
    gt, res = write_detection_case(tmp_path)
    (res / 'res_img1.txt').write_text('')
    metrics = load_tool().main([str(gt), str(res), '--det-only'])
    assert metrics['det/recall'] == 0.0 and metrics['det/num_gt'] == 1
    err = capsys.readouterr().err
    assert f'eval_rrc.py: warning: {res}: an empty submission, no detection in its 1' in err
