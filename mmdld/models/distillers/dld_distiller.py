"""Dynamic Low-resolution Distillation (paper §3.3-3.5): teacher + student + DRS + SKD."""
import contextlib
import copy
import logging
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmdet.models.detectors import TwoStageDetector
from mmdet.models.roi_heads import StandardRoIHead
from mmdet.structures import SampleList
from mmengine.logging import print_log
from mmengine.model import BaseModel
from torch import Tensor

from mmdld.models.utils import resize_batch
from mmdld.registry import MODELS
from .grouping import group_by_index, instance_indices, merge_group_losses
from .scale_costs import ScaleCosts, measure_costs
from .scale_pass import FoldedFeatureExtractor
from .teacher import TeacherCfg, build_teacher, describe_model_cfg

ForwardResults = Union[Dict[str, Tensor], SampleList, Tuple[Tensor, ...]]


@MODELS.register_module()
class DLDDistiller(BaseModel):
    """Trains a low-resolution student spotter from a frozen high-resolution teacher.

    MMDetection's ``KnowledgeDistillationSingleStageDetector`` distils one single-stage detector
    at one resolution; DLD needs a two-stage spotter as student, a second network that picks the
    resolution per image (the DRS), the student run at every candidate scale and sequence-level
    distillation of the recogniser, so the wrapper is written here. It keeps that detector's way
    of holding the teacher: a plain attribute, not a registered submodule, so the teacher's
    weights are not in :meth:`parameters`, not seen by DDP and not in checkpoints (unless
    ``teacher_in_state_dict=True``), and it stays in eval mode when the model is switched to
    training. :meth:`_apply` moves it with the model (``to``, ``cuda``, ``half``...).

    One training step (:meth:`loss`, on the normalised, padded high-resolution batch ``I``; see
    ``docs/dld.md``):

    1. Teacher, no grad: features of ``I``, recognition branch on the GT boxes and masks:
       ``F_roi``, ``F_con``, the per-step distributions ``y`` (teacher-forced on the GT words)
       and the top-K beam-search words.
    2. DRS on ``I``: logits, then a straight-through Gumbel-softmax sample ``h`` ``[B, k]`` at
       the selector's temperature (set by ``GumbelTemperatureHook``) and the chosen index.
    3. Student, no grad, in eval mode, at each of the ``k`` scales on the whole batch (``k``
       batched passes): recognition of the rescaled GT instances, teacher-forced on the same
       words, ``y_{s_i}`` ``[k, N, L, C]``. ``L_DRS = L_acc + gamma * L_flops`` (eq. 2-4) with
       each instance weighted by its image's ``h``: its only path to a parameter is ``h``, so it
       reaches only the DRS.
    4. Student with grad: images grouped by chosen scale, one resized batch per group;
       MMDetection's RPN/box/mask losses, ``loss_rec`` (weighted by ``rec_loss_weight``,
       lambda_1) and the SKD losses (eq. 7-10, lambda_3 inside ``skd_loss``). The chosen index
       is an integer, so nothing of this reaches the DRS; the teacher's outputs are constants.

    Modes: ``selector=None`` with ``fixed_scale`` is SKD-only (no DRS, no ``k`` passes);
    ``skd_loss=None`` or ``skd_loss.loss_weight=0`` is DRS-only; both set is DLD.

    Inference (:meth:`predict`): DRS argmax (no noise, deterministic), images grouped by scale,
    resized, the student's ``predict`` with ``rescale`` (the resized samples' ``scale_factor``
    is relative to the original image, so results come back in its frame); each sample gets
    ``dld_scale`` and ``dld_gflops`` (student at that scale plus the DRS) in its metainfo.

    Costs: ``scale_costs`` (``T_i``, eq. 3) and ``scale_gflops`` come from
    ``tools/analysis_tools/measure_scale_costs.py``; when the config leaves them out they are
    measured once on the first batch (training or test) and logged.

    Args:
        student (dict): Student spotter config (e.g. ``MaskRCNNSpotter`` with a
            ``SpottingRoIHead``).
        teacher (str | dict): Teacher spotter config, or the path of a config file whose
            ``model`` is the teacher.
        teacher_ckpt (str, optional): Teacher checkpoint, loaded strictly: any missing,
            unexpected or differently shaped weight is an error naming the checkpoint and the
            teacher config. Without it the teacher keeps its initial weights (with a warning).
        selector (dict, optional): Config of the DRS (``DynamicResolutionSelector``); its
            ``scales`` are the candidate scales. None for SKD-only.
        fixed_scale (float, optional): The single scale of SKD-only (``selector=None``).
        scale_costs (Sequence[float], optional): ``T_i`` per candidate scale. Measured on the
            first batch when None.
        scale_gflops (Sequence[float], optional): Student GFLOPs per image at each scale, for
            ``dld_gflops``. Measured on the first batch when None.
        selector_gflops (float, optional): DRS GFLOPs per image. Measured when None.
        drs_loss (dict): Config of ``DRSLoss`` without its ``scale_costs`` (``gamma``;
            ``loss_weight`` is lambda_2).
        skd_loss (dict, optional): Config of ``SKDLoss`` (``eta1``, ``eta2``; ``loss_weight``
            is lambda_3; ``seq_loss.topk`` is K). None or ``loss_weight=0``: no distillation.
        rec_loss_weight (float): lambda_1, multiplies the student's ``loss_rec``.
        teacher_beam_width (int): Beam width of the teacher's search for L_seq (>= K).
        scale_pass_dtype (str, optional): Run the backbone and neck, and the recognition
            encoder (convs + BiLSTM) of the ``k`` no-grad student passes (step 3) in this
            dtype: one ``torch.autocast`` context for all ``k`` passes; the backbone and neck
            run as a BatchNorm-folded copy whose conv weights are written in this dtype once
            per step (``FoldedFeatureExtractor``, also used in full precision).
            ``'bfloat16'`` (CPUs with AVX512-BF16/AMX, Ampere+ GPUs), ``'float16'`` (GPUs), or
            ``'auto'`` (bfloat16 where the device supports it, else float16 on GPUs and full
            precision on other CPUs). These passes are the bulk of DLD's extra cost and only
            feed the DRS's accuracy signal. None (default): full precision.
        roi_align (dict, optional): Config of the module (``RoIAlignModule``) that maps the
            student's ``F_roi`` to the teacher's shape for L_roi. Built automatically when the
            two recognition heads' RoI sizes or channels differ and this is None. It only feeds
            L_roi.
        init_student_from_teacher (bool): Copy the teacher's weights into the student
            (paper §4.1), at construction and in :meth:`init_weights` (instead of the student's
            own initialisation). Needs the same architecture.
        teacher_in_state_dict (bool): Save (and load) the teacher's weights in checkpoints,
            under ``teacher.``. Defaults to False.
        data_preprocessor (dict, optional): Defaults to the student's.
        init_cfg (dict, optional): Initialisation config.
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
                 drs_loss: dict = dict(type='DRSLoss', gamma=0.1, loss_weight=1.0),
                 skd_loss: Optional[dict] = dict(type='SKDLoss'),
                 rec_loss_weight: float = 1.0,
                 teacher_beam_width: int = 3,
                 scale_pass_dtype: Optional[str] = None,
                 roi_align: Optional[dict] = None,
                 init_student_from_teacher: bool = True,
                 teacher_in_state_dict: bool = False,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if not isinstance(student, dict) or 'type' not in student:
            raise TypeError('DLDDistiller: `model.student` must be a model config dict with '
                            f'`type`, got {type(student).__name__}')
        if data_preprocessor is None:
            data_preprocessor = student.get('data_preprocessor')
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)

        # ---------------------------------------------------------------- networks
        self.student_desc = f'`model.student` ({describe_model_cfg(student)})'
        self.student = MODELS.build(student)
        self._check_spotter(self.student, '`model.student`')
        teacher_model, self.teacher_desc = build_teacher(teacher, teacher_ckpt)
        self._check_spotter(teacher_model, self.teacher_desc)
        # A plain attribute: not a submodule (see the class docstring).
        object.__setattr__(self, 'teacher', teacher_model)
        self.teacher_ckpt = teacher_ckpt
        self.teacher_in_state_dict = teacher_in_state_dict
        self._check_same_dictionary()

        if selector is not None and fixed_scale is not None:
            raise ValueError('DLDDistiller: set either `model.selector` (DLD / DRS-only) or '
                             '`model.fixed_scale` (SKD-only, selector=None), not both')
        if selector is None:
            if fixed_scale is None or not 0 < float(fixed_scale) <= 1:
                raise ValueError('DLDDistiller: without `model.selector`, `model.fixed_scale` '
                                 f'must be a scale in (0, 1], got {fixed_scale}')
            self.selector = None
            self.scales: Tuple[float, ...] = (float(fixed_scale), )
        else:
            self.selector = MODELS.build(selector)
            self.scales = tuple(float(s) for s in self.selector.scales)

        # ---------------------------------------------------------------- losses
        self.rec_loss_weight = float(rec_loss_weight)
        self._drs_loss_cfg = dict(drs_loss)
        cfg_costs = self._drs_loss_cfg.pop('scale_costs', None)
        scale_costs = scale_costs if scale_costs is not None else cfg_costs
        self._scale_costs = self._check_per_scale(scale_costs, 'scale_costs')
        self._scale_gflops = self._check_per_scale(scale_gflops, 'scale_gflops')
        self._selector_gflops = 0. if self.selector is None else selector_gflops
        self.drs_loss: Optional[nn.Module] = None
        if self.selector is not None and self._scale_costs is not None:
            self.drs_loss = MODELS.build(dict(self._drs_loss_cfg, scale_costs=self._scale_costs))

        self.with_skd = skd_loss is not None and float(skd_loss.get('loss_weight', 1.0)) != 0
        self.skd_loss = MODELS.build(skd_loss) if self.with_skd else None
        if teacher_beam_width < 1:
            raise ValueError(f'DLDDistiller: `teacher_beam_width` must be >= 1, got '
                             f'{teacher_beam_width}')
        self.teacher_beam_width = int(teacher_beam_width)
        if scale_pass_dtype not in (None, 'auto') and not isinstance(
                getattr(torch, str(scale_pass_dtype), None), torch.dtype):
            raise ValueError(f"DLDDistiller: `model.scale_pass_dtype` must be None, 'auto' or "
                             f"a torch dtype name such as 'bfloat16', got {scale_pass_dtype!r}")
        self.scale_pass_dtype = scale_pass_dtype
        self.roi_align = None
        if self.with_skd:
            topk = self.skd_loss.seq_loss.topk
            if topk > self.teacher_beam_width:
                raise ValueError(f'DLDDistiller: `skd_loss.seq_loss.topk`={topk} needs '
                                 f'`teacher_beam_width` >= {topk}, got {teacher_beam_width}')
            self.roi_align = self._build_roi_align(roi_align)

        self.init_student_from_teacher = init_student_from_teacher
        if init_student_from_teacher:
            self._copy_teacher_to_student()

    # ================================================================ construction helpers
    @staticmethod
    def _check_spotter(model: nn.Module, what: str) -> None:
        roi_head = getattr(model, 'roi_head', None)
        if not isinstance(roi_head, StandardRoIHead) or not all(
                hasattr(roi_head, m) for m in ('rec_forward_gt', 'rec_gt_roi_feats')):
            raise TypeError(f'DLDDistiller: {what} must be a two-stage spotter whose RoI head is '
                            f'a StandardRoIHead with a recognition branch (`rec_forward_gt`, '
                            f'`rec_gt_roi_feats`, e.g. SpottingRoIHead); got '
                            f'{type(roi_head).__name__}')

    def _check_same_dictionary(self) -> None:
        student_rec = self.student.roi_head.rec_head
        teacher_rec = self.teacher.roi_head.rec_head
        if list(student_rec.dictionary.dict) != list(teacher_rec.dictionary.dict) or \
                student_rec.max_seq_len != teacher_rec.max_seq_len:
            raise ValueError(
                'DLDDistiller: the student and the teacher must read with the same dictionary '
                'and max_seq_len (L_acc and L_seq compare their per-character distributions); '
                f'teacher {self.teacher_desc} has {teacher_rec.num_classes} classes and '
                f'max_seq_len {teacher_rec.max_seq_len}, the student '
                f'{student_rec.num_classes} and {student_rec.max_seq_len}')

    def _check_per_scale(self, values: Optional[Sequence[float]],
                         key: str) -> Optional[List[float]]:
        if values is None:
            return None
        values = [float(v) for v in values]
        if len(values) != len(self.scales):
            raise ValueError(f'DLDDistiller: `model.{key}` needs one value per candidate scale '
                             f'{list(self.scales)}, got {values}')
        return values

    def _build_roi_align(self, cfg: Optional[dict]) -> Optional[nn.Module]:
        student_rec = self.student.roi_head.rec_head
        teacher_rec = self.teacher.roi_head.rec_head
        if cfg is not None:
            return MODELS.build(cfg)
        if (student_rec.in_channels, student_rec.roi_size) == (teacher_rec.in_channels,
                                                               teacher_rec.roi_size):
            return None
        return MODELS.build(
            dict(type='RoIAlignModule', in_channels=student_rec.in_channels,
                 in_size=student_rec.roi_size, out_size=teacher_rec.roi_size,
                 out_channels=teacher_rec.in_channels))

    def _copy_teacher_to_student(self) -> None:
        try:
            self.student.load_state_dict(self.teacher.state_dict(), strict=True)
        except RuntimeError as err:
            raise RuntimeError(
                'DLDDistiller: init_student_from_teacher=True needs a student with the '
                f"teacher's architecture; student {self.student_desc} vs "
                f'teacher {self.teacher_desc}: {err}. Set `model.init_student_from_teacher='
                'False` for a different student.') from err

    # ================================================================ teacher handling
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
        self._copy_teacher_to_student()
        self._is_init = True

    def train(self, mode: bool = True) -> 'DLDDistiller':
        """Sets the mode of the student and the selector; the teacher stays in eval mode."""
        super().train(mode)
        teacher = self.__dict__.get('teacher')
        if teacher is not None:
            teacher.eval()
        return self

    def _apply(self, fn, *args, **kwargs):
        """Moves/casts the (unregistered) teacher together with the model."""
        teacher = self.__dict__.get('teacher')
        if teacher is not None:
            teacher._apply(fn, *args, **kwargs)
        return super()._apply(fn, *args, **kwargs)

    def _save_to_state_dict(self, destination, prefix, keep_vars) -> None:
        super()._save_to_state_dict(destination, prefix, keep_vars)
        if self.teacher_in_state_dict:
            self.teacher.state_dict(
                destination=destination, prefix=prefix + 'teacher.', keep_vars=keep_vars)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs) -> None:
        # Teacher weights in a checkpoint are used only with `teacher_in_state_dict`; otherwise
        # (e.g. a checkpoint of a run that saved them) the teacher comes from `teacher_ckpt`.
        teacher_prefix = prefix + 'teacher.'
        teacher_sd = {
            k[len(teacher_prefix):]: v
            for k, v in state_dict.items() if k.startswith(teacher_prefix)
        }
        if self.teacher_in_state_dict:
            result = self.teacher.load_state_dict(teacher_sd, strict=False)
            missing_keys.extend(teacher_prefix + k for k in result.missing_keys)
            unexpected_keys.extend(teacher_prefix + k for k in result.unexpected_keys)
        others = {k: v for k, v in state_dict.items() if not k.startswith(teacher_prefix)}
        super()._load_from_state_dict(others, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    # ================================================================ costs
    @property
    def costs_ready(self) -> bool:
        """Whether the scale costs and GFLOPs are known (given or measured)."""
        need_costs = self.selector is not None and self._scale_costs is None
        return not need_costs and self._scale_gflops is not None and \
            self._selector_gflops is not None

    @property
    def scale_costs(self) -> Optional[List[float]]:
        """``T_i`` per candidate scale (None until known)."""
        return self._scale_costs

    @property
    def scale_gflops(self) -> Optional[List[float]]:
        """Student GFLOPs per image at each candidate scale (None until known)."""
        return self._scale_gflops

    def gflops_at(self, index: int) -> float:
        """GFLOPs per image of inference at candidate scale ``index``: student plus DRS."""
        return float(self._scale_gflops[index]) + float(self._selector_gflops)

    def _ensure_costs(self, inputs: Tensor, data_samples: SampleList) -> None:
        if self.costs_ready:
            return
        measured: ScaleCosts = measure_costs(
            self.student, self.teacher, self.selector, inputs, data_samples, self.scales,
            self._size_divisor(), self._pad_value())
        if self._scale_costs is None:
            self._scale_costs = measured.relative
        if self._scale_gflops is None:
            self._scale_gflops = measured.gflops
        if self._selector_gflops is None:
            self._selector_gflops = measured.selector_gflops
        print_log(
            f'DLD costs measured on a batch of {inputs.size(0)} images: scales '
            f'{list(self.scales)}, scale_costs={[round(c, 4) for c in self._scale_costs]}, '
            f'scale_gflops={[round(g, 4) for g in self._scale_gflops]}, selector_gflops='
            f'{self._selector_gflops:.4f} (put them in the config to skip this measurement)',
            logger='current')
        if self.selector is not None and self.drs_loss is None:
            self.drs_loss = MODELS.build(
                dict(self._drs_loss_cfg, scale_costs=self._scale_costs)).to(inputs.device)

    def _size_divisor(self) -> int:
        return int(getattr(self.data_preprocessor, 'pad_size_divisor', 1) or 1)

    def _pad_value(self) -> float:
        return float(getattr(self.data_preprocessor, 'pad_value', 0))

    def _resize(self, inputs: Tensor, data_samples: Optional[SampleList], scale: float,
                rescale_gt: bool = True) -> Tuple[Tensor, Optional[SampleList]]:
        return resize_batch(inputs, data_samples, scale, size_divisor=self._size_divisor(),
                            pad_value=self._pad_value(), rescale_gt=rescale_gt)

    # ================================================================ forward
    def forward(self,
                inputs: Tensor,
                data_samples: Optional[SampleList] = None,
                mode: str = 'tensor') -> ForwardResults:
        """MMEngine's entry point: ``'loss'``, ``'predict'`` or ``'tensor'``."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
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
        img_shapes = [s.metainfo['img_shape'][:2] for s in data_samples]
        logits = self.selector(inputs, img_shapes)
        if train:
            h, index = self.selector.sample(logits)
            return logits, h, index
        return logits, None, self.selector.select(logits)

    # ---------------------------------------------------------------- training
    def loss(self, inputs: Tensor, data_samples: SampleList) -> Dict[str, Any]:
        """One DLD training step on a pre-processed batch; see the class docstring.

        Returns:
            dict: MMDetection's ``loss_rpn_cls``, ``loss_rpn_bbox``, ``loss_cls``, ``acc``,
            ``loss_bbox``, ``loss_mask``; ``loss_rec``; ``loss_skd_roi``, ``loss_skd_con``,
            ``loss_skd_seq`` (with SKD); ``loss_drs_acc``, ``loss_drs_flops`` and the logs
            ``drs_cost``, ``drs_avg_scale``, ``drs_tau`` (with the DRS).
        """
        self._ensure_costs(inputs, data_samples)
        gts = [s.gt_instances for s in data_samples]
        teacher_out = self._teacher_forward(inputs, gts)
        losses: Dict[str, Any] = {}
        _, h, index = self._choose(inputs, data_samples, train=True)
        if self.selector is not None:
            student_log_probs = self._student_scale_log_probs(inputs, data_samples,
                                                              teacher_out['targets'])
            img_inds = torch.repeat_interleave(
                torch.arange(len(gts), device=inputs.device),
                torch.as_tensor(teacher_out['num_per_img'], device=inputs.device))
            losses.update(
                self.drs_loss(h, student_log_probs, teacher_out['step_log_probs'],
                              teacher_out['valid'], img_inds))
            chosen = torch.as_tensor(self.scales, device=inputs.device)[index]
            losses['drs_avg_scale'] = chosen.mean()
            losses['drs_tau'] = inputs.new_tensor(float(self.selector.temperature))
        losses.update(self._student_losses(inputs, data_samples, index, teacher_out))
        return losses

    @torch.no_grad()
    def _teacher_forward(self, inputs: Tensor, gts: list) -> Dict[str, Any]:
        """Step 1: the teacher's recognition outputs on the GT instances (constants)."""
        x = self.teacher.extract_feat(inputs)
        rec_head = self.teacher.roi_head.rec_head
        out = self.teacher.roi_head.rec_forward_gt(x, gts)
        if self.selector is not None:
            out['step_log_probs'] = rec_head.step_log_probs(out['context'], out['targets'])
        if self.with_skd and self.skd_loss.eta2 != 0:
            out['beams'] = rec_head.beam_search(out['context'], self.teacher_beam_width,
                                                self.skd_loss.seq_loss.topk)
        return out

    @torch.no_grad()
    def _student_scale_log_probs(self, inputs: Tensor, data_samples: SampleList,
                                 targets: Tensor) -> Tensor:
        """Step 3: the student's teacher-forced distributions at every scale, ``[k, N, L, C]``.

        One backbone + neck pass of the whole batch per scale (``k`` calls, not ``k * B``),
        then the GT crops of that scale (``RoI-Masking``); the recognition encoder and the
        teacher-forced decoder run once, on all ``k * N`` crops. Cropping scale by scale keeps
        each RoIAlign buffer ``k`` times smaller than one crop of all ``k * N`` instances from
        padded, stacked feature maps: on CPU, filling those large fresh buffers cost more than
        the arithmetic (page faults on first touch). The student is in eval mode here, so the
        DRS learns from what the student would read at test time, and these passes leave its
        BatchNorm statistics alone.
        """
        student = self.student
        roi_head = student.roi_head
        was_training = student.training
        student.eval()
        try:
            # Only the levels that the recognition branch crops from are kept.
            num_levels = getattr(roi_head.rec_roi_extractor, 'num_inputs', None)
            with self._scale_pass_precision(inputs.device, num_levels) as extract_feat:
                roi_feats = []
                for scale in self.scales:
                    scaled, samples = self._resize(inputs, data_samples, scale)
                    feats, _ = roi_head.rec_gt_roi_feats(extract_feat(scaled),
                                                         [s.gt_instances for s in samples])
                    roi_feats.append(feats)
                # The recognition encoder on k x N crops (six 3 x 3 convs per crop) costs
                # as much as the k backbone passes, so it runs in low precision too.
                context = roi_head.rec_head.extract_context(torch.cat(roi_feats)).float()
            # The teacher-forced decoder runs on the float32 F_con, outside autocast, so the
            # distributions of L_acc are normalised in full precision.
            k, (num, length) = len(self.scales), targets.shape
            rec_head = roi_head.rec_head
            log_probs = rec_head.step_log_probs(context, targets.repeat(k, 1))
        finally:
            student.train(was_training)
        return log_probs.view(k, num, length, rec_head.num_classes)

    @contextlib.contextmanager
    def _scale_pass_precision(self, device: torch.device,
                              num_levels: Optional[int] = None) -> Iterator[Callable]:
        """One context for all ``k`` no-grad passes, in ``scale_pass_dtype``.

        Yields the backbone + neck function of the passes (first ``num_levels`` levels, all
        when None; float32 maps): a ``FoldedFeatureExtractor``, a copy of the student's
        backbone and neck with BatchNorm folded into the convs (the passes run in eval mode)
        and the conv weights in the passes' dtype and channels-last layout, refreshed in
        place once per step. In low precision everything runs under a single
        ``torch.autocast``, whose cache casts each recognition weight once per step rather
        than once per scale. Autocast on the student's own modules would re-cast and
        re-layout every backbone weight at every call and still run every BatchNorm: a third
        of the passes on CPU.
        """
        dtype = _autocast_dtype(self.scale_pass_dtype, device)
        precision = contextlib.nullcontext() if dtype is None else torch.autocast(
            device_type=device.type, dtype=dtype)
        with precision:
            if type(self.student).extract_feat is not TwoStageDetector.extract_feat:
                # A spotter with its own `extract_feat` runs its own modules.
                yield lambda inputs: self.student.extract_feat(inputs)[:num_levels]
                return
            dtype = dtype or torch.float32
            extractor = self.__dict__.get('_folded_features')
            if extractor is None or not extractor.is_current(self.student, dtype) or \
                    extractor.num_levels != num_levels:
                # Its float32 self-check runs outside autocast.
                with torch.autocast(device_type=device.type, enabled=False):
                    extractor = FoldedFeatureExtractor(self.student, dtype, num_levels)
                # A plain attribute, not a submodule: not in checkpoints, DDP or parameters.
                self.__dict__['_folded_features'] = extractor
                print_log(
                    f'DLD scale passes: backbone + neck copy in {dtype}, '
                    f'{len(extractor.folded_pairs)} of {extractor.num_batchnorms} BatchNorm '
                    'layers folded into their convs', logger='current',
                    level=logging.INFO if len(extractor.folded_pairs) ==
                    extractor.num_batchnorms else logging.WARNING)
            extractor.refresh()
            yield extractor

    def _student_losses(self, inputs: Tensor, data_samples: SampleList, index: Tensor,
                        teacher_out: Dict[str, Any]) -> Dict[str, Any]:
        """Step 4: detection, recognition and SKD losses of the student at the chosen scales."""
        num_imgs = inputs.size(0)
        group_losses, weights, roi_feats, contexts, orders = [], [], [], [], []
        for j, imgs in group_by_index(index):
            sel = torch.as_tensor(imgs, device=inputs.device)
            scaled, samples = self._resize(inputs.index_select(0, sel),
                                           [data_samples[i] for i in imgs], self.scales[j])
            x = self.student.extract_feat(scaled)
            group_losses.append(self._det_losses(x, samples))
            weights.append(len(imgs) / num_imgs)
            rec = self.student.roi_head.rec_forward_gt(x, [s.gt_instances for s in samples])
            expected = [teacher_out['num_per_img'][i] for i in imgs]
            if list(rec['num_per_img']) != expected:
                raise RuntimeError(f'DLDDistiller: the student read {rec["num_per_img"]} GT '
                                   f'instances in images {imgs} at scale {self.scales[j]}, the '
                                   f'teacher {expected}')
            roi_feats.append(rec['roi_feats'])
            contexts.append(rec['context'])
            orders.append(instance_indices(teacher_out['num_per_img'], imgs, inputs.device))
        losses = merge_group_losses(group_losses, weights)
        # Instances in group order; the teacher's tensors are reordered to match.
        order = torch.cat(orders)
        s_roi, s_con = torch.cat(roi_feats), torch.cat(contexts)
        targets, valid = teacher_out['targets'][order], teacher_out['valid'][order]
        losses['loss_rec'] = self._rec_loss(s_roi, s_con, targets, valid)
        rec_head = self.student.roi_head.rec_head
        if getattr(rec_head, 'aux_ctc_fc', None) is not None:
            # The student's recogniser trains as its config says: with its auxiliary CTC
            # classifier when it has one (a training aid, off in the paper's configs).
            losses['loss_rec_ctc'] = self.rec_loss_weight * rec_head.aux_ctc_loss(
                s_con, targets, valid)
        if self.with_skd:
            losses.update(self._skd_losses(s_roi, s_con, teacher_out, order))
        return losses

    def _det_losses(self, x: Tuple[Tensor], samples: SampleList) -> Dict[str, Any]:
        """RPN, box and mask losses, as ``TwoStageDetector.loss`` computes them.

        The recognition loss is left out (``StandardRoIHead.loss`` rather than the spotter's
        RoI head ``loss``) because the distiller computes it from the same GT-cropped features
        that the SKD losses use, so the recognition branch runs once per group.
        """
        student = self.student
        proposal_cfg = student.train_cfg.get('rpn_proposal', student.test_cfg.rpn)
        rpn_samples = copy.deepcopy(samples)
        for sample in rpn_samples:
            sample.gt_instances.labels = torch.zeros_like(sample.gt_instances.labels)
        rpn_losses, rpn_results = student.rpn_head.loss_and_predict(
            x, rpn_samples, proposal_cfg=proposal_cfg)
        losses = {(f'rpn_{k}' if 'loss' in k and 'rpn' not in k else k): v
                  for k, v in rpn_losses.items()}
        losses.update(StandardRoIHead.loss(student.roi_head, x, rpn_results, samples))
        return losses

    def _rec_loss(self, roi_feats: Tensor, context: Tensor, targets: Tensor,
                  valid: Tensor) -> Tensor:
        """``lambda_1 * loss_rec`` of the student on all GT instances of the batch."""
        rec_head = self.student.roi_head.rec_head
        if targets.size(0) == 0:
            # Keep the recognition branch in the graph (DDP expects every parameter used).
            zero = sum(p.sum() for p in rec_head.parameters()) * 0. + roi_feats.sum() * 0.
            return zero
        logits = rec_head.forward_train(context, targets)
        return self.rec_loss_weight * rec_head.loss_from_logits(logits, targets, valid)

    def _skd_losses(self, s_roi: Tensor, s_con: Tensor, teacher_out: Dict[str, Any],
                    order: Tensor) -> Dict[str, Tensor]:
        """``loss_skd_roi``, ``loss_skd_con``, ``loss_skd_seq`` (eq. 7-10)."""
        rec_head = self.student.roi_head.rec_head
        topk = self.skd_loss.seq_loss.topk
        num = s_con.size(0)
        if self.roi_align is not None:
            s_roi = self.roi_align(s_roi)
        if 'beams' in teacher_out and num > 0:
            beams = teacher_out['beams']
            indices = beams['indices'][order]  # [N, K, T]
            steps = indices.size(-1)
            valid = torch.arange(steps, device=indices.device) < beams['lengths'][order, :, None]
            seq_lp = rec_head.sequence_log_prob(
                s_con.repeat_interleave(topk, dim=0), indices.reshape(num * topk, steps),
                valid.reshape(num * topk, steps)).view(num, topk)
            seq_valid = torch.isfinite(beams['log_probs'][order])
        else:
            # eta2 = 0 (or no instance): the term is zero, skip the beam search.
            seq_lp = s_con.new_zeros(num, topk)
            seq_valid = None
        return self.skd_loss(s_roi, teacher_out['roi_feats'][order], s_con,
                             teacher_out['context'][order], seq_lp, seq_valid)

    # ---------------------------------------------------------------- inference
    def predict(self, inputs: Tensor, data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """Spots the text of each image at the scale the DRS picks for it.

        Args:
            inputs (Tensor): Pre-processed batch at the teacher's resolution.
            data_samples (list[DetDataSample]): Its samples (metainfo; GT in the original
                frame, as test pipelines load it).
            rescale (bool): Results in the original image frame (True) or in the student's
                resized input frame.

        Returns:
            list[DetDataSample]: ``data_samples`` with ``pred_instances`` and the metainfo
            ``dld_scale`` and ``dld_gflops`` added.
        """
        self._ensure_costs(inputs, data_samples)
        _, _, index = self._choose(inputs, data_samples, train=False)
        for j, imgs in group_by_index(index):
            sel = torch.as_tensor(imgs, device=inputs.device)
            # Test annotations stay in the original frame: only the metainfo is rescaled.
            scaled, samples = self._resize(inputs.index_select(0, sel),
                                           [data_samples[i] for i in imgs], self.scales[j],
                                           rescale_gt=False)
            preds = self.student.predict(scaled, samples, rescale=rescale)
            for i, pred in zip(imgs, preds):
                out = data_samples[i]
                out.pred_instances = pred.pred_instances
                # Metainfo the student added (e.g. `pred_gt_texts`), not the resized shapes.
                out.set_metainfo({
                    k: v
                    for k, v in pred.metainfo.items() if k not in out.metainfo
                })
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
            outputs.extend(_flatten(self.student._forward(scaled, samples)))
        return tuple(outputs)


def _autocast_dtype(name: Optional[str], device: torch.device) -> Optional[torch.dtype]:
    """The autocast dtype for ``scale_pass_dtype`` on ``device`` (None: full precision)."""
    if name is None:
        return None
    if name != 'auto':
        return getattr(torch, name)
    if device.type == 'cuda':
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == 'cpu':
        try:
            # Fast bfloat16 convolutions need AVX512-BF16 or AMX; elsewhere they are slower.
            supported = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            supported = False
        return torch.bfloat16 if supported else None
    return None


def _flatten(obj: Any) -> List[Tensor]:
    if isinstance(obj, Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for item in obj for t in _flatten(item)]
    if isinstance(obj, dict):
        return [t for item in obj.values() for t in _flatten(item)]
    return []
