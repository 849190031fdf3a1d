"""Polygons (MMOCR's representation) to instance masks and boxes (MMDetection's)."""
from typing import Dict

import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.structures.mask import PolygonMasks

from mmdld.registry import TRANSFORMS
from .filter_instances import polygon_area


@TRANSFORMS.register_module()
class PolygonsToMasks(BaseTransform):
    """Build ``gt_masks`` and tight ``gt_bboxes`` from ``gt_polygons``, keeping the polygons.

    Ours because ``mmocr.MMOCR2MMDet`` drops the polygons and keeps loose (rotated-corner) boxes.

    The polygons are kept (``PackSpottingInputs`` stores them with the texts), the boxes are
    recomputed from them, and an instance whose polygon, clipped to the image, has less than
    ``min_poly_area`` pixels of area is made don't-care (a crop, a rotation or a down-scale can
    shrink a word to nothing, and an empty mask or box must not reach a loss).

    Required keys: ``img_shape``, ``gt_polygons``, ``gt_ignored``.
    Modified keys: ``gt_polygons`` (clipped to the image), ``gt_bboxes``, ``gt_ignored``.
    Added keys: ``gt_masks``.

    Args:
        poly2mask (bool): Rasterise into ``BitmapMasks``. The default keeps ``PolygonMasks``,
            which MMDetection's mask targets crop and rasterise per RoI at 28 x 28; bitmaps of
            a large image with many words cost much more memory for the same targets.
        min_poly_area (float): Smallest clipped polygon area, in pixels, kept for training.
    """

    def __init__(self, poly2mask: bool = False, min_poly_area: float = 1.0) -> None:
        self.poly2mask = poly2mask
        self.min_poly_area = float(min_poly_area)

    def transform(self, results: Dict) -> Dict:
        """Convert the polygons of one sample.

        Args:
            results (dict): The sample after the geometric transforms.

        Returns:
            dict: The sample with ``gt_masks`` and recomputed ``gt_bboxes``.
        """
        h, w = results['img_shape'][:2]
        polygons = results.get('gt_polygons', [])
        ignored = np.array(results.get('gt_ignored', np.zeros(len(polygons), bool)), dtype=bool)
        clipped, boxes, mask_polys = [], [], []
        for i, poly in enumerate(polygons):
            pts = np.asarray(poly, dtype=np.float32).reshape(-1, 2).copy()
            if len(pts) == 0:
                pts = np.zeros((1, 2), np.float32)
            pts[:, 0] = pts[:, 0].clip(0, w)
            pts[:, 1] = pts[:, 1].clip(0, h)
            x1, y1 = pts.min(0)
            x2, y2 = pts.max(0)
            flat = pts.reshape(-1)
            if len(pts) < 3 or polygon_area(flat) < self.min_poly_area:
                ignored[i] = True
                # pycocotools needs 3 points; the box outline rasterises to (almost) nothing.
                flat = np.array([x1, y1, x2, y1, x2, y2, x1, y2], dtype=np.float32)
            clipped.append(flat)
            mask_polys.append([flat])
            boxes.append([x1, y1, x2, y2])
        masks = PolygonMasks(mask_polys, h, w)
        results['gt_masks'] = masks.to_bitmap() if self.poly2mask else masks
        results['gt_polygons'] = clipped
        results['gt_bboxes'] = np.array(boxes, dtype=np.float32).reshape(-1, 4)
        results['gt_ignored'] = ignored
        if 'gt_bboxes_labels' not in results:
            results['gt_bboxes_labels'] = np.zeros(len(clipped), dtype=np.int64)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(poly2mask={self.poly2mask}, '
                f'min_poly_area={self.min_poly_area})')
