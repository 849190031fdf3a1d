"""RRC file formats: parsing, writing, folders and zips."""
import zipfile

import numpy as np
import pytest

from mmdld.evaluation.functional import (GT_PREFIXES, format_rrc_line, load_rrc_collection,
                                         parse_rrc_detection_line, parse_rrc_file,
                                         parse_rrc_line, write_rrc_collection)


def test_icdar_quad_line_with_bom_and_crlf():
    content = '\ufeff1,2,3,4,5,6,7,8,Hello\r\n\r\n9,10,11,12,13,14,15,16,###\r\n'
    (coords, text), (coords2, text2) = parse_rrc_file(content)
    np.testing.assert_array_equal(coords, np.arange(1, 9))
    assert text == 'Hello' and text2 == '###'


def test_total_text_polygon_line_with_any_number_of_points():
    coords, text = parse_rrc_line('0,0,10,0,20,5,10,10,0,10,####Big, Bad')
    assert coords.size == 10 and text == 'Big, Bad'


@pytest.mark.parametrize('line,num_coords,expected_coords,expected_text', [
    ('0,0,1,0,1,1,0,1,2015', None, 8, '2015'),           # numeric word: the last field is text
    ('0,0,1,0,1,1,0,1,', None, 8, ''),                   # empty transcription
    ('0,0,1,0,1,1,0,1,3,x', None, 8, '3,x'),             # odd run: the text starts with a number
    ('0,0,1,0,1,1,0,1,3,4,5', 8, 8, '3,4,5'),            # a fixed count reads it exactly
    ('0,0,1,0,1,1,0,1,"a, \\"b\\""', None, 8, 'a, "b"'),  # quoted, with escapes
    (' 0 , 0 ,1,0,1,1,0,1,x', None, 8, 'x'),             # spaces around numbers
])
def test_coordinates_and_text_are_told_apart(line, num_coords, expected_coords, expected_text):
    coords, text = parse_rrc_line(line, num_coords=num_coords)
    assert coords.size == expected_coords and text == expected_text


def test_ltrb_boxes_become_quads():
    coords, text = parse_rrc_line('1,2,5,6,"Tiredness"', ltrb=True)
    np.testing.assert_array_equal(coords, [1, 2, 5, 2, 5, 6, 1, 6])
    assert text == 'Tiredness'


def test_bad_lines_name_the_file_and_line():
    with pytest.raises(ValueError, match='gt_img_1.txt:2: expected an even number'):
        parse_rrc_file('0,0,1,0,1,1,0,1,a\n0,0,1,x\n', 'gt_img_1.txt')
    with pytest.raises(ValueError, match='f:1: coordinates are not numbers'):
        parse_rrc_line('0,0,a,0,1,1,0,1,x', 'f:1', num_coords=8)


@pytest.mark.parametrize(
    'text', ['Hello', '', '###', '3,4,5', '"quoted"', ' padded ', 'back\\slash', '####x',
             'a,####b'])
def test_quads_round_trip_exactly(text):
    polygon = np.array([0.1, 0.25, 10, 0, 10.123456789, 10, 0, 10], dtype=np.float32)
    coords, parsed = parse_rrc_line(format_rrc_line(polygon, text))
    assert parsed == text
    np.testing.assert_array_equal(coords, polygon.astype(np.float64))


@pytest.mark.parametrize('text', ['Hello', '', '###', 'a,####b', '"q"'])
def test_polygons_round_trip_exactly(text):
    polygon = [0.5, 0, 10, 0, 20, 5, 10, 10, 0, 10]
    coords, parsed = parse_rrc_line(format_rrc_line(polygon, text))
    assert parsed == text and coords.tolist() == polygon


def test_polygons_use_the_total_text_separator_and_int_option():
    line = format_rrc_line([0.4, 0, 10, 0, 10, 10, 0, 10.6, 0, 5], 'a,b', int_coords=True)
    assert line == '0,0,10,0,10,10,0,11,0,5,####a,b'
    assert format_rrc_line([0, 0, 1, 0, 1, 1, 0, 1], 'two\nlines') == '0,0,1,0,1,1,0,1,two lines'


