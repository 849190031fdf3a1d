"""RRC transcription rules, one test per rule."""
import pytest

from mmdld.evaluation.functional import (is_word_spotting_care, normalize_word_spotting,
                                         texts_match)


def test_exact_match():
    assert texts_match('Hello', 'Hello')
    assert not texts_match('Hello', 'Hallo')


def test_case_is_ignored():
    assert texts_match('Hello', 'hELLO')
    assert texts_match('straße', 'STRASSE')  # str.upper, as the RRC script does


@pytest.mark.parametrize('gt,pred,expected', [
    ('Hello!', 'hello', True),      # trailing special character dropped from the GT
    ('"Hello', 'hello', True),      # leading one
    ('(Hello)', 'hello', True),     # both ends at once
    ('Hello!', 'Hello!', True),     # or kept
    ('(Hello).', 'Hello', False),   # only one character per end
    ('Hel.lo', 'Hello', False),     # never inside the word
    ('Hellos', 'Hello', False),     # only special characters
    ('Hello', 'Hello!', False),     # the prediction is never trimmed
    ("Jack's", 'Jack', False),      # "'s" is a word-spotting rule, not an end-to-end one
])
def test_punctuation_at_the_ends(gt, pred, expected):
    assert texts_match(gt, pred) is expected


def test_empty_texts():
    assert texts_match('', '')
    assert not texts_match('', 'a')
    assert not texts_match('!', 'a')
    assert texts_match('!', '')


@pytest.mark.parametrize('text,normalised', [
    ("Jack's", 'Jack'),
    ("JACK'S", 'JACK'),
    ('-well-known-', 'well-known'),
    ('(Hello)', 'Hello'),
    ('U.S.A', 'U S A'),
])
def test_word_spotting_normalisation(text, normalised):
    assert normalize_word_spotting(text) == normalised


@pytest.mark.parametrize('text,care', [
    ('Hello', True),
    ("Jack's", True),
    ('well-known', True),
    ('café', True),          # Latin-1
    ('Ωμέγα', True),         # Greek
    ('2015', False),         # digits
    ('abc1', False),
    ('ab', False),           # shorter than 3
    ("ab's", False),         # short once "'s" is removed
    ('U.S.A', False),        # punctuation becomes spaces
    ('x×y', False),          # explicitly excluded from the Latin-1 range
    ('日本語', False),
])
def test_word_spotting_care_words(text, care):
    assert is_word_spotting_care(text) is care


def test_word_spotting_min_length_is_configurable():
    assert is_word_spotting_care('ab', min_length=2)
    assert not is_word_spotting_care('abcd', min_length=5)
