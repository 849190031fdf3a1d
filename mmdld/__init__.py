"""mmdld: Dynamic Low-Resolution Distillation for text spotting on OpenMMLab 2.0."""
from .utils.env_check import check_environment
from .version import __version__

# Fail early, with one message naming every mismatch, rather than deep inside mmcv/mmocr.
check_environment()

from .utils.checkpoint import register_safe_checkpoint_loader  # noqa: E402
from .utils.compat import import_mmocr_without_torchvision  # noqa: E402
from .utils.setup_env import register_all_modules, register_mmdld_package  # noqa: E402

# mmdld's own checkpoints (numpy and MMEngine objects in their meta) load under torch>=2.6's
# weights_only default, and `mmdld::` config bases resolve, as soon as mmdld is imported.
register_safe_checkpoint_loader()
register_mmdld_package()
# MMOCR's datasets import torchvision, which mmdld does not need (see utils/compat.py).
import_mmocr_without_torchvision()

__all__ = ['__version__', 'register_all_modules', 'check_environment']
