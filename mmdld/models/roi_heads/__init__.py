from .mask_polygons import box_polygon, mask_to_polygon, masks_to_polygons
from .spotting_roi_head import SpottingRoIHead

__all__ = ['SpottingRoIHead', 'box_polygon', 'mask_to_polygon', 'masks_to_polygons']
