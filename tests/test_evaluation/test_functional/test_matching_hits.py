"""evaluate_image_matches: which matched pairs count, next to the counts of evaluate_image."""
from mmdld.evaluation.functional import Lexicon, evaluate_image, evaluate_image_matches


def box(x1, y1, x2, y2):
    return [x1, y1, x2, y1, x2, y2, x1, y2]


def test_hits_are_the_pairs_behind_the_counts():
    gts = [(box(0, 0, 10, 10), 'Hello'), (box(20, 0, 30, 10), 'World'),
           (box(40, 0, 50, 10), '###'), (box(60, 0, 70, 10), 'Exit')]
    # Prediction order differs from GT order; 'Wxrld' is matched but misread; the third lies
    # on the don't-care GT; 'ghost' matches nothing.
    preds = [(box(20, 0, 30, 10), 'Wxrld'), (box(0, 0, 10, 10), 'HELLO'),
             (box(40, 0, 50, 10), 'junk'), (box(90, 0, 99, 10), 'ghost'),
             (box(60, 0, 70, 10), 'exit')]
    args = ([p for p, _ in gts], [t for _, t in gts], [False] * 4, [p for p, _ in preds],
            [t for _, t in preds], dict(full=Lexicon.from_words(['WORLD', 'HELLO'])))
    counts, hits = evaluate_image_matches(*args)
    assert counts == evaluate_image(*args)
    assert hits['det'] == [(0, 1), (1, 0), (3, 4)]
    assert hits['e2e/none'] == [(0, 1), (3, 4)]
    assert hits['e2e/full'] == [(0, 1), (1, 0)]  # 'exit' becomes 'HELLO' with the full lexicon
    assert hits['ws/none'] == [(0, 1), (3, 4)]
    assert all(len(hits[key]) == counts[key][0] for key in counts)
