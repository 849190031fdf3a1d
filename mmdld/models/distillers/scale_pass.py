"""DLD's ``k`` no-grad scale passes: per-scale log-probabilities on a folded, low-precision copy.

DLD runs the student without gradients at every candidate scale on every step (the accuracy
signal of the DRS, eq. 2). In eval mode each BatchNorm is a fixed per-channel affine map, so it
can be folded into the convolution before it; and the passes can run in bfloat16/float16. On
the student's own modules, ``torch.autocast`` would re-cast and re-lay out every conv weight at
every call and every BatchNorm would still run (``docs/dld.md`` has the measured shares).

Ours because PyTorch's conv-BN fusion (``torch.nn.utils.fusion``) does not follow changing weights.
"""
import contextlib
import copy
import logging
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmdet.structures import SampleList
from mmengine.logging import print_log
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd

from mmdld.models.spotters import DistillableSpotter

ResizeFn = Callable[[Tensor, SampleList, float], Tuple[Tensor, SampleList]]

#: Relative tolerance of the check that the folded copy computes the student's features.
_FOLD_CHECK_RTOL = 1e-3


class FoldedFeatureExtractor:
    """A spotter's feature network, BatchNorm folded into convs, in ``dtype``.

    The copy is built once; :meth:`refresh` writes the network's current weights into it
    (folded and cast, into the same buffers every step, so the copies do not allocate).
    Folded pairs follow the OpenMMLab conventions in which a conv's output feeds only the
    BatchNorm after it: ``conv{i}``/``norm{i}_name`` of MMDetection's ResNet
    family and their blocks, ``conv``/``norm_name`` of MMCV's ``ConvModule`` when the norm comes
    right after the conv, and a conv followed by a BatchNorm in an ``nn.Sequential`` (the
    residual downsampling). Other layers are copied unchanged and refreshed every step too. At
    construction the folded copy, in float32, must reproduce the network's eval-mode features
    on a probe input; if it does not (a module outside these conventions), nothing is folded.

    The copy is held by the caller as a plain attribute: it is not a submodule, so it is not
    in ``parameters()``, checkpoints or DDP.

    Args:
        source (nn.Module): The feature network (``DistillableSpotter.feature_network``):
            images in, a tuple of feature maps out.
        dtype (torch.dtype): Dtype of the conv weights of the copy (e.g. ``torch.bfloat16``).
        num_levels (int, optional): Feature levels returned (the first ones); all when None.
    """

    def __init__(self, source: nn.Module, dtype: torch.dtype,
                 num_levels: Optional[int] = None) -> None:
        self.dtype = dtype
        self.num_levels = num_levels
        self._source_children = list(source.children())
        self.copy = copy.deepcopy(source).eval().requires_grad_(False)
        #: (conv, BatchNorm) names folded in the copy.
        self.folded_pairs: List[Tuple[str, str]] = _conv_bn_pairs(source)
        self._fold(self.folded_pairs)
        if self.folded_pairs and not self._folding_is_exact(source):
            self.copy = copy.deepcopy(source).eval().requires_grad_(False)
            self.folded_pairs = []
        #: BatchNorm layers of the backbone and neck (folded or not).
        self.num_batchnorms = sum(isinstance(m, _BatchNorm) for m in source.modules())
        self._link(source)
        self._scratch = torch.empty(
            max([conv.weight.numel() for _, conv, bn in self._conv_links if bn is not None],
                default=0),
            device=self.device)
        # The conv weights become low-precision, channels-last buffers (oneDNN's fast layout),
        # refreshed in place.
        for conv in _convs(self.copy):
            layout = torch.channels_last if conv.weight.dim() == 4 else torch.preserve_format
            conv.weight.data = conv.weight.data.to(dtype).contiguous(memory_format=layout)
            if conv.bias is not None:
                conv.bias.data = conv.bias.data.to(dtype)

    @property
    def device(self) -> torch.device:
        """Device of the copy's weights."""
        return next(self.copy.parameters()).device

    def is_current(self, source: nn.Module, dtype: torch.dtype,
                   num_levels: Optional[int]) -> bool:
        """Whether this copy still fits ``source`` (same modules, device, dtype and levels)."""
        children = list(source.children())
        return (len(children) == len(self._source_children)
                and all(a is b for a, b in zip(children, self._source_children))
                and dtype == self.dtype and num_levels == self.num_levels
                and self.device == next(source.parameters()).device)

    @torch.no_grad()
    def refresh(self) -> None:
        """Copies the network's current weights into the copy (folded, cast, in place)."""
        for dst, conv, bn in self._conv_links:
            if bn is None:
                dst.weight.copy_(conv.weight)
                if dst.bias is not None:
                    dst.bias.copy_(conv.bias)
                continue
            scale, shift = _bn_affine(bn, conv.bias)
            # The float32 product goes through one reused buffer (fresh weight-sized
            # temporaries cost more in page faults than the multiplication), laid out like
            # the destination, so that the cast to it is a contiguous copy.
            folded = _like(self._scratch, dst.weight)
            _scale_out_channels(conv.weight, scale, out=folded)
            dst.weight.copy_(folded)
            dst.bias.copy_(shift)
        for dst, module, attr in self._tensor_links:
            # Looked up now: `Module._apply` (`.to()`...) replaces buffers by new tensors.
            dst.copy_(getattr(module, attr))

    def __call__(self, inputs: Tensor) -> Tuple[Tensor, ...]:
        """The features of ``inputs`` (float32 maps), first ``num_levels`` levels.

        Run it under ``torch.autocast`` with the copy's dtype: the inputs are cast for the
        convs and the other layers run as autocast says. The maps stay channels-last, the
        layout the RoI-Masking crops read fastest on CPU.
        """
        feats = self.copy(inputs.contiguous(memory_format=torch.channels_last))
        return tuple(f.float() for f in feats[:self.num_levels])

    # ------------------------------------------------------------------ construction
    def _fold(self, pairs: List[Tuple[str, str]]) -> None:
        """Replaces each paired BatchNorm of the copy by identity and gives its conv a bias."""
        modules = dict(self.copy.named_modules())
        for conv_name, bn_name in pairs:
            conv, bn = modules[conv_name], modules[bn_name]
            scale, shift = _bn_affine(bn, conv.bias)
            conv.weight.data = _scale_out_channels(conv.weight.data, scale)
            conv.bias = nn.Parameter(shift, requires_grad=False)
            parent_name, _, child = bn_name.rpartition('.')
            parent = modules[parent_name] if parent_name else self.copy
            parent._modules[child] = nn.Identity()

    @torch.no_grad()
    def _folding_is_exact(self, source: nn.Module) -> bool:
        probe = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
        probe = probe.to(self.device)
        modes = [(m, m.training) for m in source.modules()]
        source.eval()
        try:
            expected, got = source(probe), self.copy(probe)
        finally:
            for module, training in modes:
                module.training = training
        return all(
            torch.allclose(g, e, rtol=_FOLD_CHECK_RTOL, atol=_FOLD_CHECK_RTOL * e.abs().max())
            for g, e in zip(got, expected))

    def _link(self, source: nn.Module) -> None:
        """Where :meth:`refresh` reads each tensor of the copy from.

        ``_conv_links``: (conv of the copy, source conv, source BatchNorm folded into it or
        None). ``_tensor_links``: (other parameter or buffer of the copy, source module,
        attribute name), e.g. the statistics of an unfolded norm.
        """
        src_modules = dict(source.named_modules())
        folded = dict(self.folded_pairs)
        self._conv_links, self._tensor_links, conv_names = [], [], set()
        for name, module in self.copy.named_modules():
            if isinstance(module, _ConvNd):
                bn = src_modules[folded[name]] if name in folded else None
                self._conv_links.append((module, src_modules[name], bn))
                conv_names.add(name)
        for name, dst in list(self.copy.named_parameters()) + list(self.copy.named_buffers()):
            owner, _, attr = name.rpartition('.')
            if owner not in conv_names:
                self._tensor_links.append((dst, src_modules[owner], attr))


