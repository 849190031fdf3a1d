"""Student-to-teacher RoI feature alignment for L_roi (paper Table 4)."""
from typing import Optional, Sequence, Tuple

import torch.nn as nn
from mmcv.cnn import build_activation_layer, build_norm_layer, build_upsample_layer
from mmengine.model import BaseModule
from torch import Tensor

from mmdld.registry import MODELS


@MODELS.register_module()
class RoIAlignModule(BaseModule):
    """Maps the student's RoI features to the teacher's RoI size so that L_roi can compare them.

    The distiller's connector (``model.roi_align``): it feeds L_roi only, not the student's
    recognition head, so it aligns ``F_roi`` and nothing after it. With ``mode='deconv'`` and
    integer size ratios ``(r_h, r_w)`` it is a ``r_h x r_w`` transposed convolution of stride
    ``(r_h, r_w)``, an activation, and a linear 3x3 convolution (linear because the teacher's RoI
    features are FPN outputs, which take negative values too); with non-integer ratios, or
    ``mode='bilinear'``, the up-sampling is a bilinear resize instead. When sizes (and
    channels) already agree it is the identity and has no parameters, so configs can always
    include it. Table 4's "†" student, whose deconvolution also feeds its recognition head,
    is :class:`~mmdld.models.connectors.SuperResolvedRoIExtractor` instead.

    Ours, from MMCV's layer builders: MMDetection up-samples only inside heads (``FCNMaskHead``).
    Not MMCV's ``RoIAlign`` op, which crops RoIs from feature maps; this aligns already-cropped
    RoI features of two networks.

    Args:
        in_channels (int): Channels of the student's RoI features.
        in_size (Tuple[int, int]): ``(H, W)`` of the student's RoI features.
        out_size (Tuple[int, int]): ``(H, W)`` of the teacher's RoI features; each side must be
            at least the student's.
        out_channels (int, optional): Channels of the teacher's features; defaults to
            ``in_channels``.
        mode (str): ``'deconv'`` (default) or ``'bilinear'`` up-sampling.
        norm_cfg (dict, optional): Normalisation after the up-sampling. Defaults to None.
        act_cfg (dict, optional): Activation after the up-sampling. Defaults to
            ``dict(type='ReLU')``.
        init_cfg (dict or list[dict], optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 in_size: Sequence[int] = (8, 32),
                 out_size: Sequence[int] = (8, 32),
                 out_channels: Optional[int] = None,
                 mode: str = 'deconv',
                 norm_cfg: Optional[dict] = None,
                 act_cfg: Optional[dict] = dict(type='ReLU'),
                 init_cfg: Optional[dict] = dict(
                     type='Kaiming', layer=['Conv2d', 'ConvTranspose2d'])) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = in_channels
        self.out_channels = in_channels if out_channels is None else out_channels
        self.in_size: Tuple[int, int] = (int(in_size[0]), int(in_size[1]))
        self.out_size: Tuple[int, int] = (int(out_size[0]), int(out_size[1]))
        name = type(self).__name__
        if mode not in ('deconv', 'bilinear'):
            raise ValueError(f"{name}: `mode` must be 'deconv' or 'bilinear', got "
                             f'{mode!r}')
        if any(o < i for o, i in zip(self.out_size, self.in_size)) or min(self.in_size) < 1:
            raise ValueError(f'{name}: `out_size` {self.out_size} must be at least '
                             f'`in_size` {self.in_size} on each side (it up-samples the '
                             f'student to the teacher)')

        if self.in_size == self.out_size:
            # Same size: identity, or a 1x1 projection if only the channels differ.
            self.layers = (nn.Identity() if self.in_channels == self.out_channels else
                           nn.Conv2d(self.in_channels, self.out_channels, 1))
            return
        ratio_h, ratio_w = (o // i for o, i in zip(self.out_size, self.in_size))
        integer = all(o % i == 0 for o, i in zip(self.out_size, self.in_size))
        if mode == 'deconv' and integer:
            upsample = build_upsample_layer(
                dict(type='deconv'), in_channels, in_channels,
                kernel_size=(ratio_h, ratio_w), stride=(ratio_h, ratio_w))
        else:
            upsample = build_upsample_layer(
                dict(type='bilinear', size=self.out_size, align_corners=False))
        layers = [upsample]
        if norm_cfg is not None:
            layers.append(build_norm_layer(norm_cfg, in_channels)[1])
        if act_cfg is not None:
            layers.append(build_activation_layer(act_cfg))
        layers.append(nn.Conv2d(in_channels, self.out_channels, 3, padding=1))
        self.layers = nn.Sequential(*layers)

    @property
    def is_identity(self) -> bool:
        """bool: Whether the module passes features through unchanged."""
        return isinstance(self.layers, nn.Identity)

    def forward(self, x: Tensor) -> Tensor:
        """Aligns ``x`` ``[N, in_channels, *in_size]`` to ``[N, out_channels, *out_size]``."""
        if x.dim() != 4 or x.size(1) != self.in_channels or tuple(x.shape[2:]) != self.in_size:
            raise ValueError(f'{type(self).__name__} expects student RoI features of shape '
                             f'[N, {self.in_channels}, {self.in_size[0]}, {self.in_size[1]}], '
                             f'got {tuple(x.shape)}')
        return self.layers(x)
