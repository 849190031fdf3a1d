"""Transcription rules of the ICDAR Robust Reading (RRC) end-to-end protocol.

These reproduce, rule for rule, the text handling of the official RRC end-to-end evaluation
script used for ICDAR 2013, ICDAR 2015 and (through its Total-Text port) Total-Text:

* end-to-end agreement (:func:`texts_match`): case-insensitive equality, where the GT may also
  lose one special character at its start and/or its end;
* word spotting (:func:`is_word_spotting_care`, :func:`normalize_word_spotting`): GT words are
  normalised first and become don't-care when they are not "dictionary words".

Ours because MMOCR's ``WordMetric`` compares whole strings under another symbol policy.
"""

#: Text of a don't-care ground-truth instance in the RRC files.
DONT_CARE_TEXT = '###'

#: Characters the RRC end-to-end rule tolerates at the start or the end of a GT word.
SPECIAL_CHARACTERS = '!?.:,*"()·[]/\''

#: Characters turned into spaces when a GT word is normalised for word spotting. The same set
#: as :data:`SPECIAL_CHARACTERS`; kept apart because the RRC script defines them separately.
WORD_SPOTTING_PUNCTUATION = '\'!?.:,*"()·[]/'

#: Minimum length of a word-spotting "care" word (``MIN_LENGTH_CARE_WORD`` in the RRC script).
MIN_WORD_SPOTTING_LENGTH = 3

# Characters that the RRC script rejects explicitly although they lie in its letter ranges.
_NOT_ALLOWED = '×÷·'
# Inclusive code-point ranges of what the RRC script accepts as letters: Latin, Latin-1 and
# Latin Extended-A/B (with a gap at U+01C0-U+01C3, the click letters), Greek, and '-'.
_ALLOWED_RANGES = (
    (ord('a'), ord('z')),
    (ord('A'), ord('Z')),
    (ord('À'), ord('ƿ')),
    (ord('Ǆ'), ord('ɿ')),
    (ord('Ά'), ord('Ͽ')),
    (ord('-'), ord('-')),
)


def texts_match(gt_text: str,
                pred_text: str,
                special_characters: str = SPECIAL_CHARACTERS) -> bool:
    """Tell whether a predicted transcription agrees with a GT one (RRC end-to-end rule).

    The comparison is case-insensitive. The prediction is correct when it equals the GT, or the
    GT without its first character, or without its last one, or without both, where a removed
    character must be one of ``special_characters``. Only the GT is trimmed, never the
    prediction, as in the RRC script (``ONLY_REMOVE_FIRST_LAST_CHARACTER=True``).

    Args:
        gt_text (str): Ground-truth transcription.
        pred_text (str): Predicted transcription.
        special_characters (str): Characters that may be dropped from the GT's ends.

    Returns:
        bool: Whether the two transcriptions agree.
    """
    gt = gt_text.upper()
    pred = pred_text.upper()
    if gt == pred:
        return True
    if not gt:
        return False
    lead = gt[0] in special_characters
    trail = gt[-1] in special_characters
    if lead and gt[1:] == pred:
        return True
    if trail and gt[:-1] == pred:
        return True
    return lead and trail and gt[1:-1] == pred


def normalize_word_spotting(text: str) -> str:
    """Normalise a GT word as the RRC word-spotting protocol does before comparing it.

    Steps, in the RRC script's order: a trailing ``'s`` (or ``'S``) is removed, hyphens are
    stripped from both ends, every character of :data:`WORD_SPOTTING_PUNCTUATION` becomes a
    space, and surrounding whitespace is stripped.

    Args:
        text (str): GT transcription.

    Returns:
        str: The normalised transcription.
    """
    if text[-2:] in ("'s", "'S"):
        text = text[:-2]
    text = text.strip('-')
    for char in WORD_SPOTTING_PUNCTUATION:
        text = text.replace(char, ' ')
    return text.strip()


def is_word_spotting_care(text: str,
                          min_length: int = MIN_WORD_SPOTTING_LENGTH) -> bool:
    """Tell whether a GT word takes part in word spotting (else it becomes don't-care).

    After :func:`normalize_word_spotting`, the word must contain no space, have at least
    ``min_length`` characters, and consist only of letters of the RRC ranges (Latin,
    Latin-extended, Greek) and ``'-'``. Digits therefore make a word don't-care.

    Args:
        text (str): GT transcription (not yet normalised).
        min_length (int): Minimum number of characters of a care word.

    Returns:
        bool: ``True`` when the word is a care word for word spotting.
    """
    word = normalize_word_spotting(text)
    if ' ' in word or len(word) < min_length:
        return False
    for char in word:
        if char in _NOT_ALLOWED:
            return False
        code = ord(char)
        if not any(low <= code <= high for low, high in _ALLOWED_RANGES):
            return False
    return True
