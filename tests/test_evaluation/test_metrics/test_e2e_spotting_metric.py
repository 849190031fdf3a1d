"""E2ESpottingMetric on hand-built data samples (no model needed)."""
import json
import logging
import random

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.evaluator import Evaluator
from mmengine.logging import MMLogger
from mmengine.structures import InstanceData

from mmdld.evaluation import (E2ESpottingMetric, accumulate, counts_array, evaluate_rrc,
                              load_per_image, summarize)
from mmdld.registry import METRICS


def box(x1, y1, x2, y2):
    return np.array([x1, y1, x2, y1, x2, y2, x1, y2], dtype=np.float32)


def instances(items, scores=None):
    data = InstanceData()
    data.polygons = [polygon for polygon, _ in items]
    data.texts = [text for _, text in items]
    if scores is not None:
        data.scores = torch.tensor(scores, dtype=torch.float32)
    return data


def make_sample(img_path, gts=(), preds=(), ignored=(), scores=None, **metainfo):
    sample = DetDataSample(metainfo=dict(img_path=img_path, **metainfo))
    sample.gt_instances = instances(list(gts))
    sample.ignored_instances = instances(list(ignored))
    sample.pred_instances = instances(
        list(preds), [1.0] * len(preds) if scores is None else scores)
    return sample


def evaluate(metric, samples):
    metric.process({}, [sample.to_dict() for sample in samples])
    return metric.evaluate(len(samples))


def test_built_from_the_registry_and_run_by_an_evaluator():
    metric = METRICS.build(dict(type='E2ESpottingMetric', iou_thr=0.1))
    assert isinstance(metric, E2ESpottingMetric) and metric.iou_thr == 0.1
    evaluator = Evaluator([metric])
    samples = [
        make_sample('data/imgs/img_1.jpg', gts=[(box(0, 0, 10, 10), 'Hello')],
                    preds=[(box(0, 0, 10, 10), 'HELLO'), (box(50, 50, 60, 60), 'spurious')]),
        make_sample('data/imgs/img_2.jpg', gts=[(box(0, 0, 10, 10), 'World')],
                    ignored=[(box(20, 0, 30, 10), '###')],
                    preds=[(box(20, 0, 30, 10), 'x')]),
    ]
    evaluator.process(data_samples=samples)  # converts DetDataSample to dicts as the loop does
    metrics = evaluator.evaluate(2)
    assert metrics['det/precision'] == 0.5 and metrics['det/recall'] == 0.5
    assert metrics['e2e/none/hmean'] == 0.5
    assert metrics['ws/none/recall'] == 0.5
    assert not any(key.startswith(('rec/', 'cost/')) for key in metrics)


def test_score_threshold_filters_predictions():
    sample = make_sample('img_1.jpg', gts=[(box(0, 0, 10, 10), 'Hello')],
                         preds=[(box(0, 0, 10, 10), 'Hello'), (box(50, 0, 60, 10), 'no')],
                         scores=[0.9, 0.2])
    assert evaluate(E2ESpottingMetric(), [sample])['e2e/none/precision'] == 0.5
    assert evaluate(E2ESpottingMetric(score_thr=0.5), [sample])['e2e/none/precision'] == 1.0


def test_tensors_arrays_lists_and_boxes_give_the_same_numbers():
    gt = [(box(0, 0, 10, 10), 'Hello')]
    pred_polygon = box(1, 0, 10, 10)
    reference = None
    for polygon in (pred_polygon, torch.from_numpy(pred_polygon), pred_polygon.tolist()):
        sample = make_sample('img_1.jpg', gts=gt, preds=[(polygon, 'Hello')])
        metrics = evaluate(E2ESpottingMetric(), [sample])
        reference = reference or metrics
        assert metrics == reference and metrics['e2e/none/hmean'] == 1.0
    # Without polygons the boxes (HorizontalBoxes-like tensors) stand in as quads.
    sample = dict(img_path='img_1.jpg',
                  gt_instances=dict(bboxes=torch.tensor([[0., 0., 10., 10.]]), texts=['Hello']),
                  pred_instances=dict(bboxes=torch.tensor([[1., 0., 10., 10.]]),
                                      texts=['hello'], scores=torch.tensor([0.9])))
    metric = E2ESpottingMetric()
    metric.process({}, [sample])
    assert metric.evaluate(1) == reference