class ScalePassProbe:
    """Step 3 of DLD: the student's teacher-forced distributions at every candidate scale.

    One feature pass of the whole batch per scale (``k`` calls, not ``k * B``), then the GT
    crops of that scale; the recognition encoder and the teacher-forced decoder run once, on
    all ``k * N`` crops. Cropping scale by scale keeps each crop buffer ``k`` times smaller
    than one crop of all ``k * N`` instances from padded, stacked feature maps (large fresh
    buffers cost more in page faults than the arithmetic on CPU). The student runs in eval
    mode, so the DRS learns from what the student would read at test time, and these passes
    leave its BatchNorm statistics alone.

    Feature passes run on a :class:`FoldedFeatureExtractor` of the spotter's
    ``feature_network()`` (built on first use, refreshed every call; a plain attribute, not in
    checkpoints, DDP or ``parameters()``), or on its ``extract_feat`` when it has none. In low
    precision everything but the decoder runs under a single ``torch.autocast``, whose cache
    casts each recognition weight once per call rather than once per scale.

    Args:
        dtype (str, optional): ``scale_pass_dtype`` of ``DLDDistiller``: a torch dtype name
            (``'bfloat16'``, ``'float16'``), ``'auto'`` (bfloat16 where the device is fast at
            it, else float16 on GPUs and full precision on other CPUs) or None (float32).
    """

    def __init__(self, dtype: Optional[str] = None) -> None:
        if dtype not in (None, 'auto') and not isinstance(getattr(torch, str(dtype), None),
                                                          torch.dtype):
            raise ValueError(f"DLDDistiller: `model.scale_pass_dtype` must be None, 'auto' or "
                             f"a torch dtype name such as 'bfloat16', got {dtype!r}")
        self.dtype_name = dtype
        self.extractor: Optional[FoldedFeatureExtractor] = None

    @torch.no_grad()
    def __call__(self, spotter: DistillableSpotter, inputs: Tensor, data_samples: SampleList,
                 scales: Sequence[float], targets: Tensor, resize: ResizeFn) -> Tensor:
        """``[k, N, L, C]`` log-probabilities of ``targets`` ``[N, L]`` at the ``k`` scales.

        Args:
            spotter (DistillableSpotter): The student.
            inputs (Tensor): The pre-processed high-resolution batch.
            data_samples (list[DetDataSample]): Its samples (GT in the frame of ``inputs``).
            scales (Sequence[float]): The candidate scales.
            targets (Tensor): The GT words of the batch's instances (the teacher's).
            resize (callable): ``(inputs, samples, scale) -> (inputs, samples)`` at a scale.
        """
        was_training = spotter.training
        spotter.eval()
        try:
            levels = spotter.recognition_spec.feature_levels
            with self._precision(spotter, inputs.device, levels) as extract_feat:
                roi_feats = []
                for scale in scales:
                    scaled, samples = resize(inputs, data_samples, scale)
                    feats, _ = spotter.gt_roi_feats(extract_feat(scaled),
                                                    [s.gt_instances for s in samples])
                    roi_feats.append(feats)
                context = spotter.encode_context(torch.cat(roi_feats)).float()
            # The decoder runs on the float32 F_con outside autocast, so the distributions of
            # L_acc are normalised in full precision.
            k, (num, length) = len(scales), targets.shape
            log_probs = spotter.step_log_probs(context, targets.repeat(k, 1))
        finally:
            spotter.train(was_training)
        return log_probs.view(k, num, length, spotter.recognition_spec.num_classes)

    @contextlib.contextmanager
    def _precision(self, spotter: DistillableSpotter, device: torch.device,
                   levels: Optional[int]) -> Iterator[Callable]:
        """The autocast context of the passes; yields their feature function."""
        dtype = autocast_dtype(self.dtype_name, device)
        precision = contextlib.nullcontext() if dtype is None else torch.autocast(
            device_type=device.type, dtype=dtype)
        with precision:
            network = spotter.feature_network()
            if network is None:
                yield lambda inputs: spotter.extract_feat(inputs)[:levels]
                return
            dtype = dtype or torch.float32
            if self.extractor is None or not self.extractor.is_current(network, dtype, levels):
                # Its float32 self-check runs outside autocast.
                with torch.autocast(device_type=device.type, enabled=False):
                    self.extractor = FoldedFeatureExtractor(network, dtype, levels)
                folded, total = len(self.extractor.folded_pairs), self.extractor.num_batchnorms
                print_log(
                    f'DLD scale passes: feature network copy in {dtype}, {folded} of {total} '
                    'BatchNorm layers folded into their convs', logger='current',
                    level=logging.INFO if folded == total else logging.WARNING)
            self.extractor.refresh()
            yield self.extractor


