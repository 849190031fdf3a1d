from .shape_transform import ShapeTransformModule
from .text_perceptron_spotter import TextPerceptronSpotter
from .tp_head import TextPerceptronHead
from .tp_targets import gt_fiducial_points, text_perceptron_targets

__all__ = [
    'ShapeTransformModule', 'TextPerceptronHead', 'TextPerceptronSpotter', 'gt_fiducial_points',
    'text_perceptron_targets'
]
