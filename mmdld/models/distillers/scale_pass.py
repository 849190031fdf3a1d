"""A low-precision, BatchNorm-folded copy of a detector's backbone and neck for DLD's k passes.

DLD runs the student without gradients at every candidate scale on every step (the accuracy
signal of the DRS, eq. 2). In eval mode each BatchNorm is a fixed per-channel affine map, so it
can be folded into the convolution before it; and the passes can run in bfloat16/float16. On
the student's own modules, ``torch.autocast`` would re-cast and re-lay out every conv weight at
every call (a third of the passes' time on CPU) and every BatchNorm would still run (a tenth).
PyTorch's conv-BN fusion (``torch.nn.utils.fusion``) builds new modules once; it does not
follow weights that change every step, hence this class.
"""
import copy
from typing import Iterator, List, Optional, Tuple

import torch
import torch.nn as nn
from mmdet.models.detectors import TwoStageDetector
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd

#: Relative tolerance of the check that the folded copy computes the student's features.
_FOLD_CHECK_RTOL = 1e-3


class FoldedFeatureExtractor:
    """``backbone`` + ``neck`` of a detector, BatchNorm folded into convs, in ``dtype``.

    The copy is built once; :meth:`refresh` writes the detector's current weights into it
    (folded and cast, into the same buffers every step, so the copies do not allocate).
    Folded pairs follow the OpenMMLab conventions in which a conv's output feeds only the
    BatchNorm after it: ``conv{i}``/``norm{i}_name`` of MMDetection's ResNet
    family and their blocks, ``conv``/``norm_name`` of MMCV's ``ConvModule`` when the norm comes
    right after the conv, and a conv followed by a BatchNorm in an ``nn.Sequential`` (the
    residual downsampling). Other layers are copied unchanged and refreshed every step too. At
    construction the folded copy, in float32, must reproduce the detector's eval-mode features
    on a probe input; if it does not (a module outside these conventions), nothing is folded.

    The copy is held by the caller as a plain attribute: it is not a submodule, so it is not
    in ``parameters()``, checkpoints or DDP.

    Args:
        detector (TwoStageDetector): The student; it must use ``TwoStageDetector``'s
            ``extract_feat`` (backbone, then neck).
        dtype (torch.dtype): Dtype of the conv weights of the copy (e.g. ``torch.bfloat16``).
        num_levels (int, optional): Feature levels returned (the first ones); all when None.
    """

    def __init__(self, detector: nn.Module, dtype: torch.dtype,
                 num_levels: Optional[int] = None) -> None:
        if type(detector).extract_feat is not TwoStageDetector.extract_feat:
            raise TypeError(f'FoldedFeatureExtractor: {type(detector).__name__} overrides '
                            '`extract_feat`; only backbone-then-neck detectors are supported')
        self.detector = detector
        self.dtype = dtype
        self.num_levels = num_levels
        source = _Features(detector.backbone, detector.neck if detector.with_neck else None)
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

    def is_current(self, detector: nn.Module, dtype: torch.dtype) -> bool:
        """Whether this copy still fits ``detector`` (same modules, device and dtype)."""
        return (detector is self.detector and dtype == self.dtype
                and self.device == next(detector.backbone.parameters()).device)

    @torch.no_grad()
    def refresh(self) -> None:
        """Copies the detector's current weights into the copy (folded, cast, in place)."""
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


class _Features(nn.Module):
    """``TwoStageDetector.extract_feat`` on a backbone and an optional neck."""

    def __init__(self, backbone: nn.Module, neck: Optional[nn.Module]) -> None:
        super().__init__()
        self.backbone = backbone
        self.neck = neck

    def forward(self, inputs: Tensor) -> Tuple[Tensor, ...]:
        x = self.backbone(inputs)
        return tuple(self.neck(x)) if self.neck is not None else tuple(x)


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
            if isinstance(norm_name, str) and isinstance(order, tuple) and \
                    'conv' in order and 'norm' in order and \
                    order.index('norm') == order.index('conv') + 1:
                candidates.append(('conv', norm_name))
        for conv_name, bn_name in candidates:
            conv, bn = children.get(conv_name), children.get(bn_name)
            if isinstance(conv, _ConvNd) and isinstance(bn, _BatchNorm) and \
                    bn.track_running_stats and bn.running_var is not None and \
                    bn.num_features == conv.out_channels and conv.weight.dim() == 4:
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
