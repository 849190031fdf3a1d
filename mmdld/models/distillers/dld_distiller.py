"""Dynamic Low-resolution Distillation (paper §3.3-3.5): teacher + student + DRS + SKD."""
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmdet.structures import SampleList
from mmengine.logging import print_log
from mmengine.model import BaseModel
from torch import Tensor

from mmdld.models.spotters import GTRecognition, TeacherOutputs
from mmdld.models.task_modules import flatten_tensors
from mmdld.models.utils import resize_batch
from mmdld.registry import MODELS
from .config_checks import (build_roi_align, check_beam_width, check_model_cfg,
                            check_same_reading, check_scale_mode, check_spotter)
from .grouping import group_by_index, instance_indices, merge_group_losses
from .scale_costs import ScaleCostTable
from .scale_pass import ScalePassProbe
from .skd_terms import skd_losses
from .teacher import FrozenTeacher, FrozenTeacherMixin, TeacherCfg, describe_model_cfg

ForwardResults = Union[Dict[str, Tensor], SampleList, Tuple[Tensor, ...]]


@MODELS.register_module()
class DLDDistiller(FrozenTeacherMixin, BaseModel):
    """Trains a low-resolution student spotter from a frozen high-resolution teacher.

    A composition of a :class:`FrozenTeacher`, the DRS (``selector``), the
    :class:`ScalePassProbe` of the ``k`` no-grad scale passes, a :class:`ScaleCostTable`
    (``T_i``, GFLOPs), ``DRSLoss``, ``SKDLoss`` and an optional ``RoIAlignModule`` connector.
    Student and teacher are spotters implementing ``DistillableSpotter``; the distiller uses
    nothing else of them. ``selector=None`` with ``fixed_scale`` is SKD-only; ``skd_loss=None``
    or ``loss_weight=0`` is DRS-only. Costs the config leaves out are measured once by
    :meth:`prepare_costs`, which :meth:`forward` calls before a training or test step.

    ``docs/dld.md`` describes the training step (:meth:`loss`), inference (:meth:`predict`:
    DRS argmax, the student at that scale, ``dld_scale``/``dld_gflops`` in the metainfo) and
    every argument; ``docs/new_spotter.md`` the spotter protocol. ``tools/train.py`` refuses
    to train without ``teacher_ckpt`` unless ``allow_random_teacher`` (tests only) is set.
    The costs are buffers of ``cost_table``: checkpoints carry them, a resume reuses them.
    """

    def __init__(self,
                 student: dict,
                 teacher: TeacherCfg,
                 teacher_ckpt: Optional[str] = None,
                 selector: Optional[dict] = dict(type='DynamicResolutionSelector'),
                 fixed_scale: Optional[float] = None,
                 scale_costs: Optional[Sequence[float]] = None,
                 scale_gflops: Optional[Sequence[float]] = None,
                 selector_gflops: Optional[float] = None,
                 scale_costs_file: Optional[str] = None,
                 drs_loss: dict = dict(type='DRSLoss', gamma=0.1, loss_weight=1.0),
                 skd_loss: Optional[dict] = dict(type='SKDLoss'),
                 rec_loss_weight: float = 1.0,
                 teacher_beam_width: int = 3,
                 scale_pass_dtype: Optional[str] = None,
                 roi_align: Optional[dict] = None,
                 init_student_from_teacher: bool = True,
                 teacher_in_state_dict: bool = False,
                 allow_random_teacher: bool = False,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        check_model_cfg(student, 'model.student')
        if data_preprocessor is None:
            data_preprocessor = student.get('data_preprocessor')
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.student_desc = f'`model.student` ({describe_model_cfg(student)})'
        self.student = MODELS.build(student)
        check_spotter(self.student, '`model.student`')
        # A plain attribute, not a submodule (see FrozenTeacher); `self.teacher` is its model.
        self._teacher = FrozenTeacher(teacher, teacher_ckpt, teacher_in_state_dict)
        check_spotter(self.teacher, self._teacher.desc)
        student_spec, teacher_spec = (self.student.recognition_spec,
                                      self.teacher.recognition_spec)
        check_same_reading(student_spec, teacher_spec, self._teacher.desc)

        check_scale_mode(selector, fixed_scale)
        self.selector = None if selector is None else MODELS.build(selector)
        self.scales: Tuple[float, ...] = tuple(
            float(s) for s in ((fixed_scale, ) if selector is None else self.selector.scales))
        self.rec_loss_weight = float(rec_loss_weight)
        self._drs_loss_cfg = dict(drs_loss)
        cfg_costs = self._drs_loss_cfg.pop('scale_costs', None)
        self.cost_table = ScaleCostTable(
            self.scales, scale_costs if scale_costs is not None else cfg_costs, scale_gflops,
            selector_gflops, with_selector=self.selector is not None, costs_file=scale_costs_file)
        self.drs_loss: Optional[nn.Module] = None
        if self.selector is not None and self.cost_table.relative is not None:
            self.drs_loss = MODELS.build(
                dict(self._drs_loss_cfg, scale_costs=self.cost_table.relative))
        self._drs_loss_costs = self.cost_table.relative
        # drs_loss state of a checkpoint loaded before drs_loss exists (see _keep_drs_loss_state)
        self._pending_drs_loss_state: Dict[str, Tensor] = {}
        self._register_load_state_dict_pre_hook(self._keep_drs_loss_state)
        self.with_skd = skd_loss is not None and float(skd_loss.get('loss_weight', 1.0)) != 0
        self.skd_loss = MODELS.build(skd_loss) if self.with_skd else None
        self.teacher_beam_width = check_beam_width(
            teacher_beam_width, self.skd_loss.seq_topk if self.with_skd else None)
        self.scale_pass_dtype = scale_pass_dtype
        self.scale_pass = ScalePassProbe(scale_pass_dtype)
        self.roi_align = (build_roi_align(roi_align, student_spec, teacher_spec)
                          if self.with_skd else None)
        self.init_student_from_teacher = init_student_from_teacher
        self.allow_random_teacher = bool(allow_random_teacher)
        if init_student_from_teacher:
            self._teacher.copy_into(self.student, self.student_desc)

    # ---------------------------------------------------------------- teacher and student
    def init_weights(self) -> None:
        """Initialises the selector (and any other part); the student from the teacher.

        With ``init_student_from_teacher`` the student's own initialisation (e.g. downloading
        ImageNet weights) is skipped: the teacher's weights replace it anyway.
        """
        if not self.init_student_from_teacher:
            super().init_weights()
            return
        for name, child in self.named_children():
            if name != 'student' and hasattr(child, 'init_weights'):
                child.init_weights()
        self._teacher.copy_into(self.student, self.student_desc)
        self._is_init = True

    # ---------------------------------------------------------------- costs
    @property
    def costs_ready(self) -> bool:
        """Whether the scale costs and GFLOPs are known (given or measured)."""
        return self.cost_table.ready

    @property
    def scale_costs(self) -> Optional[List[float]]:
        """``T_i`` per candidate scale (None until known)."""
        return self.cost_table.relative

    @property
    def scale_gflops(self) -> Optional[List[float]]:
        """Student GFLOPs per image at each candidate scale (None until known)."""
        return self.cost_table.gflops

    def gflops_at(self, index: int) -> float:
        """GFLOPs per image of inference at candidate scale ``index``: student plus DRS."""
        return self.cost_table.gflops_at(index)

    def prepare_costs(self, inputs: Tensor, data_samples: SampleList) -> None:
        """Measures the costs the config left out, once, on this pre-processed batch.

        Costs loaded from a checkpoint (``cost_table``'s buffers) are not measured again;
        ``drs_loss`` is (re)built whenever its ``T_i`` differ from the table's.
        """
        self.cost_table.ensure(self.student, self.teacher, self.selector, inputs, data_samples,
                               *self._padding())
        costs = self.cost_table.relative
        if self.selector is not None and (self.drs_loss is None
                                          or self._drs_loss_costs != costs):
            self.drs_loss = MODELS.build(dict(self._drs_loss_cfg, scale_costs=costs)).to(
                inputs.device)
            self._drs_loss_costs = list(costs)
            self._restore_drs_loss_state()

    def _keep_drs_loss_state(self, state_dict: dict, prefix: str, *args) -> None:
        """Keeps a checkpoint's ``drs_loss.*`` entries while ``drs_loss`` is not built yet.

        With costs measured or read from the checkpoint's own ``cost_table`` buffers,
        ``drs_loss`` is built on the first batch, after the checkpoint is loaded: its state
        (the dual ``gamma`` of ``target_cost``, its window and update count) waits here and
        is loaded into it by :meth:`prepare_costs`, so that a resumed run continues it.
        """
        if self.drs_loss is not None:
            return
        key_prefix = f'{prefix}drs_loss.'
        for key in [k for k in state_dict if k.startswith(key_prefix)]:
            self._pending_drs_loss_state[key[len(key_prefix):]] = state_dict.pop(key)

    def _restore_drs_loss_state(self) -> None:
        if not self._pending_drs_loss_state:
            return
        state, self._pending_drs_loss_state = self._pending_drs_loss_state, {}
        result = self.drs_loss.load_state_dict(state, strict=False)
        if result.missing_keys or result.unexpected_keys:
            print_log(
                'DLDDistiller: the checkpoint\'s `drs_loss` state does not match '
                f'`model.drs_loss` ({self._drs_loss_cfg}): missing {result.missing_keys}, '
                f'unexpected {result.unexpected_keys}; the missing entries keep their '
                'initial values', logger='current', level=30)

    def _require_costs(self) -> None:
        if not self.costs_ready:
            raise RuntimeError('DLDDistiller: the scale costs are not known yet; call '
                               '`prepare_costs(inputs, data_samples)` first (forward does)')

    def _padding(self) -> Tuple[int, float]:
        """Size divisor and value of the padding of resized batches (the preprocessor's)."""
        preprocessor = self.data_preprocessor
        return (int(getattr(preprocessor, 'pad_size_divisor', 1) or 1),
                float(getattr(preprocessor, 'pad_value', 0)))

    def _resize(self, inputs: Tensor, data_samples: Optional[SampleList], scale: float,
                rescale_gt: bool = True) -> Tuple[Tensor, Optional[SampleList]]:
        size_divisor, pad_value = self._padding()
        return resize_batch(inputs, data_samples, scale, size_divisor=size_divisor,
                            pad_value=pad_value, rescale_gt=rescale_gt)

    # ---------------------------------------------------------------- forward
    def forward(self,
                inputs: Tensor,
                data_samples: Optional[SampleList] = None,
                mode: str = 'tensor') -> ForwardResults:
        """MMEngine's entry point: ``'loss'``, ``'predict'`` (after :meth:`prepare_costs`)
        or ``'tensor'``."""
        if mode in ('loss', 'predict'):
            self.prepare_costs(inputs, data_samples)
            step = self.loss if mode == 'loss' else self.predict
            return step(inputs, data_samples)
        if mode == 'tensor':
            return self._forward(inputs, data_samples)
        raise RuntimeError(f'DLDDistiller: invalid mode "{mode}"; only "loss", "predict" and '
                           '"tensor" are supported')

    def _choose(self, inputs: Tensor, data_samples: SampleList,
                train: bool) -> Tuple[Optional[Tensor], Optional[Tensor], Tensor]:
        """DRS logits, the sample ``h`` (training) and the chosen scale index per image."""
        if self.selector is None:
            index = torch.zeros(inputs.size(0), dtype=torch.long, device=inputs.device)
            return None, None, index
        logits = self.selector(inputs, [s.metainfo['img_shape'][:2] for s in data_samples])
        if train:
            h, index = self.selector.sample(logits)
            return logits, h, index
        return logits, None, self.selector.select(logits)

    # ---------------------------------------------------------------- training
    def loss(self, inputs: Tensor, data_samples: SampleList) -> Dict[str, Any]:
        """One DLD training step on a pre-processed batch; keys in ``docs/dld.md``."""
        self._require_costs()
        skd = self.skd_loss if self.with_skd else None
        # Step distributions for L_acc (DRS) and for SKD's logits term; beams for L_seq.
        teacher_out = self._teacher(
            inputs, [s.gt_instances for s in data_samples],
            self.selector is not None or (skd is not None and skd.needs_step_log_probs),
            self.teacher_beam_width, None if skd is None else skd.seq_topk)
        losses: Dict[str, Any] = {}
        _, h, index = self._choose(inputs, data_samples, train=True)
        if self.selector is not None:
            losses.update(self._drs_losses(inputs, data_samples, h, index, teacher_out))
        losses.update(self._student_losses(inputs, data_samples, index, teacher_out))
        return losses

    def _drs_losses(self, inputs: Tensor, data_samples: SampleList, h: Tensor, index: Tensor,
                    teacher_out: TeacherOutputs) -> Dict[str, Tensor]:
        """Step 3: ``L_DRS`` from the student's no-grad passes at every scale (eq. 2-4)."""
        rec = teacher_out.rec
        student_log_probs = self.scale_pass(self.student, inputs, data_samples, self.scales,
                                            rec.targets, self._resize)
        img_inds = torch.repeat_interleave(
            torch.arange(len(data_samples), device=inputs.device),
            torch.as_tensor(rec.num_per_img, device=inputs.device))
        losses = dict(self.drs_loss(h, student_log_probs, teacher_out.step_log_probs, rec.valid,
                                    img_inds))
        losses['drs_avg_scale'] = torch.as_tensor(self.scales, device=inputs.device)[index].mean()
        losses['drs_tau'] = inputs.new_tensor(float(self.selector.temperature))
        return losses

    def _student_losses(self, inputs: Tensor, data_samples: SampleList, index: Tensor,
                        teacher_out: TeacherOutputs) -> Dict[str, Any]:
        """Step 4: the student's own, recognition and SKD losses at the chosen scales."""
        counts = teacher_out.rec.num_per_img
        group_losses, weights, recs, orders = [], [], [], []
        for j, imgs in group_by_index(index):
            sel = torch.as_tensor(imgs, device=inputs.device)
            scaled, samples = self._resize(inputs.index_select(0, sel),
                                           [data_samples[i] for i in imgs], self.scales[j])
            losses, rec = self.student.loss_and_gt_recognition(scaled, samples)
            if list(rec.num_per_img) != [counts[i] for i in imgs]:
                raise RuntimeError(f'DLDDistiller: the student read {rec.num_per_img} GT '
                                   f'instances in images {imgs} at scale {self.scales[j]}, the '
                                   f'teacher {[counts[i] for i in imgs]}')
            group_losses.append(losses)
            weights.append(len(imgs) / inputs.size(0))
            recs.append(rec)
            orders.append(instance_indices(counts, imgs, inputs.device))
        losses = merge_group_losses(group_losses, weights)
        # Instances in group order; the teacher's records are reordered to match.
        teacher = teacher_out.select(torch.cat(orders), [n for r in recs for n in r.num_per_img])
        student = GTRecognition(
            roi_feats=torch.cat([r.roi_feats for r in recs]),
            context=torch.cat([r.context for r in recs]), targets=teacher.rec.targets,
            valid=teacher.rec.valid, num_per_img=teacher.rec.num_per_img)
        for key, value in self.student.recognition_loss(student).items():
            losses[key] = self.rec_loss_weight * value
        if self.with_skd:
            losses.update(
                skd_losses(self.student, self.skd_loss, self.roi_align, student, teacher))
        return losses

    # ---------------------------------------------------------------- inference
    def predict(self, inputs: Tensor, data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """Spots the text of each image at the scale the DRS picks for it (``docs/dld.md``)."""
        self._require_costs()
        _, _, index = self._choose(inputs, data_samples, train=False)
        for j, imgs in group_by_index(index):
            sel = torch.as_tensor(imgs, device=inputs.device)
            # Test annotations stay in the original frame: only the metainfo is rescaled.
            scaled, samples = self._resize(inputs.index_select(0, sel),
                                           [data_samples[i] for i in imgs], self.scales[j],
                                           rescale_gt=False)
            for i, pred in zip(imgs, self.student.predict(scaled, samples, rescale=rescale)):
                out = data_samples[i]
                out.pred_instances = pred.pred_instances
                # Metainfo the student added (e.g. `pred_gt_texts`), not the resized shapes.
                out.set_metainfo(
                    {k: v for k, v in pred.metainfo.items() if k not in out.metainfo})
                out.set_metainfo(dict(dld_scale=self.scales[j], dld_gflops=self.gflops_at(j)))
        return data_samples

    def _forward(self, inputs: Tensor,
                 data_samples: Optional[SampleList] = None) -> Tuple[Tensor, ...]:
        """Tensor mode (FLOPs analysis): DRS logits, then the student at the chosen scales."""
        if data_samples is None:
            raise ValueError('DLDDistiller._forward needs the data samples (image shapes)')
        logits, _, index = self._choose(inputs, data_samples, train=False)
        outputs: List[Tensor] = [] if logits is None else [logits]
        for j, imgs in group_by_index(index):
            sel = torch.as_tensor(imgs, device=inputs.device)
            scaled, samples = self._resize(inputs.index_select(0, sel),
                                           [data_samples[i] for i in imgs], self.scales[j],
                                           rescale_gt=False)
            outputs.extend(flatten_tensors(self.student._forward(scaled, samples)))
        return tuple(outputs)
