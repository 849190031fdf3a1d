"""Evaluation lexicons of the synthetic test split, laid out like the benchmarks'.

Files (UTF-8, one word per line, ``\\n`` endings, deterministic order), under ``lexicons/``:

* ``strong/<img_stem>.txt``: per test image, exactly ``strong_size`` (100) words: the image's
  legible GT words plus distractors from the word list (none equal to a GT word ignoring case),
  sorted case-insensitively so that the position of a word tells nothing (ICDAR 2015 "strong");
* ``weak.txt``: every distinct legible word of the test split, sorted (ICDAR 2015 "weak");
* ``full.txt``: the same words, the Total-Text "full" lexicon (all test words); a separate file
  so that configs name the protocol they follow;
* ``generic.txt``: the whole word list in frequency order (the "generic" lexicon); like the
  benchmarks' 90k list it does not contain every GT token (numbers, codes).

Don't-care instances (``ignore: true``, text ``###``) never enter a lexicon. Case is kept as
annotated; matching words to a lexicon is case-insensitive in the metrics, as in the benchmarks.
"""
import os
from typing import Dict, Iterable, List, Sequence

import numpy as np

#: Stream id of the lexicon distractors in ``default_rng([seed, LEXICON_STREAM, index])``.
LEXICON_STREAM = 2


def _sort_words(words: Iterable[str]) -> List[str]:
    return sorted(set(words), key=lambda w: (w.lower(), w))


def _write_lines(path: str, words: Sequence[str]) -> None:
    with open(path, 'w', encoding='utf-8', newline='\n') as f:
        f.write(''.join(w + '\n' for w in words))


def strong_lexicon(gt_words: Sequence[str], word_list: Sequence[str], seed: int, index: int,
                   size: int = 100) -> List[str]:
    """The strong lexicon of one image.

    Args:
        gt_words: Its legible GT words.
        word_list: Where distractors come from.
        seed: Base seed of the data set.
        index: Image index in the test split.
        size: Total number of words.

    Returns:
        ``size`` distinct words (more if the image has more GT words), sorted.

    Raises:
        ValueError: If the word list cannot supply enough distractors.
    """
    words = set(gt_words)
    taken = {w.lower() for w in words}
    rng = np.random.default_rng([int(seed), LEXICON_STREAM, int(index)])
    for i in rng.permutation(len(word_list)):
        if len(words) >= size:
            break
        cand = word_list[int(i)]
        if cand.lower() not in taken:
            words.add(cand)
            taken.add(cand.lower())
    if len(words) < size:
        raise ValueError(f'the word list has too few words ({len(word_list)}) for strong '
                         f'lexicons of {size}')
    return _sort_words(words)


def write_lexicons(out_dir: str, test_list: Sequence[dict], word_list: Sequence[str], seed: int,
                   strong_size: int = 100) -> Dict[str, str]:
    """Write all lexicons of a test split under ``out_dir/lexicons``.

    Args:
        out_dir: The data set folder.
        test_list: The ``data_list`` of ``textspotting_test.json``, in index order.
        word_list: The generic word list.
        seed: Base seed of the data set.
        strong_size: Words per strong lexicon.

    Returns:
        Paths written: ``generic``, ``weak``, ``full`` and ``strong`` (the folder).
    """
    lex_dir = os.path.join(out_dir, 'lexicons')
    strong_dir = os.path.join(lex_dir, 'strong')
    os.makedirs(strong_dir, exist_ok=True)
    all_words = []
    for index, record in enumerate(test_list):
        gt = [inst['text'] for inst in record['instances'] if not inst['ignore']]
        all_words.extend(gt)
        stem = os.path.splitext(os.path.basename(record['img_path']))[0]
        _write_lines(os.path.join(strong_dir, f'{stem}.txt'),
                     strong_lexicon(gt, word_list, seed, index, strong_size))
    paths = {name: os.path.join(lex_dir, f'{name}.txt') for name in ('generic', 'weak', 'full')}
    _write_lines(paths['generic'], list(word_list))
    test_words = _sort_words(all_words)
    _write_lines(paths['weak'], test_words)
    _write_lines(paths['full'], test_words)
    paths['strong'] = strong_dir
    return paths


def read_lexicon(path: str) -> List[str]:
    """Read a lexicon file written by :func:`write_lexicons` (one word per line)."""
    with open(path, encoding='utf-8') as f:
        return [line.rstrip('\n') for line in f if line.rstrip('\n')]