def test_collections_in_folders_and_zips(tmp_path):
    collection = {
        'img_1': [([0, 0, 1, 0, 1, 1, 0, 1], 'A'), ([0, 0, 2, 0, 2, 2, 1, 3, 0, 2], 'B')],
        'img_2': [],
    }
    files = write_rrc_collection(str(tmp_path / 'res'), collection, 'res_',
                                 zip_path=str(tmp_path / 'res.zip'))
    assert [f.split('/')[-1] for f in files] == ['res_img_1.txt', 'res_img_2.txt']
    names = sorted(zipfile.ZipFile(tmp_path / 'res.zip').namelist())
    assert names == ['res_img_1.txt', 'res_img_2.txt']
    for source in (tmp_path / 'res', tmp_path / 'res.zip'):
        loaded = load_rrc_collection(str(source), 'res_')
        assert sorted(loaded) == ['img_1', 'img_2'] and loaded['img_2'] == []
        assert [text for _, text in loaded['img_1']] == ['A', 'B']
        assert loaded['img_1'][1][0].tolist() == [0, 0, 2, 0, 2, 2, 1, 3, 0, 2]


def test_collection_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='not a folder or a zip'):
        load_rrc_collection(str(tmp_path / 'nothing'), 'gt_')
    (tmp_path / 'gt').mkdir()
    (tmp_path / 'gt' / 'gt_img_1.txt').write_text('0,0,1,0,1,1,0,1,a\n')
    (tmp_path / 'gt' / 'img_1.txt').write_text('0,0,1,0,1,1,0,1,a\n')
    with pytest.raises(ValueError, match="a second file for image 'img_1'"):
        load_rrc_collection(str(tmp_path / 'gt'), 'gt_')
    (tmp_path / 'gt' / 'img_1.txt').write_bytes(b'\xff\xfe0,0')
    with pytest.raises(ValueError, match='img_1.txt: not UTF-8'):
        load_rrc_collection(str(tmp_path / 'gt'), 'gt_')


@pytest.mark.parametrize('line,kwargs,message', [
    # A detection-only quad: its last point would become the text '0,10'.
    ('0,0,10,0,10,10,0,10', {}, "8 numbers and no transcription in '0,0,10,0,10,10,0,10'"),
    # Ambiguous: a 5-point polygon, or a quad with the unquoted text '3,4'.
    ('0,0,1,0,1,1,0,1,3,4', {}, '10 numbers and no transcription'),
    ('0,0,10,0,10,10,0,10', dict(num_coords=8),
     'expected 8 coordinates and a transcription, got 8 fields'),
    ('1,2,5,6', dict(ltrb=True), 'expected 4 coordinates and a transcription, got 4 fields'),
])
def test_lines_without_transcription_are_refused(line, kwargs, message):
    with pytest.raises(ValueError, match=f'res_img_3.txt:7: {message}.*det-only'):
        parse_rrc_line(line, 'res_img_3.txt:7', **kwargs)


def test_text_less_line_error_names_the_file_and_line(tmp_path):
    (tmp_path / 'res').mkdir()
    (tmp_path / 'res' / 'res_img_1.txt').write_text('0,0,1,0,1,1,0,1,a\n\n0,0,1,0,1,1,0,1\n')
    with pytest.raises(ValueError, match=r'res/res_img_1.txt:3: 8 numbers and no transcription'):
        load_rrc_collection(str(tmp_path / 'res'), 'res_')


def test_total_text_own_annotation_format_is_named():
    line = "x: [[115 503 494 115]], y: [[322 346 426 404]], ornt: [u'm'], transcriptions: [u'a']"
    with pytest.raises(ValueError, match="poly_gt_img1.txt:1: .*Total-Text's own"):
        parse_rrc_line(line, 'poly_gt_img1.txt:1')


