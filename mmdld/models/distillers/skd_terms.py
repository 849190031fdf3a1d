"""The student's SKD losses (eq. 7-10) from its and the teacher's GT recognitions."""
from typing import Dict, Optional

import torch
import torch.nn as nn
from torch import Tensor

from mmdld.models.spotters import DistillableSpotter, GTRecognition, TeacherOutputs


def skd_losses(student: DistillableSpotter, skd_loss: nn.Module, roi_align: Optional[nn.Module],
               student_rec: GTRecognition, teacher: TeacherOutputs) -> Dict[str, Tensor]:
    """``loss_skd_roi``, ``loss_skd_con`` and ``loss_skd_seq`` of ``SKDLoss``.

    L_seq is the student's negative log-probability of the teacher's top-K beam sequences,
    teacher-forced on its own ``F_con``; without beams (``eta2 = 0``) or instances its input is
    zeros.

    Args:
        student (DistillableSpotter): The student spotter.
        skd_loss (nn.Module): ``SKDLoss``.
        roi_align (nn.Module, optional): Connector from the student's ``F_roi`` to the
            teacher's shape (None when they agree).
        student_rec (GTRecognition): The student's GT recognition, instances in the order of
            ``teacher``.
        teacher (TeacherOutputs): The teacher's outputs on the same instances.
    """
    topk, num = skd_loss.seq_loss.topk, len(student_rec)
    s_roi = student_rec.roi_feats if roi_align is None else roi_align(student_rec.roi_feats)
    beams = teacher.beams
    if beams is not None and num > 0:
        steps = beams.indices.size(-1)
        seq_lp = student.sequence_log_prob(
            student_rec.context.repeat_interleave(topk, dim=0),
            beams.indices.reshape(num * topk, steps),
            beams.valid.reshape(num * topk, steps)).view(num, topk)
        seq_valid = torch.isfinite(beams.log_probs)
    else:
        seq_lp, seq_valid = student_rec.context.new_zeros(num, topk), None
    return skd_loss(s_roi, teacher.rec.roi_feats, student_rec.context, teacher.rec.context,
                    seq_lp, seq_valid)