def test_dont_care_text_inside_gt_instances():
    sample = make_sample('img_1.jpg', gts=[(box(0, 0, 10, 10), '###')],
                         preds=[(box(0, 0, 10, 10), 'abc')])
    metrics = evaluate(E2ESpottingMetric(), [sample])
    assert metrics['det/recall'] == 0 and metrics['det/precision'] == 0  # 0 care GT, 0 care pred


def write_lexicons(root):
    (root / 'strong').mkdir(parents=True)
    (root / 'strong' / 'img_1.txt').write_text('HALLO\nHELLO\n')
    (root / 'strong' / 'img_2.txt').write_text('WORLD\n')
    (root / 'full.txt').write_text('HELLO\nHALLO\nWORLD\n')
    return dict(strong=str(root / 'strong' / '{img_stem}.txt'), full=str(root / 'full.txt'))


def test_every_lexicon_setting_in_one_pass(tmp_path):
    lexicons = write_lexicons(tmp_path)
    samples = [
        make_sample('img_1.jpg', gts=[(box(0, 0, 10, 10), 'Hallo')],
                    preds=[(box(0, 0, 10, 10), 'HXLLO')]),
        make_sample('img_2.jpg', gts=[(box(0, 0, 10, 10), 'World')],
                    preds=[(box(0, 0, 10, 10), 'W0RLD')]),
    ]
    metrics = evaluate(E2ESpottingMetric(lexicons=lexicons), samples)
    assert metrics['e2e/none/hmean'] == 0.0
    assert metrics['e2e/full/hmean'] == 0.5     # the tie goes to HELLO, the first full word
    assert metrics['e2e/strong/hmean'] == 1.0
    assert metrics['ws/strong/hmean'] == 1.0
    capped = evaluate(E2ESpottingMetric(lexicons=lexicons, max_lexicon_dist=0), samples)
    assert capped['e2e/strong/hmean'] == 0.0


def test_lexicon_paths_relative_to_data_root(tmp_path, monkeypatch):
    absolute = write_lexicons(tmp_path / 'dataset' / 'lexicons')
    # Relative paths are read below data_root, wherever the working directory is; an absolute
    # path is read as it is.
    monkeypatch.chdir(tmp_path)
    relative = dict(strong='lexicons/strong/{img_stem}.txt', full=absolute['full'])
    metric = E2ESpottingMetric(lexicons=relative, data_root=str(tmp_path / 'dataset'))
    assert metric.lexicons == absolute
    samples = [make_sample('img_1.jpg', gts=[(box(0, 0, 10, 10), 'Hallo')],
                           preds=[(box(0, 0, 10, 10), 'HXLLO')])]
    assert evaluate(metric, samples) == evaluate(E2ESpottingMetric(lexicons=absolute), samples)
    # Without data_root, relative paths stay relative to the working directory.
    cwd_relative = E2ESpottingMetric(lexicons=dict(full='dataset/lexicons/full.txt'))
    assert cwd_relative.lexicons == dict(full='dataset/lexicons/full.txt')
    assert evaluate(cwd_relative, samples)['e2e/full/hmean'] == 0.0  # HXLLO -> HELLO, not Hallo
    with pytest.raises(FileNotFoundError, match='elsewhere/lexicons/full.txt'):
        E2ESpottingMetric(lexicons=dict(full='lexicons/full.txt'),
                          data_root='elsewhere').process({}, [samples[0].to_dict()])


def test_missing_strong_lexicon_names_the_image(tmp_path):
    lexicons = write_lexicons(tmp_path)
    metric = E2ESpottingMetric(lexicons=lexicons)
    with pytest.raises(FileNotFoundError, match="'strong' lexicon of image 'img_3'"):
        metric.process({}, [make_sample('img_3.jpg').to_dict()])