@pytest.mark.parametrize('line,kwargs,coords,confidence', [
    ('0,0,10,0,10,10,0,10', {}, [0, 0, 10, 0, 10, 10, 0, 10], None),
    ('0,0,10,0,10,10,0,10,0.75', {}, [0, 0, 10, 0, 10, 10, 0, 10], 0.75),
    (' 0 , 0 ,10,0,10,10,0,10, 1 ', {}, [0, 0, 10, 0, 10, 10, 0, 10], 1.0),
    ('0,0,10,0,10,10,0,10,', {}, [0, 0, 10, 0, 10, 10, 0, 10], None),  # trailing comma
    ('0,0,4,0,8,2,8,6,0,6', {}, [0, 0, 4, 0, 8, 2, 8, 6, 0, 6], None),  # a 5-point polygon
    ('0,0,4,0,8,2,8,6,0,6,0', {}, [0, 0, 4, 0, 8, 2, 8, 6, 0, 6], 0.0),
    ('0,0,10,0,10,10,0,10,0.5', dict(num_coords=8), [0, 0, 10, 0, 10, 10, 0, 10], 0.5),
    ('1,2,5,6', dict(ltrb=True), [1, 2, 5, 2, 5, 6, 1, 6], None),
    ('1,2,5,6,0.5', dict(ltrb=True), [1, 2, 5, 2, 5, 6, 1, 6], 0.5),
])
def test_detection_lines(line, kwargs, coords, confidence):
    parsed_coords, parsed_confidence = parse_rrc_detection_line(line, 'f:1', **kwargs)
    assert parsed_coords.tolist() == coords and parsed_confidence == confidence
    assert parse_rrc_detection_line('  \r', 'f:2') is None


@pytest.mark.parametrize('line,kwargs,message', [
    ('0,0,10,0,10,10,0,10,Hello', {}, "'Hello' is not a number"),
    ('0,0,10,0,10,10,0,10,####Hello', {}, "'####Hello' is not a number"),
    ('0,0,10,0,10,10,0,10,0.5,0.5', dict(num_coords=8),
     'expected 8 coordinates and an optional confidence, got 10 fields'),
    ('1,2,5', dict(ltrb=True), 'expected 4 coordinates and an optional confidence, got 3'),
    ('0,0,10,0,10,10,0,10,1.5', {}, r'confidence 1.5 is not in \[0, 1\]'),
    # A polygon that lost a coordinate: its odd last field is read as a confidence.
    ('0,0,10,0,10,10,0,10,0,20,350', {}, r'confidence 350.0 is not in \[0, 1\]'),
    ('0,0,10,0,0.5', {}, 'expected an even number of at least 6 coordinates'),
])
def test_bad_detection_lines_name_the_file_and_line(line, kwargs, message):
    with pytest.raises(ValueError, match=f'res_img_2.txt:4: {message}'):
        parse_rrc_detection_line(line, 'res_img_2.txt:4', **kwargs)


def test_detection_files_are_sorted_by_confidence():
    content = ('0,0,1,0,1,1,0,1,0.5\n'
               '2,0,3,0,3,1,2,1,0.9\n'
               '\n'
               '4,0,5,0,5,1,4,1,0.5\n')
    instances = parse_rrc_file(content, 'res_img_1.txt', det_only=True)
    # Decreasing confidence; the two 0.5 keep their file order.
    assert [coords[0] for coords, _ in instances] == [2, 0, 4]
    assert all(text == '' for _, text in instances)
    # Without confidences the file order stays.
    plain = parse_rrc_file('2,0,3,0,3,1,2,1\n0,0,1,0,1,1,0,1\n', 'f', det_only=True)
    assert [coords[0] for coords, _ in plain] == [2, 0]


def test_detection_files_with_and_without_confidences_are_refused():
    content = '0,0,1,0,1,1,0,1,0.5\n0,0,1,0,1,1,0,1\n'
    with pytest.raises(ValueError, match='res_img_1.txt:2: no confidence, but line 1 has one'):
        parse_rrc_file(content, 'res_img_1.txt', det_only=True)


