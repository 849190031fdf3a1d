"""RRC matching: one hand-built image per rule."""
import numpy as np
import pytest

from mmdld.evaluation.functional import COUNT_FIELDS, Lexicon, evaluate_image, greedy_match


def box(x1, y1, x2, y2):
    return [x1, y1, x2, y1, x2, y2, x1, y2]


def run(gts, preds, ignored=None, **kwargs):
    """gts / preds: lists of (polygon, text)."""
    return evaluate_image([p for p, _ in gts], [t for _, t in gts],
                          ignored or [False] * len(gts), [p for p, _ in preds],
                          [t for _, t in preds], **kwargs)


def test_exact_match_counts_everywhere():
    # [matched, care GT, care predictions, don't-care GT, dropped predictions]
    counts = run([(box(0, 0, 10, 10), 'Hello')], [(box(0, 0, 10, 10), 'hello')])
    assert counts == {'det': [1, 1, 1, 0, 0], 'e2e/none': [1, 1, 1, 0, 0],
                      'ws/none': [1, 1, 1, 0, 0]}
    assert COUNT_FIELDS == ('num_matched', 'num_gt', 'num_det', 'num_gt_dont_care',
                            'num_det_dont_care')


def test_wrong_text_is_a_detection_but_not_an_end_to_end_hit():
    counts = run([(box(0, 0, 10, 10), 'Hello')], [(box(0, 0, 10, 10), 'Hallo')])
    assert counts['det'] == [1, 1, 1, 0, 0]
    assert counts['e2e/none'] == [0, 1, 1, 0, 0] and counts['ws/none'] == [0, 1, 1, 0, 0]


@pytest.mark.parametrize('width,matched', [(4.99, False), (5.0, False), (5.01, True)])
def test_iou_must_be_strictly_above_the_threshold(width, matched):
    # IoU of [0, width] x [0, 10] with the 10 x 10 GT is width / 10.
    counts = run([(box(0, 0, 10, 10), 'Hello')], [(box(0, 0, width, 10), 'Hello')])
    assert counts['e2e/none'] == [int(matched), 1, 1, 0, 0]


def test_iou_threshold_is_configurable_for_one_stage_spotters():
    gts, preds = [(box(0, 0, 10, 10), 'Hello')], [(box(0, 0, 1.5, 10), 'Hello')]
    assert run(gts, preds)['e2e/none'][0] == 0
    assert run(gts, preds, iou_thr=0.1)['e2e/none'][0] == 1


def test_prediction_on_dont_care_gt_is_dropped():
    gts = [(box(0, 0, 10, 10), 'Hello'), (box(20, 0, 30, 10), '###')]
    # 60% of the first prediction's area lies on the don't-care GT: dropped.
    dropped = run(gts, [(box(24, 0, 34, 10), 'x')])
    assert dropped == {'det': [0, 1, 0, 1, 1], 'e2e/none': [0, 1, 0, 1, 1],
                       'ws/none': [0, 1, 0, 1, 1]}
    # Exactly half is not "more than half": the prediction is a false positive.
    kept = run(gts, [(box(25, 0, 35, 10), 'x')])
    assert kept['e2e/none'] == [0, 1, 1, 1, 0]


def test_ignore_flag_makes_gt_dont_care_whatever_its_text():
    gts = [(box(0, 0, 10, 10), 'Hello')]
    counts = run(gts, [(box(0, 0, 10, 10), 'Hello')], ignored=[True])
    # The prediction lies wholly on the ignored GT: dropped.
    assert counts['e2e/none'] == [0, 0, 0, 1, 1] and counts['det'] == [0, 0, 0, 1, 1]


def test_dont_care_gt_is_never_matched():
    # The prediction overlaps the care GT with IoU 0.67 but lies 80% on the don't-care one:
    # dropped before matching.
    gts = [(box(0, 0, 10, 10), 'Hello'), (box(4, 0, 14, 10), '###')]
    assert run(gts, [(box(2, 0, 12, 10), 'Hello')])['e2e/none'] == [0, 1, 0, 1, 1]


