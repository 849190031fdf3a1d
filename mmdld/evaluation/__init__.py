from .cost import (benchmark_inference, build_test_model_and_loader, count_inference_flops,
                   summarize_flops)
from .functional import *  # noqa: F401,F403
from .metrics import *  # noqa: F401,F403
