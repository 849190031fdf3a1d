"""Checks that the installed OpenMMLab stack is the one mmdld is built and tested on.

Run ``python -m mmdld`` for a report. ``import mmdld`` calls
:func:`check_environment` so that a wrong stack fails with one clear message instead of a
traceback from deep inside MMCV, MMOCR or imgaug.
"""
import importlib.util
import sys
from importlib import metadata
from typing import Dict, List, Optional, Tuple

from packaging.version import Version

#: package -> (minimum inclusive, maximum exclusive, why)
SUPPORTED: Dict[str, Tuple[str, str, str]] = {
    'numpy': ('1.24', '2.0', 'MMOCR 1.0.1 imports imgaug, which fails under numpy 2'),
    'torch': ('2.0', '3.0', 'mmcv 2.0.1 ops are compiled against the installed torch'),
    'mmengine': ('0.10.7', '0.11', 'the runner, config and checkpoint API mmdld is tested on'),
    'mmcv': ('2.0.0', '2.1.0', 'mmdet 3.1.0 refuses mmcv>=2.1'),
    'mmdet': ('3.1.0', '3.2.0', 'mmocr 1.0.1 refuses mmdet>=3.2'),
    'mmocr': ('1.0.1', '1.1.0', 'the textspotting dataset format and Dictionary mmdld uses'),
}

INSTALL_HINT = ('Install the supported stack with `make env`, which builds a project-local '
                '.venv; see README.md.')


class IncompatibleEnvironmentError(RuntimeError):
    """The installed packages do not match what mmdld supports."""


def _installed_version(package: str) -> Optional[str]:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def find_problems() -> List[str]:
    """Lists every mismatch between the installed stack and :data:`SUPPORTED`.

    Only package metadata is read (nothing heavy is imported), so this is cheap enough to run
    at ``import mmdld``.

    Returns:
        list[str]: One human-readable line per problem; empty when all is well.
    """
    problems = []
    for package, (low, high, why) in SUPPORTED.items():
        version = _installed_version(package)
        if version is None:
            problems.append(f'{package} is not installed (needed: >={low},<{high}; {why}).')
            continue
        base = Version(Version(version).base_version)
        if not Version(low) <= base < Version(high):
            problems.append(
                f'{package} {version} is installed, mmdld needs >={low},<{high} ({why}).')
    if _installed_version('mmcv') is not None and importlib.util.find_spec('mmcv') is not None:
        # mmcv-lite and a build without MMCV_WITH_OPS both lack the compiled `mmcv._ext`; the
        # RoIAlign and NMS of every mmdld model need it.
        if importlib.util.find_spec('mmcv._ext') is None:
            problems.append(
                'mmcv is installed without its compiled ops (mmcv._ext is missing): mmdld needs '
                'RoIAlign and NMS from mmcv.ops. Build mmcv 2.0.1 with MMCV_WITH_OPS=1 '
                '(`make env` does it).')
    return problems


def check_environment() -> None:
    """Raises :class:`IncompatibleEnvironmentError` naming every mismatch.

    Raises:
        IncompatibleEnvironmentError: If any supported package is missing, has an unsupported
            version, or mmcv lacks its compiled ops.
    """
    problems = find_problems()
    if problems:
        lines = '\n  - '.join(problems)
        raise IncompatibleEnvironmentError(
            f'mmdld cannot run with the installed packages:\n  - {lines}\n{INSTALL_HINT}')


def main() -> int:
    """Prints the versions mmdld sees and whether they are supported."""
    print(f'python {sys.version.split()[0]}')
    for package in SUPPORTED:
        print(f'{package:9s} {_installed_version(package) or "missing"}')
    problems = find_problems()
    for problem in problems:
        print(f'PROBLEM: {problem}')
    print('environment OK' if not problems else INSTALL_HINT)
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