def test_prediction_overlapping_two_gts_goes_to_the_first_gt():
    # Overlapping GTs: the prediction has IoU 1 with A and 0.82 with B. GT A comes first and takes
    # it although the text is B's; the match is consumed, B stays unmatched.
    gts = [(box(0, 0, 10, 10), 'foo'), (box(1, 0, 11, 10), 'bar')]
    counts = run(gts, [(box(0, 0, 10, 10), 'bar')])
    assert counts['det'] == [1, 2, 1, 0, 0]
    assert counts['e2e/none'] == [0, 2, 1, 0, 0]


def test_first_prediction_above_threshold_wins_not_the_best():
    gts = [(box(0, 0, 10, 10), 'Hello')]
    preds = [(box(0, 0, 6, 10), 'wrong'), (box(0, 0, 10, 10), 'Hello')]  # IoU 0.6, then 1.0
    counts = run(gts, preds)
    assert counts['det'] == [1, 1, 2, 0, 0] and counts['e2e/none'] == [0, 1, 2, 0, 0]


def test_punctuation_rule_applies_to_end_to_end_only():
    gts = [(box(0, 0, 10, 10), 'Hello!')]
    counts = run(gts, [(box(0, 0, 10, 10), 'HELLO')])
    assert counts['e2e/none'] == [1, 1, 1, 0, 0] and counts['ws/none'] == [1, 1, 1, 0, 0]
    counts = run(gts, [(box(0, 0, 10, 10), 'Hello!')])
    # Word spotting compares with the normalised GT 'Hello'.
    assert counts['e2e/none'] == [1, 1, 1, 0, 0] and counts['ws/none'] == [0, 1, 1, 0, 0]


@pytest.mark.parametrize('gt_text', ['2015', 'ab', 'U.S.A'])
def test_word_spotting_exemptions_become_dont_care(gt_text):
    counts = run([(box(0, 0, 10, 10), gt_text)], [(box(0, 0, 10, 10), gt_text)])
    assert counts['e2e/none'] == [1, 1, 1, 0, 0]
    # The GT is don't-care for word spotting and the prediction dropped.
    assert counts['ws/none'] == [0, 0, 0, 1, 1]


def test_word_spotting_drops_trailing_apostrophe_s():
    gts = [(box(0, 0, 10, 10), "Jack's")]
    assert run(gts, [(box(0, 0, 10, 10), 'JACK')])['ws/none'] == [1, 1, 1, 0, 0]
    assert run(gts, [(box(0, 0, 10, 10), "Jack's")])['ws/none'] == [0, 1, 1, 0, 0]
    assert run(gts, [(box(0, 0, 10, 10), "Jack's")])['e2e/none'] == [1, 1, 1, 0, 0]


def test_word_spotting_can_be_turned_off():
    counts = run([(box(0, 0, 10, 10), 'Hello')], [], word_spotting=False)
    assert set(counts) == {'det', 'e2e/none'}


def test_lexicon_correction_before_matching_and_its_tie_break():
    gts, preds = [(box(0, 0, 10, 10), 'Hallo')], [(box(0, 0, 10, 10), 'HXLLO')]
    hello_first = Lexicon.from_words(['Hello', 'Hallo'])
    hallo_first = Lexicon.from_words(['Hallo', 'Hello'])
    counts = run(gts, preds, lexicons=dict(full=hello_first, strong=hallo_first))
    assert counts['e2e/none'] == [0, 1, 1, 0, 0]
    assert counts['e2e/full'] == [0, 1, 1, 0, 0]
    assert counts['e2e/strong'] == [1, 1, 1, 0, 0]
    assert counts['ws/strong'] == [1, 1, 1, 0, 0]
    far = run(gts, [(box(0, 0, 10, 10), 'QQQQQ')], lexicons=dict(full=hallo_first),
              max_lexicon_dist=2)
    assert far['e2e/full'] == [0, 1, 1, 0, 0]


def test_empty_predictions():
    counts = run([(box(0, 0, 10, 10), 'Hello'), (box(20, 0, 30, 10), '###')], [])
    assert counts == {'det': [0, 1, 0, 1, 0], 'e2e/none': [0, 1, 0, 1, 0],
                      'ws/none': [0, 1, 0, 1, 0]}


