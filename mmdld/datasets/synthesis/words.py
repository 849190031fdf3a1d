"""Word list and scene-text token sampler of the synthetic generator.

``words_en.txt`` (committed beside this module) holds the 6,000 most frequent English words of
3-14 letters from the ``wordfreq`` package's frequency lists (CC BY-SA 4.0), profanity removed;
``docs/synthetic_data.md`` gives the recipe. It is committed rather than read from a package at
run time so that generation needs no extra dependency and a package update cannot change the data.
"""
import functools
import os
import string
from typing import Optional, Tuple

import numpy as np

WORDS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'words_en.txt')

#: The recogniser's character set: the 95 printable ASCII characters (space included).
PRINTABLE_ASCII = ''.join(chr(c) for c in range(32, 127))
#: Characters a word instance may contain (a word never contains a space).
WORD_CHARS = PRINTABLE_ASCII[1:]

_PUNCT_AROUND = (('', '.'), ('', ','), ('', '!'), ('', '?'), ('', ':'), ('(', ')'),
                 ('"', '"'), ("'", "'"), ('', '-'), ('#', ''), ('@', ''), ('', ';'))
_CODE_CHARS = string.ascii_uppercase + string.digits + '-#&/+*.'
_SYMBOLS = string.punctuation


@functools.lru_cache(maxsize=None)
def load_word_list(path: str = WORDS_FILE) -> Tuple[str, ...]:
    """Load a word list: one word per line, ``#`` lines are comments.

    Args:
        path: The list file (default: the bundled ``words_en.txt``).

    Returns:
        The words in file order.

    Raises:
        ValueError: If a word has a character outside :data:`WORD_CHARS` (naming file and line),
            or the file has no word.
    """
    words = []
    with open(path, encoding='utf-8') as f:
        for lineno, line in enumerate(f, 1):
            word = line.strip()
            if not word or word.startswith('#'):
                continue
            bad = sorted(set(word) - set(WORD_CHARS))
            if bad:
                raise ValueError(f'{path}:{lineno}: word {word!r} has characters {bad} outside '
                                 'printable ASCII (or a space)')
            words.append(word)
    if not words:
        raise ValueError(f'{path} holds no word')
    return tuple(words)


#: Token mixes of :class:`WordSampler`.
TEXT_MIXES = ('scene', 'lowercase_words')


class WordSampler:
    """Draws scene-text-like tokens: mostly dictionary words, some numbers, codes and symbols.

    Proportions (per token) of the ``'scene'`` mix: 80% a dictionary word (50% lower case, 30%
    Capitalised, 20% UPPER), of which one in ten gets punctuation around it; 12% a number-like
    token (prices, times, percentages, phone numbers, ordinals); 8% a code of letters, digits and
    symbols, which keeps the rarer printable characters (``{ } ~ ^ \\ |`` ...) in the data.
    The ``'lowercase_words'`` mix draws lower-case dictionary words of letters only: an easier
    reading task for models that must learn in minutes (the CPU demo).

    Args:
        words: The dictionary words (default: :func:`load_word_list`).
        vocab_size: Draw words from the first ``vocab_size`` words only (the list is sorted by
            frequency, so these are the most frequent). None: every word.
        text_mix: ``'scene'`` or ``'lowercase_words'``.
    """

    def __init__(self, words: Tuple[str, ...] = (), vocab_size: Optional[int] = None,
                 text_mix: str = 'scene') -> None:
        words = tuple(words) or load_word_list()
        if text_mix == 'lowercase_words':  # letters only: no apostrophes either
            words = tuple(w for w in words if w.isalpha())
        if vocab_size is not None:
            if vocab_size < 1:
                raise ValueError(f'synth_cfg.vocab_size must be >= 1, got {vocab_size}')
            words = words[:vocab_size]
        if text_mix not in TEXT_MIXES:
            raise ValueError(f'synth_cfg.text_mix must be one of {list(TEXT_MIXES)}, '
                             f'got {text_mix!r}')
        self.words = words
        self.text_mix = text_mix

    def sample(self, rng: np.random.Generator) -> str:
        """Return one token (1-16 characters of :data:`WORD_CHARS`)."""
        if self.text_mix == 'lowercase_words':
            return self.words[int(rng.integers(len(self.words)))].lower()
        while True:
            kind = rng.random()
            if kind < 0.80:
                token = self._word(rng)
            elif kind < 0.92:
                token = self._number(rng)
            else:
                token = self._code(rng)
            # '###' is the don't-care marker of the annotation format, never a legible word.
            if token != '###':
                return token

    def _word(self, rng: np.random.Generator) -> str:
        word = self.words[int(rng.integers(len(self.words)))]
        case = rng.random()
        if case < 0.3:
            word = word[0].upper() + word[1:]
        elif case < 0.5:
            word = word.upper()
        if rng.random() < 0.1:
            pre, post = _PUNCT_AROUND[int(rng.integers(len(_PUNCT_AROUND)))]
            word = pre + word + post
        return word

    @staticmethod
    def _number(rng: np.random.Generator) -> str:
        template = int(rng.integers(8))
        n = int(rng.integers(1, 10000))
        if template == 0:
            return str(n)
        if template == 1:
            return f'${n % 1000}.{int(rng.integers(100)):02d}'
        if template == 2:
            return f'{n % 100}%'
        if template == 3:
            return f'{int(rng.integers(1, 13))}:{int(rng.integers(60)):02d}'
        if template == 4:
            return f'{int(rng.integers(100, 1000))}-{int(rng.integers(10000)):04d}'
        if template == 5:
            suffix = {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10 if n % 100 not in (11, 12, 13) else 0,
                                                     'th')
            return f'{n % 200}{suffix}'
        if template == 6:
            return f'No.{n % 100}'
        return f'{int(rng.integers(1, 32))}/{int(rng.integers(1, 13))}'

    @staticmethod
    def _code(rng: np.random.Generator) -> str:
        length = int(rng.integers(2, 7))
        chars = [_CODE_CHARS[int(rng.integers(len(_CODE_CHARS)))] for _ in range(length)]
        # One character from the full punctuation set, so that every printable symbol occurs.
        chars[int(rng.integers(length))] = _SYMBOLS[int(rng.integers(len(_SYMBOLS)))]
        return ''.join(chars)