def test_recognition_accuracy_and_cost():
    samples = [
        make_sample('img_1.jpg', gts=[(box(0, 0, 10, 10), 'Hello'), (box(20, 0, 30, 10), 'a')],
                    pred_gt_texts=['hello', 'b'], dld_scale=0.5, dld_gflops=10.0),
        make_sample('img_2.jpg', gts=[(box(0, 0, 10, 10), 'World!'), (box(0, 20, 9, 30), '###')],
                    pred_gt_texts=['world', 'x'], dld_scale=0.8, dld_gflops=30.0),
    ]
    metrics = evaluate(E2ESpottingMetric(), samples)
    assert metrics['rec/accuracy'] == pytest.approx(2 / 3)  # '###' is not counted
    assert metrics['cost/avg_scale'] == pytest.approx(0.65)
    assert metrics['cost/gflops'] == pytest.approx(20.0)


def random_samples(seed, num_images=12):
    rng = random.Random(seed)
    words = ['Hello', 'World', 'STOP', 'Caf\u00e9', '2015', 'ab', '###', "Jack's", '(Exit)']
    samples = []
    for index in range(num_images):
        gts, preds = [], []
        for slot in range(rng.randint(0, 5)):
            x = 30 * slot
            text = rng.choice(words)
            gts.append((box(x, 0, x + 20, 10), text))
            if rng.random() < 0.8:
                dx = rng.uniform(-8, 8)
                guess = text if rng.random() < 0.6 else rng.choice(words)
                preds.append((box(x + dx, rng.uniform(-2, 2), x + 20 + dx, 10), guess.lower()))
        if rng.random() < 0.5:
            preds.append((box(500, 500, 520, 510), 'noise'))
        ignored = [gt for gt in gts if gt[1] == '###']
        gts = [gt for gt in gts if gt[1] != '###']
        samples.append(make_sample(f'imgs/img_{index}.jpg', gts=gts, preds=preds,
                                   ignored=ignored))
    return samples


def test_numbers_do_not_depend_on_image_order(tmp_path):
    (tmp_path / 'full.txt').write_text('HELLO\nWORLD\nSTOP\nCAF\u00c9\nEXIT\n')
    lexicons = dict(full=str(tmp_path / 'full.txt'))
    samples = random_samples(0)
    reference = evaluate(E2ESpottingMetric(lexicons=lexicons), samples)
    assert 0 < reference['e2e/none/hmean'] < 1
    shuffled = samples[:]
    random.Random(1).shuffle(shuffled)
    assert evaluate(E2ESpottingMetric(lexicons=lexicons), shuffled) == reference


def test_online_metric_and_dumped_rrc_files_agree(tmp_path):
    (tmp_path / 'full.txt').write_text('HELLO\nWORLD\nSTOP\nCAF\u00c9\nEXIT\n')
    lexicons = dict(full=str(tmp_path / 'full.txt'))
    out = tmp_path / 'rrc'
    online = evaluate(E2ESpottingMetric(lexicons=lexicons, outfile_dir=str(out)),
                      random_samples(2))
    for gt in (out / 'gt', out / 'gt.zip'):
        offline = evaluate_rrc(str(gt), str(out / 'submission.zip'), lexicons=lexicons)
        assert offline == online
    # The lexicon-corrected submission read without lexicon gives the 'full' numbers.
    corrected = evaluate_rrc(str(out / 'gt'), str(out / 'submission_full'))
    assert corrected['e2e/none/hmean'] == online['e2e/full/hmean']
    report = json.loads((out / 'spotting_results.json').read_text())
    assert report['End-to-End (%)']['Full'] == round(100 * online['e2e/full/hmean'], 2)
    assert report['metrics'] == online and report['num_images'] == 12


def test_integer_submission_coordinates(tmp_path):
    sample = make_sample('img_1.jpg', gts=[(box(0, 0, 10, 10), 'Hi')],
                         preds=[(box(0.4, 0, 10.6, 10), 'Hi')])
    evaluate(E2ESpottingMetric(outfile_dir=str(tmp_path), submission_int_coords=True), [sample])
    assert (tmp_path / 'submission' / 'res_img_1.txt').read_text() == '0,0,11,0,11,10,0,10,Hi\n'


