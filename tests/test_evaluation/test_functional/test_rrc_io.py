"""RRC file formats: parsing, writing, folders and zips."""
import zipfile

import numpy as np
import pytest

from mmdld.evaluation.functional import (format_rrc_line, load_rrc_collection, parse_rrc_file,
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
    ('0,0,1,0,1,1,0,1,3,4', None, 8, '3,4'),             # odd run: the text starts with a number
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
