from .filter_instances import FilterSpottingInstances, polygon_area
from .formatting import PackSpottingInputs
from .polygons_to_masks import PolygonsToMasks

__all__ = ['FilterSpottingInstances', 'PackSpottingInputs', 'PolygonsToMasks', 'polygon_area']
