from .roi_masking_extractor import RoIMaskingExtractor

__all__ = ['RoIMaskingExtractor']
