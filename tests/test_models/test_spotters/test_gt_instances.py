"""What the spotters read from GT instances: their texts (checked) and their text polygons."""
import numpy as np
import pytest
import torch
from helpers import rect, text_instances
from mmengine.structures import InstanceData

from mmdld.models.spotters.gt_instances import check_gt_texts, instance_polygons, text_polygon

WORD = rect(10, 10, 90, 40)


def test_odd_polygons_are_read_through_their_box():
    # Five points: no top and bottom side of equal length.
    odd = np.array([10, 10, 50, 8, 90, 10, 90, 40, 10, 40], np.float32)
    np.testing.assert_array_equal(text_polygon(odd), rect(10, 8, 90, 40))
    # A word flattened to a line keeps a box one pixel high.
    flat = np.array([10, 20, 50, 20, 90, 20, 10, 20], np.float32)
    np.testing.assert_array_equal(text_polygon(flat), rect(10, 20, 90, 21))
    np.testing.assert_array_equal(text_polygon(WORD), WORD)
    with pytest.raises(ValueError, match='no finite points'):
        text_polygon(np.array([np.nan, 1, 2, 3], np.float32))


def test_instance_polygons_from_polygons_or_box_outlines():
    gt = text_instances([WORD, rect(20, 60, 150, 100)], ['ab', 'cde'])
    polygons = instance_polygons(gt)
    assert len(polygons) == 2 and all(p.dtype == np.float32 for p in polygons)
    np.testing.assert_array_equal(polygons[1], rect(20, 60, 150, 100))
    boxes_only = InstanceData(bboxes=torch.tensor([[10., 10., 90., 40.]]))
    np.testing.assert_array_equal(instance_polygons(boxes_only)[0], WORD)
    assert instance_polygons(InstanceData()) == []
    with pytest.raises(ValueError, match='image 3 in the batch have neither `polygons` nor'):
        instance_polygons(InstanceData(texts=['ab']), img_index=3)


def test_check_gt_texts_names_the_first_image_without_texts():
    with_texts = text_instances([WORD], ['ab'])
    no_texts = InstanceData(bboxes=torch.tensor([[10., 10., 90., 40.]]))
    check_gt_texts([with_texts, InstanceData()])  # an image without words needs no texts
    with pytest.raises(ValueError, match='gt_instances of image 1 in the batch have no `texts`'):
        check_gt_texts([with_texts, no_texts])