def test_total_text_gt_names(tmp_path):
    (tmp_path / 'gt').mkdir()
    (tmp_path / 'gt' / 'poly_gt_img11.txt').write_text('0,0,4,0,8,2,8,6,0,6,####Hi\n')
    (tmp_path / 'gt' / 'gt_img_2.txt').write_text('0,0,1,0,1,1,0,1,a\n')
    loaded = load_rrc_collection(str(tmp_path / 'gt'), GT_PREFIXES)
    assert sorted(loaded) == ['img11', 'img_2']
    assert loaded['img11'][0][1] == 'Hi'
    (tmp_path / 'gt' / 'gt_img11.txt').write_text('0,0,1,0,1,1,0,1,a\n')
    with pytest.raises(ValueError, match="a second file for image 'img11'"):
        load_rrc_collection(str(tmp_path / 'gt'), GT_PREFIXES)


def test_detection_only_collections(tmp_path):
    with zipfile.ZipFile(tmp_path / 'res.zip', 'w') as archive:
        archive.writestr('res_img_1.txt', '0,0,1,0,1,1,0,1\n')
        archive.writestr('res_img_2.txt', '0,0,1,0,1,1,0,1\nHello\n')
    with pytest.raises(ValueError, match=r"res.zip/res_img_2.txt:2: 'Hello' is not a number"):
        load_rrc_collection(str(tmp_path / 'res.zip'), 'res_', det_only=True)


def test_empty_gt_transcriptions_are_dont_care(tmp_path):
    (tmp_path / 'gt').mkdir()
    (tmp_path / 'gt' / 'gt_img_1.txt').write_text(
        '0,0,10,0,10,10,0,10,Hello\n20,0,30,0,30,10,20,10,\n40,0,50,0,50,10,40,10,"  "\n')
    (tmp_path / 'gt' / 'poly_gt_img2.txt').write_text('0,0,4,0,8,2,8,6,0,6,####\n')
    loaded = load_rrc_collection(str(tmp_path / 'gt'), GT_PREFIXES)
    assert [text for _, text in loaded['img_1']] == ['Hello', '###', '###']
    assert [text for _, text in loaded['img2']] == ['###']
    assert [text for _, text in load_rrc_collection(str(tmp_path / 'gt'), 'gt_')['img_1']] == [
        'Hello', '###', '###']
    # A submission's empty transcription is a prediction that reads nothing, not don't-care;
    # either can be asked for explicitly.
    assert [text for _, text in load_rrc_collection(
        str(tmp_path / 'gt'), GT_PREFIXES, empty_text_dont_care=False)['img_1']] == [
            'Hello', '', '  ']
    (tmp_path / 'res').mkdir()
    (tmp_path / 'res' / 'res_img_1.txt').write_text('0,0,10,0,10,10,0,10,\n')
    assert load_rrc_collection(str(tmp_path / 'res'), 'res_')['img_1'][0][1] == ''


def test_offline_evaluation_does_not_count_empty_gt_as_words_to_find(tmp_path):
    from mmdld.evaluation.functional import evaluate_rrc
    (tmp_path / 'gt').mkdir()
    (tmp_path / 'res').mkdir()
    (tmp_path / 'gt' / 'gt_img_1.txt').write_text(
        '0,0,10,0,10,10,0,10,Hello\n20,0,30,0,30,10,20,10,\n')
    (tmp_path / 'res' / 'res_img_1.txt').write_text('0,0,10,0,10,10,0,10,Hello\n')
    metrics = evaluate_rrc(str(tmp_path / 'gt'), str(tmp_path / 'res'))
    assert metrics['e2e/none/recall'] == 1.0 and metrics['det/recall'] == 1.0
    assert metrics['det/num_gt'] == 1 and metrics['det/num_gt_dont_care'] == 1
