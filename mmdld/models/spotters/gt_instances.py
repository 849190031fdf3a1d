"""What the spotters read from a batch's ground-truth instances: their texts and polygons."""
from typing import List, Sequence

import numpy as np
from mmdet.structures.bbox import get_box_tensor
from mmengine.structures import InstanceData

from mmdld.models.utils.text_geometry import as_text_polygon


def check_gt_texts(batch_gt_instances: Sequence[InstanceData]) -> None:
    """Raises ``ValueError`` naming the first image whose GT instances have no ``texts``."""
    for i, gt in enumerate(batch_gt_instances):
        if len(gt) > 0 and 'texts' not in gt:
            raise ValueError(
                f'gt_instances of image {i} in the batch have no `texts`: the spotter is '
                'trained on transcriptions (LoadOCRAnnotations(with_text=True) + '
                'PackSpottingInputs)')


def box_outline(box: np.ndarray) -> np.ndarray:
    """The flat 4-point polygon ``[TL, TR, BR, BL]`` of an ``x1, y1, x2, y2`` box (float32)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return np.array([x1, y1, x2, y1, x2, y2, x1, y2], np.float32)


def text_polygon(polygon: np.ndarray) -> np.ndarray:
    """``polygon`` if it is a text polygon, else the outline of its points' bounding box.

    A text polygon has an even number of at least four points (a top and a bottom side) and a
    positive area (``as_text_polygon``). Others (a dataset's polygon with an odd number of
    points, a word flattened by a resize) are read through their box, at least one
    pixel wide and high, so that every GT instance keeps detection targets and a crop: the
    distiller matches the student's instances to the teacher's one by one.

    Args:
        polygon (np.ndarray): Flat ``[x1, y1, ...]``.

    Returns:
        np.ndarray: Flat float32, top side left to right first.
    """
    points = np.asarray(polygon, np.float32).reshape(-1, 2)
    try:
        as_text_polygon(points, 'polygon')
        return points.reshape(-1)
    except ValueError:
        pass
    if len(points) == 0 or not np.isfinite(points).all():
        raise ValueError(f'A GT polygon has no finite points: {polygon!r}')
    (x1, y1), (x2, y2) = points.min(0), points.max(0)
    return box_outline(np.array([x1, y1, max(x2, x1 + 1), max(y2, y1 + 1)]))


def instance_polygons(gt: InstanceData, img_index: int = 0) -> List[np.ndarray]:
    """The text polygons (:func:`text_polygon`) of an image's instances.

    Args:
        gt (InstanceData): ``polygons`` (list of flat arrays) or, without them, ``bboxes``
            (read as their outlines).
        img_index (int): Index of the image in its batch, for the error message.

    Returns:
        list[np.ndarray]: One flat float32 polygon per instance, top side left to right first
        (the textspotting convention; a box outline starts at its top-left corner).

    Raises:
        ValueError: If instances have neither ``polygons`` nor ``bboxes``.
    """
    if len(gt) == 0:
        return []
    if 'polygons' in gt:
        return [text_polygon(p) for p in gt.polygons]
    if 'bboxes' in gt:
        boxes = get_box_tensor(gt.bboxes).detach().cpu().numpy()
        return [text_polygon(box_outline(b)) for b in boxes]
    raise ValueError(f'gt_instances of image {img_index} in the batch have neither `polygons` '
                     'nor `bboxes`: the spotter needs the words\' regions '
                     '(LoadOCRAnnotations(with_polygon=True) + PackSpottingInputs)')
