"""Lets the tests import ``tools/experiments`` and load the scripts of ``tools/``.

A script run as ``python tools/x.py`` has ``tools/`` on ``sys.path`` and imports its sibling
folder as ``experiments``; the tests see it the same way. The folder goes at the end of the
path, so that ``tools/test.py`` never shadows the standard library's ``test`` package.
"""
import importlib.util
import os.path as osp
import sys
from types import ModuleType
from typing import Callable

import pytest
from helpers import REPO_ROOT, TOOLS_DIR

if TOOLS_DIR not in sys.path:
    sys.path.append(TOOLS_DIR)


@pytest.fixture
def load_tool() -> Callable[[str], ModuleType]:
    """Loads a script by its path relative to the repository, e.g. ``'tools/run_demo.py'``."""

    def load(rel: str) -> ModuleType:
        spec = importlib.util.spec_from_file_location(
            osp.splitext(osp.basename(rel))[0], osp.join(REPO_ROOT, rel))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
