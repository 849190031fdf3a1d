"""Flush-to-zero of float denormals from ``env_cfg.flush_denormal``, in every thread."""
import subprocess
import sys

import pytest
import torch

from mmdld.utils import apply_flush_denormal

# Two normal floats whose product (1e-39) is a float32 denormal; computed over a tensor large
# enough that PyTorch's intra-op pool splits it between its threads.
PRODUCT_NONZERO_SHARE = (
    'y = torch.full((1 << 22,), 1e-20) * torch.full((1 << 22,), 1e-19)\n'
    'print(float((y != 0).float().mean()))\n')


def _nonzero_share(setup: str) -> float:
    code = 'import torch\ntorch.set_num_threads(2)\n' + setup + PRODUCT_NONZERO_SHARE
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return float(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def restore_default():
    yield
    torch.set_flush_denormal(False)


def test_set_before_the_thread_pool_flushes_in_every_thread():
    applied = ('from mmdld.utils import apply_flush_denormal\n'
               "assert apply_flush_denormal({'flush_denormal': True})\n")
    assert _nonzero_share(applied) == 0.0
    # Set after the pool has started, only the calling thread flushes: why the tools set it
    # right after reading the config.
    late = PRODUCT_NONZERO_SHARE + applied
    assert 0.0 < _nonzero_share(late) < 1.0


def test_missing_key_or_false_keeps_denormals(restore_default):
    tiny = torch.tensor([1e-20]) * torch.tensor([1e-19])
    assert apply_flush_denormal(None) is False
    assert apply_flush_denormal({'cudnn_benchmark': False}) is False
    assert (torch.tensor([1e-20]) * torch.tensor([1e-19])).item() == tiny.item() > 0
    assert apply_flush_denormal({'flush_denormal': True}) is True
    assert (torch.tensor([1e-20]) * torch.tensor([1e-19])).item() == 0.0
    assert apply_flush_denormal({'flush_denormal': False}) is False
    assert (torch.tensor([1e-20]) * torch.tensor([1e-19])).item() > 0


def test_non_bool_value_names_the_key():
    with pytest.raises(TypeError, match=r"env_cfg.flush_denormal must be True or False, got 'yes'"):
        apply_flush_denormal({'flush_denormal': 'yes'})
