from .filter_instances import FilterSpottingInstances, polygon_area
from .formatting import PackSpottingInputs
from .loading import InferencerLoader, LoadImageFromFile, image_defect
from .polygons_to_masks import PolygonsToMasks

__all__ = ['FilterSpottingInstances', 'InferencerLoader', 'LoadImageFromFile',
           'PackSpottingInputs', 'PolygonsToMasks', 'image_defect', 'polygon_area']
