from .mask_rcnn_spotter import MaskRCNNSpotter

__all__ = ['MaskRCNNSpotter']
