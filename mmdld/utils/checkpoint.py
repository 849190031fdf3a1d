"""Loading of MMEngine checkpoints under torch>=2.6's ``weights_only=True`` default.

Since torch 2.6, ``torch.load`` unpickles only tensors, primitive containers and an allowlist of
globals. A checkpoint written by MMEngine's runner holds more than that: numpy arrays and scalars
(in ``meta``, e.g. the seed or dataset statistics), ``collections.Counter`` (the milestones of
``MultiStepLR``) and the message hub's ``HistoryBuffer`` objects (what ``resume=True`` restores).
MMEngine 0.10.7 calls ``torch.load`` without ``weights_only`` and therefore fails on its own
files.

We do not turn ``weights_only`` off (that would execute arbitrary pickled code from any file a
user points at). Instead mmdld registers, as MMEngine's loader for local paths, a loader that keeps
``weights_only=True`` and adds exactly the data-only types above to the allowlist, for the time of
that one call (:data:`SAFE_CHECKPOINT_GLOBALS`). Every type on it is rebuilt from plain data
(numpy's ``_reconstruct`` / ``scalar`` build arrays from bytes and a dtype; ``HistoryBuffer`` and
``Counter`` are containers of numbers; the one ``getattr`` that ``HistoryBuffer`` pickles is
narrowed to its statistics methods); none runs user-supplied callables. A checkpoint that needs
anything else is refused with a message naming the file and the offending global; a project that
trusts such a type can add it with :func:`add_safe_checkpoint_globals`.

This covers ``load_from``, ``resume=True``, ``mim test --checkpoint`` and mmdld's loading of teacher
checkpoints, which all go through ``mmengine.runner.CheckpointLoader``.
"""
import collections
import os.path as osp
from typing import Any, Callable, List, Optional, Union

import numpy as np
import torch
from mmengine.runner.checkpoint import CheckpointLoader

_EXTRA_GLOBALS: List[Any] = []


def _numpy_globals() -> List[Any]:
    try:  # numpy >= 2 moved the pickling helpers to numpy._core
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:
        from numpy.core.multiarray import _reconstruct, scalar
    dtype_classes = {
        type(np.dtype(name))
        for name in ('bool', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32',
                     'uint64', 'float16', 'float32', 'float64', 'complex64', 'complex128',
                     'str', 'object')
    }
    return [_reconstruct, scalar, np.ndarray, np.dtype, *sorted(dtype_classes, key=str)]


def _history_buffer_getattr(owner: Any, name: str) -> Any:
    """The ``getattr`` that a checkpoint may call: statistics methods of ``HistoryBuffer`` only.

    ``HistoryBuffer.__getstate__`` stores its ``statistics_methods`` (``min``, ``max``, ``mean``,
    ``current`` and any registered ones), which pickle as ``getattr(HistoryBuffer, 'min')``.
    Allowing the builtin ``getattr`` would let a file reach any attribute of any allowed class, so
    checkpoints get this narrowed substitute under the name ``builtins.getattr`` instead.
    """
    from mmengine.logging.history_buffer import HistoryBuffer
    allowed = {'min', 'max', 'mean', 'current', *HistoryBuffer._statistics_methods}
    if owner is not HistoryBuffer or name not in allowed:
        raise RuntimeError(f'checkpoint asks for getattr({owner!r}, {name!r}), which is not a '
                           'HistoryBuffer statistics method')
    return getattr(owner, name)


def _mmengine_globals() -> List[Any]:
    from mmengine.logging.history_buffer import HistoryBuffer
    return [HistoryBuffer, (_history_buffer_getattr, 'builtins.getattr')]


def safe_checkpoint_globals() -> List[Any]:
    """The globals that mmdld allows a checkpoint to unpickle, beyond torch's own allowlist.

    Returns:
        list: numpy array/scalar reconstruction and dtypes, ``collections.Counter``, MMEngine's
        ``HistoryBuffer``, plus anything added with :func:`add_safe_checkpoint_globals`.
    """
    return [*_numpy_globals(), collections.Counter, collections.OrderedDict,
            *_mmengine_globals(), *_EXTRA_GLOBALS]


def add_safe_checkpoint_globals(*objs: Any) -> None:
    """Allows more data-only classes or functions in checkpoints loaded through mmdld.

    Args:
        *objs: Classes or functions that a trusted checkpoint pickles by reference.
    """
    _EXTRA_GLOBALS.extend(objs)


def load_checkpoint_file(filename: str,
                         map_location: Optional[Union[str, Callable]] = None) -> Any:
    """``torch.load`` of a local checkpoint with ``weights_only=True`` and mmdld's allowlist.

    Args:
        filename (str): Path of the checkpoint.
        map_location (str | callable, optional): As for ``torch.load``.

    Returns:
        The unpickled checkpoint (usually a dict with ``state_dict`` and ``meta``).

    Raises:
        FileNotFoundError: If ``filename`` does not exist.
        RuntimeError: If the file needs a global outside the allowlist, naming the file and it.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    if not hasattr(torch.serialization, 'safe_globals'):  # torch < 2.5: weights_only is opt-in
        return torch.load(filename, map_location=map_location)
    with torch.serialization.safe_globals(safe_checkpoint_globals()):
        try:
            return torch.load(filename, map_location=map_location, weights_only=True)
        except Exception as err:  # torch raises pickle.UnpicklingError with its own hints
            if 'weights_only' not in str(err) and 'Unsupported global' not in str(err):
                raise
            detail = [line.strip() for line in str(err).splitlines() if 'Unsupported' in line]
            raise RuntimeError(
                f'Refusing to load checkpoint {filename}: it pickles an object that mmdld does '
                'not allow (only tensors, numpy data and MMEngine log buffers are). '
                'If you trust this file, allow the type with '
                '`mmdld.utils.checkpoint.add_safe_checkpoint_globals(<type>)`. '
                f'torch said: {detail[0] if detail else str(err).splitlines()[0]}') from err


def _load_from_local(filename: str, map_location: Optional[Union[str, Callable]]) -> Any:
    return load_checkpoint_file(filename, map_location)


def register_safe_checkpoint_loader() -> None:
    """Makes MMEngine load local checkpoints through :func:`load_checkpoint_file`.

    Replaces the loader that ``mmengine.runner.checkpoint`` registers for paths without a scheme
    prefix; remote schemes (``http://``, ``torchvision://``, ...) are untouched.
    """
    CheckpointLoader.register_scheme(prefixes='', loader=_load_from_local, force=True)
