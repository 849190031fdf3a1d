"""Offline evaluation of RRC ground truth and submission files."""
import pytest

from mmdld.evaluation.functional import evaluate_rrc


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


def test_submission_image_missing_from_gt_is_an_error(tmp_path):
    write(tmp_path / 'gt', 'gt_img_1.txt', ['0,0,1,0,1,1,0,1,a'])
    write(tmp_path / 'res', 'res_img_9.txt', ['0,0,1,0,1,1,0,1,a'])
    with pytest.raises(ValueError, match='images not in the GT .*img_9'):
        evaluate_rrc(str(tmp_path / 'gt'), str(tmp_path / 'res'))
