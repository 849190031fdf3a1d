from .checkpoint import load_checkpoint_file, register_safe_checkpoint_loader
from .env_check import IncompatibleEnvironmentError, check_environment
from .setup_env import register_all_modules, register_mmdld_package

__all__ = [
    'IncompatibleEnvironmentError', 'check_environment', 'load_checkpoint_file',
    'register_all_modules', 'register_mmdld_package', 'register_safe_checkpoint_loader'
]
