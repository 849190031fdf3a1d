"""Checks of a ``DLDDistiller`` config, with messages that name the offending config key."""
from typing import Optional

import torch.nn as nn

from mmdld.models.spotters import DistillableSpotter, RecognitionSpec
from mmdld.registry import MODELS


def check_model_cfg(cfg: object, what: str) -> None:
    """``cfg`` must be a model config dict with ``type``."""
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise TypeError(f'DLDDistiller: `{what}` must be a model config dict with `type`, got '
                        f'{type(cfg).__name__}')


def check_spotter(model: nn.Module, what: str) -> None:
    """``model`` must implement the spotter protocol."""
    if not isinstance(model, DistillableSpotter):
        raise TypeError(f'DLDDistiller: {what} must implement the spotter protocol '
                        '(mmdld.models.spotters.DistillableSpotter, see docs/new_spotter.md), '
                        f'e.g. MaskRCNNSpotter; got {type(model).__name__}')


def check_same_reading(student: RecognitionSpec, teacher: RecognitionSpec,
                       teacher_desc: str) -> None:
    """Student and teacher must read with the same dictionary and ``max_seq_len``."""
    if student.dictionary != teacher.dictionary or student.max_seq_len != teacher.max_seq_len:
        raise ValueError(
            'DLDDistiller: the student and the teacher must read with the same dictionary '
            'and max_seq_len (L_acc and L_seq compare their per-character distributions); '
            f'teacher {teacher_desc} has {teacher.num_classes} classes and max_seq_len '
            f'{teacher.max_seq_len}, the student {student.num_classes} and '
            f'{student.max_seq_len}')


def check_scale_mode(selector: Optional[dict], fixed_scale: Optional[float]) -> None:
    """Either a selector (DLD, DRS-only) or a fixed scale in (0, 1] (SKD-only)."""
    if selector is not None and fixed_scale is not None:
        raise ValueError('DLDDistiller: set either `model.selector` (DLD / DRS-only) or '
                         '`model.fixed_scale` (SKD-only, selector=None), not both')
    if selector is None and (fixed_scale is None or not 0 < float(fixed_scale) <= 1):
        raise ValueError('DLDDistiller: without `model.selector`, `model.fixed_scale` must be '
                         f'a scale in (0, 1], got {fixed_scale}')


def check_beam_width(beam_width: int, topk: Optional[int]) -> int:
    """The teacher's beam width: >= 1, and >= K of L_seq (``topk``, None without SKD)."""
    if beam_width < 1:
        raise ValueError(f'DLDDistiller: `teacher_beam_width` must be >= 1, got {beam_width}')
    if topk is not None and topk > beam_width:
        raise ValueError(f'DLDDistiller: `skd_loss.seq_loss.topk`={topk} needs '
                         f'`teacher_beam_width` >= {topk}, got {beam_width}')
    return int(beam_width)


def build_roi_align(cfg: Optional[dict], student: RecognitionSpec,
                    teacher: RecognitionSpec) -> Optional[nn.Module]:
    """The distiller's connector (``model.roi_align``), mapping the student's ``F_roi`` to the
    teacher's shape for L_roi only.

    ``cfg`` when given (e.g. a ``DeconvFeatureAligner``); else a ``RoIAlignModule`` when the RoI
    sizes or channels differ, and None when they agree. It is trained by L_roi and is not part
    of the student's inference. A student that super-resolves its RoI features for its own
    recognition head too (Table 4's "†", ``SuperResolvedRoIExtractor`` in the student's config)
    reports the teacher's RoI size, so that no connector is built here.
    """
    if cfg is not None:
        return MODELS.build(cfg)
    if (student.roi_channels, student.roi_size) == (teacher.roi_channels, teacher.roi_size):
        return None
    return MODELS.build(
        dict(type='RoIAlignModule', in_channels=student.roi_channels, in_size=student.roi_size,
             out_size=teacher.roi_size, out_channels=teacher.roi_channels))
