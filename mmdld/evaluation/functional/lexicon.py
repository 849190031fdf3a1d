"""Lexicons for lexicon-based end-to-end evaluation.

The ICDAR "strong", "weak" and "generic" lexicons and Total-Text's "full" lexicon are applied to
the predictions before matching: each predicted word is replaced by the nearest lexicon word by
Levenshtein distance, computed case-insensitively on the lexicon's keys, and the replacement is the
key's original spelling. This is how the published spotters (Mask TextSpotter, ABCNet) prepare
their submissions; the RRC script itself only sees the corrected words.

Two file formats are read:

* word per line: ``Hello`` (the key is the upper-cased word);
* pair list, as in ICDAR's official files (``GenericVocabulary_pair_list.txt``,
  ``ch4_test_vocabulary_pair_list.txt``, ``new_strong_lexicon/pair_voc_img_N.txt``): lines
  ``KEY original``, the key being the normalised (upper-case) form that is compared.

Edit distances use :mod:`rapidfuzz` (a dependency of MMOCR), whose C++ ``cdist`` compares a batch
of words against a whole lexicon without a Python loop.
"""
import functools
import os
from typing import Dict, List, Optional, Sequence

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

LEXICON_FORMATS = ('auto', 'words', 'pairs')

# Queries per rapidfuzz call: bounds the (queries x lexicon) distance matrix held in memory.
_QUERY_CHUNK = 64


class Lexicon:
    """An ordered lexicon: keys compared by edit distance and the words they stand for.

    Args:
        keys (Sequence[str]): Keys compared with the (upper-cased) predictions; upper-cased here.
        words (Sequence[str]): The word that replaces a prediction whose nearest key is the key
            at the same index.
        source (str): Where the lexicon comes from, for messages.

    Raises:
        ValueError: If ``keys`` and ``words`` differ in length or are empty.
    """

    def __init__(self,
                 keys: Sequence[str],
                 words: Sequence[str],
                 source: str = '<memory>') -> None:
        if len(keys) != len(words):
            raise ValueError(f'{source}: {len(keys)} keys but {len(words)} words')
        if not keys:
            raise ValueError(f'{source}: the lexicon has no words')
        # A repeated key can never win a tie (the first one does), so drop it.
        first = {}
        for key, word in zip(keys, words):
            first.setdefault(key.upper(), word)
        self.keys: List[str] = list(first)
        self.words: List[str] = list(first.values())
        self.source = source

    def __len__(self) -> int:
        return len(self.keys)

    @classmethod
    def from_words(cls, words: Sequence[str], source: str = '<memory>') -> 'Lexicon':
        """Build a lexicon whose keys are the words themselves.

        Args:
            words (Sequence[str]): Lexicon words, in priority order.
            source (str): Where the lexicon comes from, for messages.

        Returns:
            Lexicon: The lexicon.
        """
        return cls(list(words), list(words), source)

    @classmethod
    def from_file(cls, path: str, fmt: str = 'auto') -> 'Lexicon':
        """Read a lexicon file (see the module docstring for the formats).

        With ``fmt='auto'`` the file is a pair list when every non-empty line has exactly two
        whitespace-separated fields, and a word-per-line file otherwise (a word may then
        contain spaces). Files are cached by path, format and modification time.

        Args:
            path (str): Lexicon file.
            fmt (str): ``'auto'``, ``'words'`` or ``'pairs'``.

        Returns:
            Lexicon: The lexicon.

        Raises:
            FileNotFoundError: If the file does not exist.
            ValueError: If the format is unknown, the file is not UTF-8, a pair line does not
                have two fields, or the file has no words.
        """
        if fmt not in LEXICON_FORMATS:
            raise ValueError(f'lexicon format must be one of {LEXICON_FORMATS}, '
                             f'got {fmt!r} (for {path})')
        if not os.path.isfile(path):
            raise FileNotFoundError(f'lexicon file not found: {path}')
        return _read_lexicon(os.path.abspath(path), fmt, os.path.getmtime(path))

    def correct(self,
                texts: Sequence[str],
                max_dist: Optional[int] = None,
                min_length: int = 0) -> List[str]:
        """Replace each text by its nearest lexicon word.

        Distances are Levenshtein distances between the upper-cased text and the keys; ties go
        to the key that comes first in the lexicon.

        Args:
            texts (Sequence[str]): Predicted words.
            max_dist (int, optional): A text whose nearest key is farther than this stays as it
                is. ``None`` replaces every text.
            min_length (int): Texts shorter than this stay as they are (they cannot be lexicon
                words of the protocols, whose words have at least 3 characters).

        Returns:
            list[str]: The corrected texts, in the input order.
        """
        corrected = list(texts)
        todo = [i for i, text in enumerate(texts) if text and len(text) >= min_length]
        for start in range(0, len(todo), _QUERY_CHUNK):
            chunk = todo[start:start + _QUERY_CHUNK]
            dist = process.cdist([texts[i].upper() for i in chunk],
                                 self.keys,
                                 scorer=Levenshtein.distance,
                                 dtype=np.int32)
            best = dist.argmin(axis=1)  # argmin returns the first minimum: ties -> first key
            for row, i in enumerate(chunk):
                if max_dist is None or dist[row, best[row]] <= max_dist:
                    corrected[i] = self.words[best[row]]
        return corrected


