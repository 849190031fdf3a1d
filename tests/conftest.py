"""Fixtures shared by the whole suite.

Paths (the repository root, ``configs/``, ``tools/``) and the sample builders live in
``tests/helpers.py``, importable as ``helpers``: test modules need them at import time, where
fixtures are not available. pytest's default ``prepend`` import mode puts this folder, which is
not a package, on ``sys.path`` when it loads this file.
"""
from typing import Iterator

import pytest
import torch
from mmengine.registry import DefaultScope, init_default_scope


@pytest.fixture(scope='session', autouse=True)
def _session_scope() -> None:
    """Makes ``mmdld`` the default scope before any fixture builds from a registry.

    Module- and session-scoped fixtures are set up before :func:`mmdld_scope`, so they see
    this scope.
    """
    init_default_scope('mmdld')


@pytest.fixture(autouse=True)
def mmdld_scope() -> Iterator[None]:
    """Runs every test in the ``mmdld`` scope and drops the scopes it creates afterwards.

    A test (or a ``Runner`` it builds) may switch to another scope; the previous scopes are
    restored when it ends, so that no test sees the scope of the one before. A test module
    that defines a fixture of the same name replaces this one.
    """
    with DefaultScope.overwrite_default_scope('mmdld'):
        yield


@pytest.fixture(autouse=True)
def torch_seed() -> None:
    """Seeds torch's global RNG with 0, so that a test's random weights and inputs depend
    neither on the run nor on the tests run before it."""
    torch.manual_seed(0)


@pytest.fixture
def single_thread() -> Iterator[None]:
    """Runs a test on one intra-op thread, restoring the thread count afterwards.

    For modules of tiny tensors, where more threads only add contention on a shared CPU; such
    a module opts in with ``pytestmark = pytest.mark.usefixtures('single_thread')``.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
