"""Dynamic Resolution Selector (DRS), paper §3.3 and eq. 5-6."""
import math
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmdet.models.backbones.resnet import BasicBlock
from mmdet.models.layers import ResLayer
from mmengine.model import BaseModule
from torch import Tensor

from mmdld.registry import MODELS
from .budget_offset import choose_with_offset

DEFAULT_SCALES = (0.8, 0.7, 0.6, 0.5, 0.4, 0.3)


@MODELS.register_module()
class DynamicResolutionSelector(BaseModule):
    """Predicts, per image, which of ``k`` candidate down-sampling scales the student should use.

    The paper's DRS is "a lightweight residual network composed of 10 convolution layers, a
    global average pooling layer and a fully connected layer". With the default
    ``channels=(16, 32, 64, 128)`` it is: a 3x3 stride-2 stem conv and a max-pool, then three
    MMDetection ``BasicBlock`` residual layers of stride 2 (two 3x3 convs and a 1x1 projection
    shortcut each), i.e. ``1 + 3 * 3 = 10`` convolutions, then GAP and an FC layer to ``k``
    logits.

    Ours, from MMDetection's ``ResLayer``/``BasicBlock``: its smallest ``ResNet`` is far heavier.

    The network sees a cheap fixed-size copy of the (normalised, padded) batch: each image's valid
    region (``img_shapes``) is cropped out of the padding and resized to ``input_size`` with
    ``F.interpolate``, so the decision does not depend on how much padding a batch happens to add.

    Training draws a hard decision with the straight-through Gumbel-softmax (:meth:`sample`,
    eq. 5-6) at the temperature in :attr:`temperature`, which
    :class:`~mmdld.engine.hooks.GumbelTemperatureHook` decays per epoch. Inference uses the
    deterministic :meth:`select` (argmax of the logits, no noise); with a ``cost_offset``
    ``b`` (a test-time budget, ``docs/budget.md``) the argmax of ``logits - b * offset_costs``.

    Args:
        scales (Sequence[float]): Candidate scale factors ``s_1..s_k`` relative to the teacher's
            resolution, in the order of the output logits. Defaults to the paper's
            ``(0.8, 0.7, 0.6, 0.5, 0.4, 0.3)``.
        in_channels (int): Channels of the input images. Defaults to 3.
        channels (Sequence[int]): Width of the stem followed by the width of each residual
            layer (each layer halves the resolution). Defaults to ``(16, 32, 64, 128)``.
        input_size (Tuple[int, int]): ``(h, w)`` the images are resized to before the network.
            Defaults to ``(224, 224)``.
        antialias (bool): Anti-alias when down-sampling the input (a large image shrunk to 224
            otherwise aliases badly). Defaults to True.
        temperature (float): Initial Gumbel-softmax temperature ``tau``. Defaults to 5.0
            (the paper's ``tau_init``).
        norm_cfg (dict): Normalisation layers. Defaults to ``dict(type='BN')``.
        cost_offset (float): Test-time offset ``b`` of :meth:`select`, found for a budget by
            ``tools/analysis_tools/calibrate_drs_budget.py``. Defaults to 0 (the trained
            choice). Training (:meth:`sample`) never uses it.
        offset_costs (Sequence[float], optional): The per-scale costs ``b`` multiplies (the
            table it was calibrated with: ``T_i``, GFLOPs or ms). Needed when ``cost_offset``
            is not 0.
        init_cfg (dict or list[dict], optional): Initialisation. By default convolutions are
            Kaiming-initialised and the FC layer starts with small weights so that the initial
            decisions are close to uniform (every scale gets explored early on).
    """

    def __init__(self,
                 scales: Sequence[float] = DEFAULT_SCALES,
                 in_channels: int = 3,
                 channels: Sequence[int] = (16, 32, 64, 128),
                 input_size: Tuple[int, int] = (224, 224),
                 antialias: bool = True,
                 temperature: float = 5.0,
                 norm_cfg: dict = dict(type='BN'),
                 cost_offset: float = 0.,
                 offset_costs: Optional[Sequence[float]] = None,
                 init_cfg: Optional[List[dict]] = None) -> None:
        if init_cfg is None:
            init_cfg = [
                dict(type='Kaiming', layer='Conv2d'),
                dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm']),
                dict(type='Normal', std=0.01, bias=0, layer='Linear'),
            ]
        super().__init__(init_cfg=init_cfg)
        scales = tuple(float(s) for s in scales)
        if len(scales) < 2:
            raise ValueError(f'DynamicResolutionSelector: `scales` needs at least 2 '
                             f'candidates, got {scales}')
        if any(not 0 < s <= 1 for s in scales):
            raise ValueError(f'DynamicResolutionSelector: every scale in `scales` must be in '
                             f'(0, 1], got {scales}')
        if len(channels) < 2:
            raise ValueError(f'DynamicResolutionSelector: `channels` needs a stem width and at '
                             f'least one residual layer width, got {tuple(channels)}')
        if len(input_size) != 2 or min(input_size) < 1:
            raise ValueError(f'DynamicResolutionSelector: `input_size` must be (h, w) with '
                             f'positive sizes, got {input_size}')
        if temperature <= 0:
            raise ValueError(f'DynamicResolutionSelector: `temperature` must be > 0, got '
                             f'{temperature}')
        self.scales = scales
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.antialias = antialias
        self.temperature = float(temperature)
        self.cost_offset = 0.
        self.offset_costs: Optional[Tuple[float, ...]] = None
        self.set_cost_offset(cost_offset, offset_costs)

        self.stem = nn.Sequential(
            ConvModule(in_channels, channels[0], 3, stride=2, padding=1, norm_cfg=norm_cfg),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        layers = []
        for inplanes, planes in zip(channels[:-1], channels[1:]):
            layers.append(
                ResLayer(BasicBlock, inplanes, planes, num_blocks=1, stride=2,
                         norm_cfg=norm_cfg))
        self.layers = nn.Sequential(*layers)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels[-1], len(scales))

    @property
    def num_scales(self) -> int:
        """int: The number ``k`` of candidate scales."""
        return len(self.scales)

    def resize_inputs(self,
                      inputs: Tensor,
                      img_shapes: Optional[Sequence[Tuple[int, int]]] = None) -> Tensor:
        """Makes the fixed-size copy of the batch that the network sees.

        Args:
            inputs (Tensor): Normalised batch ``[B, C, H, W]`` (possibly padded).
            img_shapes (Sequence[Tuple[int, int]], optional): ``(h, w)`` of the valid region of
                each image (its ``img_shape`` metainfo). If None the whole tensor is used.

        Returns:
            Tensor: ``[B, C, *input_size]``.
        """
        if inputs.dim() != 4:
            raise ValueError(f'DynamicResolutionSelector expects inputs of shape [B, C, H, W], '
                             f'got {tuple(inputs.shape)}')
        if img_shapes is None:
            return self._resize(inputs)
        if len(img_shapes) != inputs.size(0):
            raise ValueError(f'DynamicResolutionSelector: got {len(img_shapes)} img_shapes '
                             f'for a batch of {inputs.size(0)} images')
        crops = []
        for i, shape in enumerate(img_shapes):
            h, w = int(shape[0]), int(shape[1])
            if not (0 < h <= inputs.size(2) and 0 < w <= inputs.size(3)):
                raise ValueError(f'DynamicResolutionSelector: img_shapes[{i}]={tuple(shape)} '
                                 f'does not fit in the batch of size '
                                 f'{tuple(inputs.shape[2:])}')
            crops.append(self._resize(inputs[i:i + 1, :, :h, :w]))
        return torch.cat(crops, dim=0)

    def _resize(self, x: Tensor) -> Tensor:
        if tuple(x.shape[2:]) == self.input_size:
            return x
        return F.interpolate(
            x, size=self.input_size, mode='bilinear', align_corners=False,
            antialias=self.antialias)

    def forward(self,
                inputs: Tensor,
                img_shapes: Optional[Sequence[Tuple[int, int]]] = None) -> Tensor:
        """Computes the selection logits.

        Args:
            inputs (Tensor): Normalised batch ``[B, C, H, W]``.
            img_shapes (Sequence[Tuple[int, int]], optional): Valid ``(h, w)`` per image, see
                :meth:`resize_inputs`.

        Returns:
            Tensor: Logits ``[B, k]``; ``softmax`` of them is the paper's ``p``.
        """
        x = self.resize_inputs(inputs, img_shapes)
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(self.gap(x), 1))

    def sample(self,
               logits: Tensor,
               tau: Optional[float] = None,
               generator: Optional[torch.Generator] = None) -> Tuple[Tensor, Tensor]:
        """Draws a hard training decision with the straight-through Gumbel-softmax.

        Forward: ``h`` is the one-hot ``argmax(log p + g)`` of eq. 5. Backward: the gradient is
        that of the relaxed ``softmax((log p + g) / tau)`` of eq. 6 (``h = hard - soft.detach()
        + soft``). ``log p`` is ``log_softmax(logits)``; it differs from ``logits`` by a per-row
        constant, which changes neither the argmax nor the softmax, so the logits are used as
        they are.

        Ours because ``F.gumbel_softmax(hard=True)``, the same maths, takes no ``torch.Generator``.

        Args:
            logits (Tensor): ``[B, k]`` from :meth:`forward`.
            tau (float, optional): Temperature; defaults to :attr:`temperature`.
            generator (torch.Generator, optional): Source of the uniform noise ``u`` (it may
                live on another device than ``logits``). Defaults to the global RNG.

        Returns:
            Tuple[Tensor, Tensor]: ``h`` ``[B, k]`` (one-hot values, differentiable) and the
            chosen index ``[B]`` (long).
        """
        self._check_logits(logits)
        tau = self.temperature if tau is None else float(tau)
        if tau <= 0:
            raise ValueError(f'DynamicResolutionSelector.sample: tau must be > 0, got {tau}')
        if generator is None:
            u = torch.rand(logits.shape, device=logits.device, dtype=logits.dtype)
        else:
            u = torch.rand(logits.shape, generator=generator, device=generator.device,
                           dtype=logits.dtype).to(logits.device)
        # Keep u inside (0, 1): u == 0 would give an infinite Gumbel sample.
        tiny = torch.finfo(logits.dtype).tiny
        u = u.clamp(min=tiny, max=1.0 - torch.finfo(logits.dtype).eps)
        gumbel = -torch.log(-torch.log(u))
        soft = F.softmax((logits + gumbel) / tau, dim=-1)
        index = soft.argmax(dim=-1)
        hard = F.one_hot(index, self.num_scales).to(soft.dtype)
        return hard - soft.detach() + soft, index

    def select(self, logits: Tensor) -> Tensor:
        """Deterministic inference decision: ``argmax`` of the logits, no Gumbel noise.

        With a :attr:`cost_offset` ``b``: ``argmax(logits - b * offset_costs)``.

        Args:
            logits (Tensor): ``[B, k]``.

        Returns:
            Tensor: Chosen indices ``[B]`` (long).
        """
        self._check_logits(logits)
        if self.cost_offset == 0:
            return logits.argmax(dim=-1)
        return choose_with_offset(logits, self.offset_costs, self.cost_offset)

    def set_cost_offset(self, offset: float,
                        costs: Optional[Sequence[float]] = None) -> None:
        """Sets the test-time offset of :meth:`select` and the costs it multiplies.

        Args:
            offset (float): The offset ``b``; 0 restores the trained choice.
            costs (Sequence[float], optional): One cost per scale, >= 0; needed unless
                ``offset`` is 0.
        """
        name = type(self).__name__
        offset = float(offset)
        if not math.isfinite(offset):
            raise ValueError(f'{name}: `cost_offset` must be finite, got {offset}')
        if costs is not None:
            costs = tuple(float(c) for c in costs)
            if len(costs) != self.num_scales or any(
                    not (math.isfinite(c) and c >= 0) for c in costs):
                raise ValueError(f'{name}: `offset_costs` needs one finite cost >= 0 per '
                                 f'scale in {self.scales}, got {list(costs)}')
        elif offset != 0:
            raise ValueError(f'{name}: `cost_offset` {offset:g} needs `offset_costs`, the '
                             'per-scale costs it was calibrated with')
        self.cost_offset = offset
        self.offset_costs = costs

    def _check_logits(self, logits: Tensor) -> None:
        if logits.dim() != 2 or logits.size(1) != self.num_scales:
            raise ValueError(f'DynamicResolutionSelector: logits must be [B, {self.num_scales}] '
                             f'(one per scale in {self.scales}), got {tuple(logits.shape)}')
