"""Lexicon files and nearest-word correction."""
import os

import pytest

from mmdld.evaluation.functional import Lexicon, load_image_lexicons


def test_nearest_word_replaces_the_prediction_case_insensitively():
    lexicon = Lexicon.from_words(['Hello', 'World'])
    assert lexicon.correct(['hellp', 'WORLD', 'wrld']) == ['Hello', 'World', 'World']


def test_ties_go_to_the_first_word_of_the_lexicon():
    # 'HXLLO' is one edit away from both words.
    assert Lexicon.from_words(['HELLO', 'HALLO']).correct(['hxllo']) == ['HELLO']
    assert Lexicon.from_words(['HALLO', 'HELLO']).correct(['hxllo']) == ['HALLO']


def test_repeated_keys_keep_their_first_word():
    lexicon = Lexicon(['CAT', 'CAT'], ['Cat', 'cat'])
    assert lexicon.keys == ['CAT'] and lexicon.correct(['cot']) == ['Cat']


def test_max_distance_leaves_far_words_alone():
    lexicon = Lexicon.from_words(['HELLO'])
    assert lexicon.correct(['HELP', 'XYZZY'], max_dist=2) == ['HELLO', 'XYZZY']
    assert lexicon.correct(['XYZZY'], max_dist=None) == ['HELLO']
    assert lexicon.correct(['HELLO', 'HELLX'], max_dist=0) == ['HELLO', 'HELLX']


def test_short_and_empty_predictions_are_left_alone():
    lexicon = Lexicon.from_words(['HELLO'])
    assert lexicon.correct(['', 'ab', 'abc'], min_length=3) == ['', 'ab', 'HELLO']
    assert lexicon.correct(['ab'], min_length=0) == ['HELLO']


def test_many_queries_are_corrected_in_chunks():
    lexicon = Lexicon.from_words([f'WORD{chr(65 + i)}' for i in range(26)])
    texts = [f'word{chr(97 + i % 26)}9' for i in range(150)]  # one insertion away
    assert lexicon.correct(texts) == [f'WORD{chr(65 + i % 26)}' for i in range(150)]


def test_word_per_line_file(tmp_path):
    path = tmp_path / 'full.txt'
    path.write_text('\ufeffHello\n\nNew York\r\nworld\n', encoding='utf-8')
    lexicon = Lexicon.from_file(str(path))
    assert lexicon.keys == ['HELLO', 'NEW YORK', 'WORLD']
    assert lexicon.words == ['Hello', 'New York', 'world']


def test_pair_list_file_is_detected_and_maps_keys_to_original_words(tmp_path):
    path = tmp_path / 'pair_voc_img_1.txt'
    path.write_text("JACK'S Jack's\nSTOP stop\n", encoding='utf-8')
    lexicon = Lexicon.from_file(str(path))
    assert lexicon.keys == ["JACK'S", 'STOP'] and lexicon.words == ["Jack's", 'stop']
    assert lexicon.correct(['STPO', "jacks"]) == ['stop', "Jack's"]
    # Forced word-per-line reading keeps the whole line.
    assert Lexicon.from_file(str(path), 'words').words == ["JACK'S Jack's", 'STOP stop']


def test_bad_lexicon_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.txt'):
        Lexicon.from_file(str(tmp_path / 'missing.txt'))
    empty = tmp_path / 'empty.txt'
    empty.write_text('\n\n')
    with pytest.raises(ValueError, match='empty.txt: the lexicon has no words'):
        Lexicon.from_file(str(empty))
    bad = tmp_path / 'bad.txt'
    bad.write_text('A a\nB\n')
    with pytest.raises(ValueError, match=r'bad.txt: pair-list line 2'):
        Lexicon.from_file(str(bad), 'pairs')
    with pytest.raises(ValueError, match='lexicon format must be one of'):
        Lexicon.from_file(str(bad), 'csv')


def test_a_rewritten_file_is_read_again(tmp_path):
    path = tmp_path / 'weak.txt'
    path.write_text('ONE\n')
    assert Lexicon.from_file(str(path)).words == ['ONE']
    path.write_text('TWO\n')
    os.utime(path, (1, 1))  # a new modification time, whatever the clock's resolution
    assert Lexicon.from_file(str(path)).words == ['TWO']


def test_per_image_templates(tmp_path):
    (tmp_path / 'strong').mkdir()
    (tmp_path / 'strong' / 'img_3.txt').write_text('THREE\n')
    (tmp_path / 'generic.txt').write_text('ANY\n')
    paths = dict(strong=str(tmp_path / 'strong' / '{img_stem}.txt'),
                 generic=str(tmp_path / 'generic.txt'))
    lexicons = load_image_lexicons(paths, 'img_3')
    assert lexicons['strong'].words == ['THREE'] and lexicons['generic'].words == ['ANY']
    with pytest.raises(FileNotFoundError, match="'strong' lexicon of image 'img_4'"):
        load_image_lexicons(paths, 'img_4')
    assert load_image_lexicons(None, 'img_4') == {}
