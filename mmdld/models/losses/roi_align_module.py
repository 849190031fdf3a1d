"""``RoIAlignModule`` lives in :mod:`mmdld.models.connectors`; this import path keeps working."""
from mmdld.models.connectors.roi_align_module import RoIAlignModule

__all__ = ['RoIAlignModule']
