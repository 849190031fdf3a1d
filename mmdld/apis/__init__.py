"""Inference with mmdld models: build one, spot the text of images, draw and save results."""
from .inference import inference_spotter, init_spotter
from .inputs import list_images
from .pipelines import find_resize, get_test_pipeline_cfg, inference_pipeline_cfg, short_side
from .spotting_inferencer import SpottingInferencer, pred2dict

__all__ = [
    'init_spotter', 'inference_spotter', 'SpottingInferencer', 'pred2dict', 'list_images',
    'find_resize', 'short_side', 'get_test_pipeline_cfg', 'inference_pipeline_cfg'
]
