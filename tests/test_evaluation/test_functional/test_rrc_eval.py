"""Offline evaluation of RRC ground truth and submission files."""
import warnings

import pytest

from mmdld.evaluation.functional import COUNT_FIELDS, evaluate_rrc


def write(folder, name, lines):
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(''.join(f'{line}\n' for line in lines), encoding='utf-8')


def test_folder_submission_with_lexicons(tmp_path):
    gt, res = tmp_path / 'gt', tmp_path / 'res'
    write(gt, 'gt_img_1.txt', ['0,0,10,0,10,10,0,10,Hallo', '20,0,30,0,30,10,20,10,###'])
    write(gt, 'gt_img_2.txt', ['0,0,10,0,20,5,10,10,0,10,####2015'])
    write(res, 'res_img_1.txt', ['0,0,10,0,10,10,0,10,HXLLO', '21,0,30,0,30,10,21,10,junk'])
    # img_2 has no submission file: its GT is missed.
    write(tmp_path / 'strong', 'img_1.txt', ['HALLO', 'HELLO'])
    write(tmp_path / 'strong', 'img_2.txt', ['YEAR'])
    (tmp_path / 'full.txt').write_text('HELLO\nHALLO\n')
    metrics = evaluate_rrc(str(gt), str(res),
                           lexicons=dict(strong=str(tmp_path / 'strong' / '{img_stem}.txt'),
                                         full=str(tmp_path / 'full.txt')))
    # Care GT: 'Hallo' and '2015'; care predictions: 1 (the other lies on '###').
    assert metrics['det/precision'] == 1.0 and metrics['det/recall'] == 0.5
    assert metrics['e2e/none/hmean'] == 0.0
    assert metrics['e2e/full/hmean'] == 0.0  # HELLO wins the tie
    assert metrics['e2e/strong/precision'] == 1.0 and metrics['e2e/strong/recall'] == 0.5
    # Word spotting: '2015' is don't-care, so 1 care GT.
    assert metrics['ws/strong/recall'] == 1.0
    assert {key: metrics[f'det/{key}'] for key in COUNT_FIELDS} == dict(
        num_matched=1, num_gt=2, num_det=1, num_gt_dont_care=1, num_det_dont_care=1)
    assert metrics['e2e/strong/num_matched'] == 1 and metrics['e2e/none/num_matched'] == 0
    assert metrics['ws/strong/num_gt'] == 1 and metrics['ws/strong/num_gt_dont_care'] == 2


def test_submission_image_missing_from_gt_is_an_error(tmp_path):
    write(tmp_path / 'gt', 'gt_img_1.txt', ['0,0,1,0,1,1,0,1,a'])
    write(tmp_path / 'res', 'res_img_9.txt', ['0,0,1,0,1,1,0,1,a'])
    with pytest.raises(ValueError, match='images not in the GT .*img_9'):
        evaluate_rrc(str(tmp_path / 'gt'), str(tmp_path / 'res'))


def test_detection_only_submission(tmp_path):
    gt, res = tmp_path / 'gt', tmp_path / 'res'
    write(gt, 'gt_img_1.txt', ['0,0,10,0,10,10,0,10,Hello', '20,0,30,0,30,10,20,10,###',
                               '40,0,50,0,50,10,40,10,World'])
    write(res, 'res_img_1.txt', [
        '41,0,50,0,50,10,41,10,0.2',            # World, IoU 0.9
        '0,0,10,0,10,10,0,10,0.9',              # Hello
        '21,0,30,0,30,10,21,10,0.8',            # on the don't-care GT: dropped
        '100,100,110,100,110,110,100,110,0.6',  # nothing there
    ])
    metrics = evaluate_rrc(str(gt), str(res), det_only=True)
    assert metrics == {
        'det/precision': 2 / 3, 'det/recall': 1.0, 'det/hmean': 0.8,
        'det/num_matched': 2, 'det/num_gt': 2, 'det/num_det': 3, 'det/num_gt_dont_care': 1,
        'det/num_det_dont_care': 1}
    # Read as end-to-end lines these are 8 coordinates and a numeric text each, with the same
    # detection numbers, but end-to-end and word spotting counts besides.
    e2e = evaluate_rrc(str(gt), str(res))
    assert e2e['det/hmean'] == 0.8 and e2e['e2e/none/hmean'] == 0.0


