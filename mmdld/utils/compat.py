"""Imports MMOCR 1.0.1 on machines without torchvision.

``mmocr.datasets.transforms.wrappers`` imports ``torchvision.transforms`` at module level, only for
its ``TorchVisionWrapper`` transform, and ``mmocr.datasets`` imports that module. torchvision is
not a dependency of mmdld (its PyPI wheels are built for the CUDA torch and fail to import next to
the CPU torch 2.13 wheel), so without this every MMOCR dataset and transform would be unusable.

When torchvision is missing, :func:`import_mmocr_without_torchvision` imports that one MMOCR module
with a placeholder ``torchvision.transforms`` in ``sys.modules`` and removes the placeholder right
after, so that any other ``import torchvision`` still fails normally. Using
``TorchVisionWrapper`` then raises a ``ModuleNotFoundError`` that says what happened. When
torchvision is installed nothing is changed.
"""
import importlib
import importlib.util
import sys
import types

_MMOCR_WRAPPERS = 'mmocr.datasets.transforms.wrappers'


class _MissingTorchVisionTransforms(types.ModuleType):

    def __getattr__(self, name: str):
        if name.startswith('__'):
            raise AttributeError(name)
        raise ModuleNotFoundError(
            f'torchvision is not installed: mmocr\'s TorchVisionWrapper(op="{name}") needs it. '
            'Use an MMCV/MMDetection transform instead (e.g. PhotoMetricDistortion), or install '
            'a torchvision built for the installed torch.')


def import_mmocr_without_torchvision() -> None:
    """Imports MMOCR's dataset transforms even when torchvision is not installed."""
    if _MMOCR_WRAPPERS in sys.modules or importlib.util.find_spec('torchvision') is not None:
        return
    placeholder = types.ModuleType('torchvision')
    placeholder.transforms = _MissingTorchVisionTransforms('torchvision.transforms')
    sys.modules['torchvision'] = placeholder
    sys.modules['torchvision.transforms'] = placeholder.transforms
    try:
        importlib.import_module(_MMOCR_WRAPPERS)
    finally:
        del sys.modules['torchvision']
        del sys.modules['torchvision.transforms']