def test_duplicate_image_names_cannot_be_dumped(tmp_path):
    samples = [make_sample('a/img_1.jpg'), make_sample('b/img_1.jpg')]
    with pytest.raises(ValueError, match=r"share the file name\(s\) \['img_1'\]"):
        evaluate(E2ESpottingMetric(outfile_dir=str(tmp_path)), samples)


def test_bad_arguments_and_samples():
    with pytest.raises(ValueError, match="lexicons key 'none' is reserved"):
        E2ESpottingMetric(lexicons=dict(none='x.txt'))
    with pytest.raises(ValueError, match='lexicon_format must be one of'):
        E2ESpottingMetric(lexicon_format='csv')
    with pytest.raises(ValueError, match='iou_thr must be in'):
        E2ESpottingMetric(iou_thr=1.5)
    metric = E2ESpottingMetric()
    with pytest.raises(ValueError, match='no img_path'):
        metric.process({}, [dict(gt_instances=dict(polygons=[], texts=[]))])
    bad = dict(img_path='x/img_5.jpg', gt_instances=dict(polygons=[box(0, 0, 1, 1)], texts=[]))
    with pytest.raises(ValueError, match='x/img_5.jpg: gt_instances has 1 polygons but 0 texts'):
        metric.process({}, [bad])
    bad = make_sample('img_6.jpg', gts=[(box(0, 0, 1, 1), 'a')], pred_gt_texts=[]).to_dict()
    with pytest.raises(ValueError, match='img_6.jpg: pred_gt_texts has 0 texts for 1'):
        metric.process({}, [bad])


def test_counts_in_the_results_and_the_json(tmp_path):
    sample = make_sample('img_1.jpg', gts=[(box(0, 0, 10, 10), 'Hello')],
                         ignored=[(box(20, 0, 30, 10), '###')],
                         preds=[(box(0, 0, 10, 10), 'HELLO'), (box(20, 0, 30, 10), 'junk'),
                                (box(50, 50, 60, 60), 'ghost')])
    metrics = evaluate(E2ESpottingMetric(outfile_dir=str(tmp_path), dump_submission=False),
                       [sample])
    # 1 care GT matched; 'junk' lies on the don't-care GT (dropped), 'ghost' is false.
    expected = dict(num_matched=1, num_gt=1, num_det=2, num_gt_dont_care=1, num_det_dont_care=1)
    for task in ('det', 'e2e/none', 'ws/none'):
        assert {key: metrics[f'{task}/{key}'] for key in expected} == expected
        assert all(type(metrics[f'{task}/{key}']) is int for key in expected)
    assert metrics['det/precision'] == 0.5 and metrics['det/recall'] == 1.0
    report = json.loads((tmp_path / 'spotting_results.json').read_text())
    assert report['metrics']['det/num_det'] == 2
    assert report['metrics']['e2e/none/num_gt_dont_care'] == 1


class _Records(logging.Handler):

    def __init__(self) -> None:
        super().__init__()
        self.messages = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append((record.levelno, record.getMessage()))


def warnings_of(metric, samples):
    records = _Records()
    logger = MMLogger.get_current_instance()
    logger.addHandler(records)
    try:
        evaluate(metric, samples)
    finally:
        logger.removeHandler(records)
    return [message for level, message in records.messages if level == logging.WARNING]


def test_no_prediction_at_all_is_warned_about():
    samples = [make_sample(f'img_{i}.jpg', gts=[(box(0, 0, 10, 10), 'Hello')],
                           preds=[(box(0, 0, 10, 10), 'Hello')], scores=[0.3])
               for i in range(2)]
    assert warnings_of(E2ESpottingMetric(), samples) == []
    # The score threshold removes every prediction.
    messages = warnings_of(E2ESpottingMetric(score_thr=0.5), samples)
    assert messages == ['E2ESpottingMetric: no prediction in any of the 2 images '
                        '(score_thr=0.5): every GT instance counts as missed']


