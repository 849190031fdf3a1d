from .flops_counter import (FLOP_HANDLES, SPOTTER_PARTS, FlopCount, PredictForward,
                            RoIAlignSampling, count_flops, count_predict_flops, flatten_tensors,
                            inference_only, roi_align_sampling_points, spotter_parts)

__all__ = [
    'FLOP_HANDLES', 'SPOTTER_PARTS', 'FlopCount', 'PredictForward', 'RoIAlignSampling',
    'count_flops', 'count_predict_flops', 'flatten_tensors', 'inference_only',
    'roi_align_sampling_points', 'spotter_parts'
]
