"""Generate-once caching of the synthetic data set, safe for concurrent processes.

``ensure_dataset`` is what the dataset class, the demo and the tests call: it generates the data
set into ``data_root`` on first use and reuses it afterwards. Generation goes to a temporary
sibling folder that is renamed into place at the end, so ``data_root`` is either absent or
complete; an exclusive ``fcntl`` lock on a sibling lock file makes concurrent callers (the ranks
of one DDP job, parallel test runs) wait for the one that generates instead of colliding. Each
node of a multi-node job without a shared disk generates its own copy, identical because the
generator is deterministic.
"""
import fcntl
import json
import os
import shutil
import tempfile
from typing import Callable, Optional

from .generator import CFG_FILE, generate_dataset, resolve_synth_cfg


def _check_existing(root: str, ann_file: str, wanted: dict) -> None:
    """Raise if ``root`` holds data made with another config, or no synthetic data at all."""
    cfg_path = os.path.join(root, CFG_FILE)
    if not os.path.isfile(cfg_path):
        raise FileExistsError(
            f'{root} exists but has no {CFG_FILE}, so it was not made by the synthetic '
            f'generator (or its generation did not finish). Delete it, point data_root '
            f'elsewhere, or load it with mmocr.OCRDataset.')
    try:
        with open(cfg_path, encoding='utf-8') as f:
            stored = json.load(f)
    except json.JSONDecodeError as err:
        raise ValueError(
            f'{cfg_path} is not valid JSON ({err}): the synthetic data set in {root} is '
            f'damaged. Delete {root} to regenerate it.') from err
    if not isinstance(stored, dict):
        raise ValueError(f'{cfg_path} holds {type(stored).__name__}, not a synth_cfg dict: '
                         f'delete {root} to regenerate it.')
    # A key missing from the stored config takes its default (docs/synthetic_data.md).
    defaults = resolve_synth_cfg(None)
    stored = {**{k: v for k, v in defaults.items() if k not in stored}, **stored}
    if stored != wanted:
        raise ValueError(
            f'{root} holds synthetic data generated with synth_cfg {stored}, but the config '
            f'asks for {wanted}. Delete {root} to regenerate it, or set data_root to another '
            f'folder.')
    if not os.path.isfile(os.path.join(root, ann_file)):
        raise FileNotFoundError(
            f'{ann_file} is not in {root} (a complete synthetic data set); the generator '
            f'writes textspotting_train.json and textspotting_test.json.')


def ensure_dataset(data_root: str,
                   synth_cfg: Optional[dict] = None,
                   ann_file: str = 'textspotting_train.json',
                   log_fn: Optional[Callable[[str], None]] = None) -> bool:
    """Make sure ``data_root`` holds the synthetic data set of ``synth_cfg``.

    Args:
        data_root: The data set folder (created with its parents if absent).
        synth_cfg: ``generate_dataset`` keyword arguments; ``workers`` is honoured but does not
            count when comparing with the stored config.
        ann_file: The annotation file the caller needs, relative to ``data_root``.
        log_fn: Receives progress messages.

    Returns:
        True if this call generated the data, False if it was already there.

    Raises:
        ValueError: If ``data_root`` holds data of another synth_cfg (naming both configs) or
            synth_cfg is invalid.
        FileExistsError: If ``data_root`` is a non-empty folder not made by the generator.
        FileNotFoundError: If the data set is complete but has no ``ann_file``.
    """
    wanted = resolve_synth_cfg(synth_cfg)
    workers = (synth_cfg or {}).get('workers')
    root = os.path.abspath(data_root)
    if os.path.isfile(os.path.join(root, CFG_FILE)):  # fast path, no lock needed
        _check_existing(root, ann_file, wanted)
        return False
    parent, name = os.path.split(root)
    os.makedirs(parent, exist_ok=True)
    with open(os.path.join(parent, f'.{name}.lock'), 'a') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if os.path.exists(root) and os.listdir(root):
                # Another process finished while we waited, or the folder is foreign.
                _check_existing(root, ann_file, wanted)
                return False
            if log_fn is not None:
                log_fn(f'generating the synthetic data set into {root} (synth_cfg {wanted})')
            tmp = tempfile.mkdtemp(prefix=f'.{name}.tmp-', dir=parent)
            os.chmod(tmp, 0o755)  # mkdtemp makes it private; the data set is not
            try:
                kwargs = {k: v for k, v in wanted.items() if k != 'generator_version'}
                generate_dataset(tmp, workers=workers, log_fn=log_fn, **kwargs)
                if os.path.isdir(root):
                    os.rmdir(root)  # empty (checked above): make room for the rename
                os.rename(tmp, root)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            if not os.path.isfile(os.path.join(root, ann_file)):
                _check_existing(root, ann_file, wanted)
            return True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
