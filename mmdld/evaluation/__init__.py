"""Evaluation as the paper reports it: RRC end-to-end / word-spotting metrics and cost."""
from .cost import benchmark_inference, count_inference_flops, summarize_flops
from .cost_inputs import (blank_batches, dataset_batches, default_split, format_costs,
                          load_weights, select_model_cfg, selector_flops_of)
from .functional import *  # noqa: F401,F403
from .functional import __all__ as _functional_all
from .metrics import *  # noqa: F401,F403
from .metrics import __all__ as _metrics_all

__all__ = [
    'benchmark_inference', 'count_inference_flops', 'summarize_flops', *_functional_all,
    *_metrics_all, 'blank_batches', 'dataset_batches', 'default_split', 'format_costs',
    'load_weights', 'select_model_cfg', 'selector_flops_of'
]
