"""The record name of an image."""
from pathlib import Path

from mmdld.evaluation.functional import image_stem


def test_image_stem_is_the_file_name_without_its_last_extension():
    assert image_stem('data/totaltext/imgs/test/img_11.jpg') == 'img_11'
    assert image_stem(Path('imgs') / 'a.b.png') == 'a.b'
    assert image_stem('no_extension') == 'no_extension'
