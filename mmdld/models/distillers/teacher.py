"""Building the frozen DLD teacher and loading its checkpoint strictly."""
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log
from mmengine.runner.checkpoint import _load_checkpoint

from mmdld.registry import MODELS

TeacherCfg = Union[str, dict, ConfigDict]


def load_model_cfg(cfg: TeacherCfg, what: str) -> Tuple[dict, str]:
    """Reads a model config given either as a dict or as a config file path.

    Args:
        cfg (str | dict): A model config (a dict with ``type``) or the path of a config file
            whose ``model`` is used; ``pkg::path`` names a config inside an installed package
            (``mmdld::spotter/...``), as in ``_base_``.
        what (str): Config key used in messages, e.g. ``'model.teacher'``.

    Returns:
        tuple[dict, str]: The model config and a one-line description of where it came from,
        used in error messages.
    """
    if isinstance(cfg, str):
        if '::' in cfg:
            from mmengine.hub import get_config
            file_cfg = get_config(cfg)
        else:
            if not osp.isfile(cfg):
                raise FileNotFoundError(f'{what}: config file {cfg!r} does not exist')
            file_cfg = Config.fromfile(cfg)
        if 'model' not in file_cfg:
            raise KeyError(f'{what}: config file {cfg!r} has no `model`')
        return dict(file_cfg.model), f'{cfg} (its `model`)'
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise TypeError(f'{what} must be a model config dict with `type` or a config file path, '
                        f'got {type(cfg).__name__}')
    return dict(cfg), f'`{what}` ({describe_model_cfg(cfg)})'


def describe_model_cfg(cfg: dict) -> str:
    """A short description of a detector config, e.g. ``MaskRCNNSpotter, ResNet-18, FPN-64``."""
    parts = [str(cfg.get('type'))]
    backbone = cfg.get('backbone') or {}
    if backbone:
        depth = backbone.get('depth')
        parts.append(f"{backbone.get('type')}" + (f'-{depth}' if depth is not None else ''))
    neck = cfg.get('neck') or {}
    if neck:
        out = neck.get('out_channels')
        parts.append(f"{neck.get('type')}" + (f'-{out}' if out is not None else ''))
    return ', '.join(parts)


def checkpoint_state_dict(filename: str) -> 'OrderedDict[str, torch.Tensor]':
    """The model weights of a checkpoint file, without a DDP ``module.`` prefix.

    Loaded with MMEngine's ``CheckpointLoader`` (mmdld registers a ``weights_only``-safe loader
    for local files).
    """
    checkpoint = _load_checkpoint(filename, map_location='cpu')
    if not isinstance(checkpoint, dict):
        raise RuntimeError(f'teacher checkpoint {filename!r} holds no state dict')
    state_dict = checkpoint.get('state_dict', checkpoint)
    return OrderedDict((re.sub(r'^module\.', '', k), v) for k, v in state_dict.items())


def compare_state_dicts(model_sd: Dict[str, torch.Tensor],
                        ckpt_sd: Dict[str, torch.Tensor]) -> Tuple[List[str], List[str], List[str]]:
    """Missing keys, unexpected keys and shape mismatches (``key: ckpt vs model``)."""
    missing = [k for k in model_sd if k not in ckpt_sd and not k.endswith('num_batches_tracked')]
    unexpected = [k for k in ckpt_sd if k not in model_sd]
    mismatched = [
        f'{k}: checkpoint {tuple(ckpt_sd[k].shape)} vs model {tuple(v.shape)}'
        for k, v in model_sd.items()
        if k in ckpt_sd and hasattr(ckpt_sd[k], 'shape') and tuple(ckpt_sd[k].shape) != tuple(
            v.shape)
    ]
    return missing, unexpected, mismatched


def load_teacher_checkpoint(teacher: nn.Module, filename: str, cfg_desc: str,
                            max_keys: int = 5) -> None:
    """Loads ``filename`` into ``teacher``, refusing any key or shape mismatch.

    MMEngine's ``load_checkpoint`` only warns about mismatches by default (and its strict mode
    lists every key without saying which config the model came from); a teacher that silently
    kept random weights in some layers would spoil the whole distillation, so every mismatch is
    an error here that names the checkpoint, the teacher config and the first offending keys.

    Args:
        teacher (nn.Module): The teacher built from its config.
        filename (str): The checkpoint file (or URL).
        cfg_desc (str): Description of the teacher config, see :func:`load_model_cfg`.
        max_keys (int): How many keys of each kind the message lists.
    """
    ckpt_sd = checkpoint_state_dict(filename)
    model_sd = teacher.state_dict()
    missing, unexpected, mismatched = compare_state_dicts(model_sd, ckpt_sd)
    if missing or unexpected or mismatched:
        def _first(keys: List[str]) -> str:
            more = f' ... (+{len(keys) - max_keys} more)' if len(keys) > max_keys else ''
            return ', '.join(keys[:max_keys]) + more

        lines = [f'The teacher checkpoint {filename} does not fit the teacher config '
                 f'{cfg_desc}:']
        if mismatched:
            lines.append(f'  {len(mismatched)} shape mismatches: {_first(mismatched)}')
        if missing:
            lines.append(f'  {len(missing)} keys missing from the checkpoint: '
                         f'{_first(missing)}')
        if unexpected:
            lines.append(f'  {len(unexpected)} checkpoint keys the teacher does not have: '
                         f'{_first(unexpected)}')
        lines.append('Train the teacher with this config (or set `model.teacher` to the config '
                     'the checkpoint was trained with).')
        raise RuntimeError('\n'.join(lines))
    teacher.load_state_dict(ckpt_sd, strict=False)  # num_batches_tracked may be absent


def build_teacher(cfg: TeacherCfg, ckpt: Optional[str], what: str = 'model.teacher'
                  ) -> Tuple[nn.Module, str]:
    """Builds the teacher, loads its checkpoint strictly and freezes it.

    Args:
        cfg (str | dict): Teacher model config or config file, see :func:`load_model_cfg`.
        ckpt (str, optional): Teacher checkpoint. Without one the teacher keeps its initial
            weights (a warning says so): fine for unit tests, or for testing a trained student,
            not for distillation.
        what (str): Config key used in messages.

    Returns:
        tuple[nn.Module, str]: The frozen teacher in eval mode, and the config description.
    """
    model_cfg, desc = load_model_cfg(cfg, what)
    teacher = MODELS.build(model_cfg)
    if ckpt is not None:
        load_teacher_checkpoint(teacher, ckpt, desc)
        print_log(f'Loaded the DLD teacher {desc} from {ckpt}', logger='current')
    else:
        print_log(
            f'No `{what}_ckpt`: the DLD teacher {desc} keeps its initial weights. This is only '
            'right for testing an already distilled student.', logger='current',
            level=30)  # logging.WARNING
    teacher.requires_grad_(False)
    teacher.eval()
    return teacher, desc
