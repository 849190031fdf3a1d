from .deconv_feature_aligner import DeconvFeatureAligner
from .roi_align_module import RoIAlignModule
from .super_resolved_roi_extractor import SuperResolvedRoIExtractor

__all__ = ['DeconvFeatureAligner', 'RoIAlignModule', 'SuperResolvedRoIExtractor']
