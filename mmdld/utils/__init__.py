from .checkpoint import load_checkpoint_file, register_safe_checkpoint_loader
from .cpu_numerics import apply_flush_denormal
from .collect_env import git_commit, machine_description
from .env_check import IncompatibleEnvironmentError, check_environment
from .json_io import load_per_scale_file, merge_into_json
from .setup_env import register_all_modules, register_mmdld_package

__all__ = [
    'IncompatibleEnvironmentError', 'apply_flush_denormal', 'check_environment', 'git_commit', 'load_checkpoint_file',
    'load_per_scale_file', 'machine_description', 'merge_into_json', 'register_all_modules', 'register_mmdld_package',
    'register_safe_checkpoint_loader'
]
