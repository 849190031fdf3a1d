from .gt_instances import check_gt_texts, instance_polygons
from .mask_rcnn_spotter import BackboneNeck, MaskRCNNSpotter
from .rec_head_protocol import RecHeadProtocolMixin
from .records import BeamResult, GTRecognition, RecognitionSpec, TeacherOutputs
from .single_level_spotter import SingleLevelSpotterMixin
from .spotter_protocol import DistillableSpotter

__all__ = [
    'BackboneNeck', 'BeamResult', 'DistillableSpotter', 'GTRecognition', 'MaskRCNNSpotter',
    'RecHeadProtocolMixin', 'RecognitionSpec', 'SingleLevelSpotterMixin', 'TeacherOutputs',
    'check_gt_texts', 'instance_polygons'
]
