from .centreline import (MANGOCentrelineHead, centreline_targets, centreline_words,
                         group_cells, shrink_polygon, vote_text)
from .grid_targets import centre_region, grid_targets, instance_mask_targets
from .mango_head import MANGOHead, MANGOMaps
from .mango_spotter import MANGOSpotter, mask_polygon
from .sequence_head import MANGOSequenceHead

__all__ = [
    'MANGOCentrelineHead', 'MANGOHead', 'MANGOMaps', 'MANGOSequenceHead', 'MANGOSpotter',
    'centre_region', 'centreline_targets', 'centreline_words', 'grid_targets', 'group_cells',
    'instance_mask_targets', 'mask_polygon', 'shrink_polygon', 'vote_text'
]