@functools.lru_cache(maxsize=32)
def _read_lexicon(path: str, fmt: str, mtime: float) -> Lexicon:
    """Read and parse a lexicon file (cached; ``mtime`` invalidates the cache entry)."""
    try:
        with open(path, encoding='utf-8-sig') as f:
            numbered = [(num, line.strip()) for num, line in enumerate(f, 1)]
    except UnicodeDecodeError as err:
        raise ValueError(f'{path}: lexicon is not UTF-8 text ({err})') from err
    numbered = [(num, line) for num, line in numbered if line]
    if fmt == 'auto':
        is_pairs = numbered and all(len(line.split()) == 2 for _, line in numbered)
        fmt = 'pairs' if is_pairs else 'words'
    if fmt == 'words':
        return Lexicon.from_words([line for _, line in numbered], source=path)
    keys, words = [], []
    for num, line in numbered:
        fields = line.split()
        if len(fields) != 2:
            raise ValueError(f'{path}: pair-list line {num} must be "KEY word", got {line!r}')
        keys.append(fields[0])
        words.append(fields[1])
    return Lexicon(keys, words, source=path)


def load_image_lexicons(paths: Optional[Dict[str, str]],
                        img_stem: str,
                        fmt: str = 'auto') -> Dict[str, Lexicon]:
    """Load the lexicons of one image from path templates.

    Args:
        paths (dict[str, str], optional): Lexicon setting name -> file path, where
            ``{img_stem}`` is replaced by the image's file name without extension (e.g.
            ``'data/icdar2015/lexicons/strong/{img_stem}.txt'`` or
            ``'.../new_strong_lexicon/pair_voc_{img_stem}.txt'``). Paths without the
            placeholder are shared by all images (and read once).
        img_stem (str): Image name without directory and extension, e.g. ``'img_12'``.
        fmt (str): Lexicon file format, see :meth:`Lexicon.from_file`.

    Returns:
        dict[str, Lexicon]: The lexicons by setting name.

    Raises:
        FileNotFoundError: If a lexicon file is missing (the message names the image).
    """
    lexicons = {}
    for name, template in (paths or {}).items():
        path = str(template).replace('{img_stem}', img_stem)
        try:
            lexicons[name] = Lexicon.from_file(path, fmt)
        except FileNotFoundError as err:
            raise FileNotFoundError(
                f"'{name}' lexicon of image {img_stem!r} not found: {path}") from err
    return lexicons
