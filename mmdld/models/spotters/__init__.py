from .mask_rcnn_spotter import BackboneNeck, MaskRCNNSpotter
from .records import BeamResult, GTRecognition, RecognitionSpec, TeacherOutputs
from .spotter_protocol import DistillableSpotter

__all__ = [
    'BackboneNeck', 'BeamResult', 'DistillableSpotter', 'GTRecognition', 'MaskRCNNSpotter',
    'RecognitionSpec', 'TeacherOutputs'
]
