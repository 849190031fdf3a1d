"""Where a measurement was made: the commit and the machine, as one line each."""
import os
import platform
import subprocess


def git_commit(repo: str = '.') -> str:
    """The commit of ``repo`` (short hash, ``+dirty`` with uncommitted changes), or ``unknown``."""
    try:
        commit = subprocess.check_output(['git', 'rev-parse', '--short', 'HEAD'], cwd=repo,
                                         stderr=subprocess.DEVNULL, text=True).strip()
        dirty = subprocess.call(['git', 'diff', '--quiet', 'HEAD'], cwd=repo,
                                stderr=subprocess.DEVNULL) != 0
        return commit + ('+dirty' if dirty else '')
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'


def machine_description() -> str:
    """The hardware and software the numbers were measured with, in one line."""
    import torch
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            names = [line.split(':', 1)[1].strip() for line in f if line.startswith('model name')]
        if names:
            cpu = names[0]
    except OSError:
        pass
    device = (f'GPU {torch.cuda.get_device_name(0)}' if torch.cuda.is_available() else
              f'CPU only, {os.cpu_count()} cores ({cpu}), {torch.get_num_threads()} torch threads')
    return (f'{device}; Python {platform.python_version()}, torch {torch.__version__}, '
            f'{platform.system()} {platform.release()}')
