"""Flush-to-zero for float denormals on the CPU, set from a config's ``env_cfg``.

PyTorch keeps IEEE denormals (magnitudes below about 1.2e-38 in float32) by default, and
x86 CPUs compute with them many times slower than with normal floats. Training drives some
activations and gradients there (a softmax over a feature map gated by ``log`` of a near-zero
mask, for one), and a CPU run then slows down as it trains (``docs/development.md``). Flushing
them to zero changes values only below float32's normal range.

The setting lives in each thread's floating-point control register, and a new thread inherits
the creating thread's, so it must be set before the first parallel operator starts PyTorch's
intra-op thread pool: the tools call :func:`apply_flush_denormal` right after reading the
config, before any model or dataset is built. MMEngine's ``Runner.setup_env`` ignores the key.
"""
from typing import Any, Mapping, Optional

import torch

#: ``env_cfg`` key read by :func:`apply_flush_denormal`.
FLUSH_DENORMAL_KEY = 'flush_denormal'


def apply_flush_denormal(env_cfg: Optional[Mapping[str, Any]]) -> bool:
    """Sets ``torch.set_flush_denormal`` from ``env_cfg['flush_denormal']`` (default off).

    Args:
        env_cfg (Mapping, optional): The config's ``env_cfg``; ``None`` or a missing key
            leaves PyTorch's default (denormals kept).

    Returns:
        bool: Whether denormals are now flushed (``False`` also where the CPU lacks the
        SSE3 support PyTorch needs for it).

    Raises:
        TypeError: If the key holds something other than a bool.
    """
    value = (env_cfg or {}).get(FLUSH_DENORMAL_KEY, None)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise TypeError(f'env_cfg.{FLUSH_DENORMAL_KEY} must be True or False, got {value!r}')
    return bool(torch.set_flush_denormal(value)) and value
