from .flops import (count_forward_flops, count_predict_flops_at_scales, measure_scale_flops,
                    normalise_costs)
from .resize import resize_batch
from .sequence import sequence_log_prob

__all__ = [
    'count_forward_flops', 'count_predict_flops_at_scales', 'measure_scale_flops',
    'normalise_costs', 'resize_batch', 'sequence_log_prob'
]