def test_detection_only_lines_without_confidence_are_text_less_polygons(tmp_path):
    gt, res = tmp_path / 'gt', tmp_path / 'res'
    write(gt, 'gt_img_1.txt', ['0,0,10,0,10,10,0,10,Hello'])
    write(res, 'res_img_1.txt', ['0,0,10,0,10,10,0,10'])
    assert evaluate_rrc(str(gt), str(res), det_only=True)['det/hmean'] == 1.0
    # Read as end-to-end lines the polygon would lose its last point: refused.
    with pytest.raises(ValueError, match='res_img_1.txt:1: 8 numbers and no transcription'):
        evaluate_rrc(str(gt), str(res))


def test_confidences_order_the_matching(tmp_path):
    # Two overlapping GT. The 0.4 detection has IoU 2/3 with both, the 0.9 one is GT A (IoU
    # 6/14 with B). In file order A takes the 0.4 detection and B is left unmatched; sorted by
    # confidence, as the RRC script does, A takes the 0.9 one and B the 0.4 one.
    gt, res, plain = tmp_path / 'gt', tmp_path / 'res', tmp_path / 'plain'
    write(gt, 'gt_img_1.txt', ['0,0,10,0,10,10,0,10,A', '4,0,14,0,14,10,4,10,B'])
    write(res, 'res_img_1.txt', ['2,0,12,0,12,10,2,10,0.4', '0,0,10,0,10,10,0,10,0.9'])
    write(plain, 'res_img_1.txt', ['2,0,12,0,12,10,2,10', '0,0,10,0,10,10,0,10'])
    assert evaluate_rrc(str(gt), str(res), det_only=True)['det/num_matched'] == 2
    assert evaluate_rrc(str(gt), str(plain), det_only=True)['det/num_matched'] == 1


def test_total_text_gt_names(tmp_path):
    gt, res = tmp_path / 'gt', tmp_path / 'res'
    # ',####' then the don't-care text '###'.
    write(gt, 'poly_gt_img11.txt', ['0,0,10,0,10,10,0,10,####Hi', '20,0,30,0,30,10,20,10,#######'])
    write(res, 'res_img11.txt', ['0,0,10,0,10,10,0,10,####Hi'])
    metrics = evaluate_rrc(str(gt), str(res))
    assert metrics['e2e/none/hmean'] == 1.0
    assert metrics['det/num_gt'] == 1 and metrics['det/num_gt_dont_care'] == 1


def test_detection_only_ltrb_boxes(tmp_path):
    write(tmp_path / 'gt', 'gt_img_1.txt', ['0,0,10,10,Hello', '20,0,30,10,World'])
    write(tmp_path / 'res', 'res_img_1.txt', ['20,0,30,10,0.3', '0,0,10,10,0.5', '0,20,5,30,1'])
    metrics = evaluate_rrc(str(tmp_path / 'gt'), str(tmp_path / 'res'), ltrb=True, det_only=True)
    assert metrics['det/num_matched'] == 2 and metrics['det/num_det'] == 3
    assert metrics['det/recall'] == 1.0


def test_empty_submissions_are_evaluated_with_a_warning(tmp_path):
    gt = tmp_path / 'gt'
    write(gt, 'gt_img_1.txt', ['0,0,10,0,10,10,0,10,Hello'])
    (tmp_path / 'none').mkdir()
    with pytest.warns(UserWarning, match=r'none: an empty submission, no res_<image>.txt files'):
        metrics = evaluate_rrc(str(gt), str(tmp_path / 'none'))
    assert metrics['det/recall'] == 0.0 and metrics['det/num_gt'] == 1
    assert metrics['det/num_det'] == 0
    write(tmp_path / 'blank', 'res_img_1.txt', [])
    with pytest.warns(UserWarning, match=r'blank: an empty submission, no detection in its 1 '):
        evaluate_rrc(str(gt), str(tmp_path / 'blank'), det_only=True)
    write(tmp_path / 'some', 'res_img_1.txt', ['50,50,60,50,60,60,50,60,x'])
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert evaluate_rrc(str(gt), str(tmp_path / 'some'))['det/num_det'] == 1


def test_bad_inputs(tmp_path):
    write(tmp_path / 'gt', 'gt_img_1.txt', ['0,0,1,0,1,1,0,1,a'])
    write(tmp_path / 'res', 'res_img_1.txt', ['0,0,1,0,1,1,0,1'])
    with pytest.raises(ValueError, match='a detection-only submission has none'):
        evaluate_rrc(str(tmp_path / 'gt'), str(tmp_path / 'res'), det_only=True,
                     lexicons=dict(full=str(tmp_path / 'full.txt')))
    (tmp_path / 'empty_gt').mkdir()
    with pytest.raises(ValueError, match='empty_gt: no GT files'):
        evaluate_rrc(str(tmp_path / 'empty_gt'), str(tmp_path / 'res'))