def test_empty_gt():
    counts = run([], [(box(0, 0, 10, 10), 'Hello'), (box(20, 0, 30, 10), 'x')])
    assert counts == {'det': [0, 0, 2, 0, 0], 'e2e/none': [0, 0, 2, 0, 0],
                      'ws/none': [0, 0, 2, 0, 0]}
    assert run([], []) == {'det': [0] * 5, 'e2e/none': [0] * 5, 'ws/none': [0] * 5}


def test_symmetric_bow_tie_has_no_outline_area():
    # Lobes of 25 px² each, wound in opposite directions: outline area 0, as in the RRC
    # scripts. Against the 10 x 10 GT, which holds both lobes, the union is 100 + 0 - 50 and the
    # IoU 50 / 50 = 1: a match.
    bow_tie = [0, 0, 10, 10, 10, 0, 0, 10]
    gts = [(box(0, 0, 10, 10), 'Hello')]
    assert run(gts, [(bow_tie, 'Hello')])['e2e/none'] == [1, 1, 1, 0, 0]
    # On a don't-care GT it is never dropped (coverage 0: it has no area of its own).
    dont_care = [(box(0, 0, 10, 10), '###')]
    assert run(dont_care, [(bow_tie, 'x')])['det'] == [0, 0, 1, 1, 0]


# Crosses itself at (4, 4): lobes (0,0)-(4,4)-(0,6) of 12 px² and (4,4)-(12,12)-(12,0) of 48 px²,
# wound in opposite directions. Outline (shoelace) area 48 - 12 = 36; repaired area 60.
BOW_TIE = [0, 0, 12, 12, 12, 0, 0, 6]


def test_bow_tie_iou_uses_the_outline_area_in_the_union():
    # The 12 x 12 GT (144 px²) holds both lobes: intersection 60, union 144 + 36 - 60 = 120,
    # IoU 0.5 (with the repaired area it would be 60 / 144 = 0.417, no match above 0.45).
    gts = [(box(0, 0, 12, 12), 'Hello')]
    assert run(gts, [(BOW_TIE, 'Hello')], iou_thr=0.45)['e2e/none'] == [1, 1, 1, 0, 0]
    assert run(gts, [(BOW_TIE, 'Hello')], iou_thr=0.55)['e2e/none'] == [0, 1, 1, 0, 0]


def test_bow_tie_coverage_uses_the_outline_area():
    # A don't-care box over the small lobe: 12 px² of the prediction's 36 lie on it, a coverage
    # of 1/3; with the repaired area it would be 12 / 60 = 0.2.
    gts = [(box(20, 20, 30, 30), 'Hello'), (box(0, 0, 4, 6), '###')]
    assert run(gts, [(BOW_TIE, 'x')], dont_care_area_thr=0.3)['det'] == [0, 1, 0, 1, 1]
    assert run(gts, [(BOW_TIE, 'x')], dont_care_area_thr=0.34)['det'] == [0, 1, 1, 1, 0]


def test_greedy_match_skips_dont_care_and_taken_predictions():
    iou = np.array([[0.9, 0.8], [0.9, 0.7], [0.0, 0.9]])
    care_gt = np.array([True, True, True])
    assert greedy_match(iou, care_gt, np.array([True, True]), 0.5) == [(0, 0), (1, 1)]
    assert greedy_match(iou, care_gt, np.array([False, True]), 0.5) == [(0, 1)]


def test_inconsistent_inputs_are_reported():
    with pytest.raises(ValueError, match='img_1: 1 GT polygons, 2 texts'):
        evaluate_image([box(0, 0, 1, 1)], ['a', 'b'], [False], [], [], name='img_1')
    with pytest.raises(ValueError, match='img_1: 1 predicted polygons but 0 texts'):
        evaluate_image([], [], [], [box(0, 0, 1, 1)], [], name='img_1')
    with pytest.raises(ValueError, match='img_1: prediction 0'):
        evaluate_image([], [], [], [[0, 0, 1]], ['a'], name='img_1')
    with pytest.raises(ValueError, match="'none' is the lexicon-free setting"):
        evaluate_image([], [], [], [], [], dict(none=Lexicon.from_words(['A'])))
