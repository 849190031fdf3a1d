from .grid_targets import centre_region, grid_targets, instance_mask_targets
from .mango_head import MANGOHead, MANGOMaps
from .mango_spotter import MANGOSpotter, mask_polygon
from .sequence_head import MANGOSequenceHead

__all__ = [
    'MANGOHead', 'MANGOMaps', 'MANGOSequenceHead', 'MANGOSpotter', 'centre_region',
    'grid_targets', 'instance_mask_targets', 'mask_polygon'
]