# per_image.json: what each image contributed, recomputable offline.
PER_IMAGE_SAMPLES = [
    # 'Hello' read right, 'World' misread, '###' inside gt_instances is don't-care, the
    # 0.2-scored prediction falls under score_thr.
    make_sample('data/imgs/img_1.jpg',
                gts=[(box(0, 0, 10, 10), 'Hello'), (box(20, 0, 30, 10), 'World'),
                     (box(40, 0, 50, 10), '###')],
                preds=[(box(0, 0, 10, 10), 'HELLO'), (box(20, 0, 30, 10), 'W0rld'),
                       (box(60, 0, 70, 10), 'low')],
                scores=[0.9, 0.8, 0.2], dld_scale=torch.tensor(0.5), dld_gflops=12.0,
                pred_gt_texts=['hello', 'world', 'x']),
    make_sample('data/imgs/img_2.jpg', gts=[(box(0, 0, 10, 10), 'Exit')],
                ignored=[(box(20, 0, 30, 10), '###')],
                preds=[(box(20, 0, 30, 10), 'junk')], scores=[0.7], dld_scale=1.0,
                dld_gflops=40.0, pred_gt_texts=['Exit']),
]


def test_records_hold_what_each_image_contributed(tmp_path):
    metrics = evaluate(E2ESpottingMetric(score_thr=0.5, outfile_dir=str(tmp_path),
                                         dump_submission=False), PER_IMAGE_SAMPLES)
    data = load_per_image(str(tmp_path / 'per_image.json'))
    assert {key: data[key] for key in ('iou_thr', 'score_thr', 'num_images')} == dict(
        iou_thr=0.5, score_thr=0.5, num_images=2)
    first, second = data['images']
    assert first == dict(
        name='img_1', img_path='data/imgs/img_1.jpg', scale=0.5, gflops=12.0,
        gt_texts=['Hello', 'World'], num_gt_dont_care=1,
        # The kept float32 scores, as predicted.
        det_texts=['HELLO', 'W0rld'], det_scores=[float(torch.tensor(0.9)),
                                                  float(torch.tensor(0.8))],
        matched_texts=['Hello'],
        counts={'det': [2, 2, 2, 1, 0], 'e2e/none': [1, 2, 2, 1, 0],
                'ws/none': [1, 2, 2, 1, 0]},
        rec=[2, 2])
    assert second['det_texts'] == ['junk'] and second['matched_texts'] == []
    assert second['counts']['e2e/none'] == [0, 1, 0, 1, 1]  # 'junk' lies on the don't-care GT
    assert second['rec'] == [1, 1] and second['scale'] == 1.0
    # The dataset figures are the sums of the records.
    assert summarize(accumulate(r['counts'] for r in data['images'])) == {
        key: value for key, value in metrics.items() if not key.startswith(('rec/', 'cost/'))}
    assert counts_array(data['images'], 'e2e/none').sum(axis=0).tolist() == [
        metrics[f'e2e/none/{field}'] for field in
        ('num_matched', 'num_gt', 'num_det', 'num_gt_dont_care', 'num_det_dont_care')]
    # spotting_results.json is unchanged next to it, and no RRC files without dump_submission.
    report = json.loads((tmp_path / 'spotting_results.json').read_text())
    assert report['metrics'] == metrics and report['num_images'] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ['per_image.json',
                                                          'spotting_results.json']


def test_records_without_scores_scale_or_recognition(tmp_path):
    sample = make_sample('img_9.png', gts=[(box(0, 0, 10, 10), 'Hi')],
                         preds=[(box(0, 0, 10, 10), 'hi')])
    del sample.pred_instances.scores
    evaluate(E2ESpottingMetric(outfile_dir=str(tmp_path)), [sample])
    (image, ) = load_per_image(str(tmp_path / 'per_image.json'))['images']
    assert (image['det_scores'], image['scale'], image['gflops'], image['rec']) == (None, ) * 4
    assert image['matched_texts'] == ['Hi'] and image['name'] == 'img_9'
    assert (tmp_path / 'submission.zip').exists()  # written with the RRC files too


def test_no_file_without_outfile_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evaluate(E2ESpottingMetric(), PER_IMAGE_SAMPLES)
    assert list(tmp_path.iterdir()) == []
