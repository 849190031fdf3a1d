"""The frozen DLD teacher: building, strict checkpoint loading, module handling, its forward."""
import os.path as osp
import re
from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log
from mmengine.runner.checkpoint import _load_checkpoint
from mmengine.structures import InstanceData
from torch import Tensor

from mmdld.models.spotters import TeacherOutputs
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


def check_teacher_for_training(cfg: Union[Config, dict]) -> None:
    """Refuses to train a distiller whose teacher would keep its random initial weights.

    Runs on the whole run config before the Runner is built (``tools/train.py``), so that the
    mistake costs seconds rather than a run. Models that are not distillers (no
    :class:`FrozenTeacherMixin`) pass. A distiller passes with ``model.teacher_ckpt``; with
    ``model.teacher_in_state_dict`` and ``resume``/``load_from`` (the teacher comes from that
    checkpoint); or with ``model.allow_random_teacher=True``, which is for tests only. Testing
    or running inference without a teacher checkpoint is not affected: the teacher is only
    used by the training step.

    Args:
        cfg (Config | dict): The run's config (``model``, ``resume``, ``load_from``).

    Raises:
        ValueError: Naming ``model.teacher_ckpt`` and the test-only opt-in.
    """
    model = cfg.get('model') or {}
    model_type = model.get('type')
    cls = model_type if isinstance(model_type, type) else (
        MODELS.get(model_type) if isinstance(model_type, str) else None)
    if cls is None or not issubclass(cls, FrozenTeacherMixin):
        return
    if model.get('teacher_ckpt') or model.get('allow_random_teacher', False):
        return
    if model.get('teacher_in_state_dict', False) and (cfg.get('resume') or cfg.get('load_from')):
        return
    raise ValueError(
        '`model.teacher_ckpt` is not set: the DLD teacher would keep its random initial '
        'weights and the student would be distilled from noise. Train the teacher with its '
        'spotter config first, then pass --cfg-options model.teacher_ckpt=<teacher '
        'checkpoint>. (Tests only: model.allow_random_teacher=True trains against a random '
        'teacher.)')


