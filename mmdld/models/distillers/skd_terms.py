"""The student's SKD losses (eq. 7-10) from its and the teacher's GT recognitions."""
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
from torch import Tensor

from mmdld.models.spotters import DistillableSpotter, GTRecognition, TeacherOutputs


def skd_losses(student: DistillableSpotter, skd_loss: nn.Module, roi_align: Optional[nn.Module],
               student_rec: GTRecognition, teacher: TeacherOutputs) -> Dict[str, Tensor]:
    """``loss_skd_roi``, ``loss_skd_con`` and ``loss_skd_seq`` of ``SKDLoss``.

    L_seq is the student's negative log-probability of the teacher's top-K beam sequences,
    teacher-forced on its own ``F_con``; without beams (``eta2 = 0``) or instances its input is
    zeros. With ``LogitsDistillLoss`` as the sequence term (Table 3) its inputs are instead the
    student's teacher-forced step log-probabilities on the teacher's targets and the teacher's.

    Args:
        student (DistillableSpotter): The student spotter.
        skd_loss (nn.Module): ``SKDLoss``.
        roi_align (nn.Module, optional): Connector from the student's ``F_roi`` to the
            teacher's shape (None when they agree).
        student_rec (GTRecognition): The student's GT recognition, instances in the order of
            ``teacher``.
        teacher (TeacherOutputs): The teacher's outputs on the same instances.
    """
    num = len(student_rec)
    s_roi = student_rec.roi_feats if roi_align is None else roi_align(student_rec.roi_feats)
    beams, teacher_steps = teacher.beams, None
    if skd_loss.needs_step_log_probs:
        seq_lp = student.step_log_probs(student_rec.context, teacher.rec.targets)
        seq_valid, teacher_steps = teacher.rec.valid, teacher.step_log_probs
    elif skd_loss.reads_step_log_probs:
        seq_lp, seq_valid = None, None  # eta2 = 0: the logits term is off
    elif beams is not None and num > 0:
        topk, steps = skd_loss.seq_loss.topk, beams.indices.size(-1)
        seq_lp = student.sequence_log_prob(
            student_rec.context.repeat_interleave(topk, dim=0),
            beams.indices.reshape(num * topk, steps),
            beams.valid.reshape(num * topk, steps)).view(num, topk)
        seq_valid = torch.isfinite(beams.log_probs)
    else:
        seq_lp, seq_valid = student_rec.context.new_zeros(num, skd_loss.seq_loss.topk), None
    s_con, t_con = _contexts_for_l_con(skd_loss, student_rec.context, teacher.rec.context)
    return skd_loss(s_roi, teacher.rec.roi_feats, s_con, t_con, seq_lp, seq_valid,
                    teacher_steps)


def _contexts_for_l_con(skd_loss: nn.Module, student_con: Tensor,
                        teacher_con: Tensor) -> Tuple[Tensor, Tensor]:
    """Student and teacher ``F_con`` ``[N, T, D]`` for L_con.

    They must have the same shape: a student whose RoI features are smaller than the
    teacher's super-resolves them before its recognition head (``SuperResolvedRoIExtractor``,
    Table 4), so that its ``F_con`` has the teacher's steps; ``ContextDistillLoss`` says so
    otherwise. With ``eta1 = 0`` L_con is off and any shapes are accepted: the student's own
    (detached) ``F_con`` stands in for the teacher's, which makes the term zero.
    """
    if student_con.shape != teacher_con.shape and skd_loss.eta1 == 0:
        return student_con, student_con.detach()
    return student_con, teacher_con