def autocast_dtype(name: Optional[str], device: torch.device) -> Optional[torch.dtype]:
    """The autocast dtype for ``scale_pass_dtype`` ``name`` on ``device`` (None: float32)."""
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


def _like(buffer: Tensor, target: Tensor) -> Tensor:
    """A view of the front of a flat ``buffer`` with ``target``'s shape and strides."""
    return buffer[:target.numel()].as_strided(target.shape, target.stride())


def _scale_out_channels(weight: Tensor, scale: Tensor,
                        out: Optional[Tensor] = None) -> Tensor:
    """``weight`` with each output channel multiplied by ``scale`` (into ``out`` if given)."""
    return torch.mul(weight, scale.view(-1, *([1] * (weight.dim() - 1))), out=out)


def _convs(module: nn.Module) -> Iterator[_ConvNd]:
    return (m for m in module.modules() if isinstance(m, _ConvNd))


def _conv_bn_pairs(module: nn.Module) -> List[Tuple[str, str]]:
    """(conv, BatchNorm) module names whose conv output feeds only that BatchNorm."""
    pairs = []
    for name, parent in module.named_modules():
        prefix = f'{name}.' if name else ''
        children = dict(parent.named_children())
        candidates = []
        if isinstance(parent, nn.Sequential):
            names = list(children)
            candidates = list(zip(names, names[1:]))
        else:
            # MMDetection's ResNet family: conv{i} then getattr(self, self.norm{i}_name).
            for i in (1, 2, 3):
                norm_name = getattr(parent, f'norm{i}_name', None)
                if isinstance(norm_name, str):
                    candidates.append((f'conv{i}', norm_name))
            # MMCV's ConvModule: conv, then norm when `order` puts it right after.
            order = getattr(parent, 'order', None)
            norm_name = getattr(parent, 'norm_name', None)
            if (isinstance(norm_name, str) and isinstance(order, tuple) and 'conv' in order
                    and 'norm' in order and order.index('norm') == order.index('conv') + 1):
                candidates.append(('conv', norm_name))
        for conv_name, bn_name in candidates:
            conv, bn = children.get(conv_name), children.get(bn_name)
            if (isinstance(conv, _ConvNd) and isinstance(bn, _BatchNorm)
                    and bn.track_running_stats and bn.running_var is not None
                    and bn.num_features == conv.out_channels and conv.weight.dim() == 4):
                pairs.append((prefix + conv_name, prefix + bn_name))
    return pairs


def _bn_affine(bn: _BatchNorm, conv_bias: Optional[Tensor]) -> Tuple[Tensor, Tensor]:
    """Per-channel ``(scale, shift)`` with ``bn(conv(x)) = scale * conv_nobias(x) + shift``,
    for ``bn`` in eval mode and a conv with bias ``conv_bias`` (or None)."""
    scale = torch.rsqrt(bn.running_var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight
    shift = -bn.running_mean * scale
    if bn.bias is not None:
        shift = shift + bn.bias
    if conv_bias is not None:
        shift = shift + conv_bias * scale
    return scale, shift