def build_teacher(cfg: TeacherCfg, ckpt: Optional[str], what: str = 'model.teacher'
                  ) -> Tuple[nn.Module, str]:
    """Builds the teacher, loads its checkpoint strictly and freezes it.

    Args:
        cfg (str | dict): Teacher model config or config file, see :func:`load_model_cfg`.
        ckpt (str, optional): Teacher checkpoint. Without one the teacher keeps its initial
            weights (a warning says so): fine for unit tests, or for testing a trained student,
            not for distillation (``tools/train.py`` refuses to train then, see
            :func:`check_teacher_for_training`).
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


class FrozenTeacher:
    """The teacher spotter of DLD, kept out of the distiller's modules.

    MMDetection's ``KnowledgeDistillationSingleStageDetector`` holds its teacher the same way:
    a plain attribute rather than a registered submodule, so that the teacher's weights are not
    in the distiller's ``parameters()``, not seen by DDP and not in checkpoints (unless
    ``in_state_dict``), and it stays in eval mode when the distiller is switched to training.
    The distiller forwards its ``_apply``, ``train`` and state-dict hooks to :meth:`apply`,
    :meth:`eval`, :meth:`save` and :meth:`load`.

    Args:
        cfg (str | dict): Teacher model config or config file, see :func:`load_model_cfg`.
        ckpt (str, optional): Teacher checkpoint, loaded strictly (:func:`build_teacher`).
        in_state_dict (bool): Save (and load) the teacher's weights in the distiller's
            checkpoints, under ``teacher.``.
    """

    def __init__(self, cfg: TeacherCfg, ckpt: Optional[str], in_state_dict: bool) -> None:
        self.model, self.desc = build_teacher(cfg, ckpt)
        self.ckpt = ckpt
        self.in_state_dict = in_state_dict

    @torch.no_grad()
    def __call__(self, inputs: Tensor, batch_gt_instances: Sequence[InstanceData],
                 with_step_log_probs: bool, beam_width: int, topk: Optional[int]
                 ) -> TeacherOutputs:
        """Step 1 of DLD: the teacher's recognition of the GT instances (constants).

        Args:
            inputs (Tensor): The pre-processed high-resolution batch.
            batch_gt_instances (list[InstanceData]): GT instances, in the frame of ``inputs``.
            with_step_log_probs (bool): Also the teacher-forced distributions (for L_acc,
                and for SKD's logits term, ``LogitsDistillLoss``).
            beam_width (int): Beam width of the search for L_seq.
            topk (int, optional): Sequences kept per instance; None: no beam search
                (DRS-only, ``eta2 = 0`` or the logits term).
        """
        model = self.model
        rec = model.gt_recognition(model.extract_feat(inputs), batch_gt_instances)
        step_log_probs = (model.step_log_probs(rec.context, rec.targets)
                          if with_step_log_probs else None)
        beams = None if topk is None else model.beam_search(rec.context, beam_width, topk)
        return TeacherOutputs(rec=rec, step_log_probs=step_log_probs, beams=beams)

    def copy_into(self, student: nn.Module, student_desc: str) -> None:
        """Loads the teacher's weights into ``student`` (same architecture, strictly)."""
        try:
            student.load_state_dict(self.model.state_dict(), strict=True)
        except RuntimeError as err:
            raise RuntimeError(
                'DLDDistiller: init_student_from_teacher=True needs a student with the '
                f"teacher's architecture; student {student_desc} vs teacher {self.desc}: "
                f'{err}. Set `model.init_student_from_teacher=False` for a different '
                'student.') from err

    def apply(self, fn: Callable, *args, **kwargs) -> None:
        """``Module._apply`` on the teacher (``to``, ``cuda``, ``half`` of the distiller)."""
        self.model._apply(fn, *args, **kwargs)

    def eval(self) -> None:
        """Back to eval mode, whatever mode the distiller was set to."""
        self.model.eval()

    def save(self, destination: dict, prefix: str, keep_vars: bool) -> None:
        """Adds the teacher's weights under ``prefix + 'teacher.'`` with ``in_state_dict``."""
        if self.in_state_dict:
            self.model.state_dict(destination=destination, prefix=prefix + 'teacher.',
                                  keep_vars=keep_vars)

    def load(self, state_dict: dict, prefix: str, missing_keys: List[str],
             unexpected_keys: List[str]) -> dict:
        """Loads the ``teacher.`` weights with ``in_state_dict``; returns the other entries.

        Without ``in_state_dict`` teacher weights in a checkpoint (e.g. of a run that saved
        them) are dropped: the teacher comes from its own checkpoint.
        """
        teacher_prefix = prefix + 'teacher.'
        if self.in_state_dict:
            result = self.model.load_state_dict({
                k[len(teacher_prefix):]: v
                for k, v in state_dict.items() if k.startswith(teacher_prefix)
            }, strict=False)
            missing_keys.extend(teacher_prefix + k for k in result.missing_keys)
            unexpected_keys.extend(teacher_prefix + k for k in result.unexpected_keys)
        return {k: v for k, v in state_dict.items() if not k.startswith(teacher_prefix)}


class FrozenTeacherMixin:
    """Module hooks of an ``nn.Module`` holding a :class:`FrozenTeacher` as ``_teacher``.

    ``teacher`` is the teacher spotter; ``train`` leaves it in eval mode; ``_apply`` moves and
    casts it with the module; the state-dict hooks save and load it only with
    ``in_state_dict``. Put it before the ``nn.Module`` base class.
    """

    @property
    def teacher(self) -> nn.Module:
        """The teacher spotter: frozen, in eval mode, not a submodule."""
        return self._teacher.model

    def train(self, mode: bool = True):
        """Sets the mode of the submodules; the teacher stays in eval mode."""
        super().train(mode)
        if '_teacher' in self.__dict__:
            self._teacher.eval()
        return self

    def _apply(self, fn, *args, **kwargs):
        if '_teacher' in self.__dict__:
            self._teacher.apply(fn, *args, **kwargs)
        return super()._apply(fn, *args, **kwargs)

    def _save_to_state_dict(self, destination, prefix, keep_vars) -> None:
        super()._save_to_state_dict(destination, prefix, keep_vars)
        self._teacher.save(destination, prefix, keep_vars)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs) -> None:
        others = self._teacher.load(state_dict, prefix, missing_keys, unexpected_keys)
        super()._load_from_state_dict(others, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)
