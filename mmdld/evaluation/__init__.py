"""Evaluation as the paper reports it: RRC end-to-end / word-spotting metrics and cost."""
from .cost import (benchmark_inference, build_test_model_and_loader, count_inference_flops,
                   merge_into_json, summarize_flops)
from .functional import *  # noqa: F401,F403
from .functional import __all__ as _functional_all
from .metrics import *  # noqa: F401,F403
from .metrics import __all__ as _metrics_all

__all__ = [
    'benchmark_inference', 'build_test_model_and_loader', 'count_inference_flops',
    'merge_into_json', 'summarize_flops', *_functional_all, *_metrics_all
]
