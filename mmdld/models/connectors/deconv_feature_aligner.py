"""The deconvolution module of Table 4's "†" student: feature-level super-resolution."""
from typing import Optional, Sequence

from mmdld.registry import MODELS
from .roi_align_module import RoIAlignModule


@MODELS.register_module()
class DeconvFeatureAligner(RoIAlignModule):
    """Super-resolves RoI features ``[N, C, h, w]`` to ``[N, C', H, W]`` with a deconvolution.

    The paper (§4.3, Table 4) gives a student with smaller RoI features than its teacher "a
    deconvolutional (deconv) module [...] to align the smaller student's features with the
    larger teacher's features", which "simulates a feature-level super-resolution process".
    This is that module: a transposed convolution of kernel and stride ``(H / h, W / w)`` (each
    input cell becomes one output patch), an optional normalisation, an activation, and a
    linear 3x3 convolution that mixes neighbouring patches and maps to ``out_channels``. It is
    :class:`RoIAlignModule` in ``'deconv'`` mode, restricted to what a deconvolution does:
    integer size ratios and no bilinear fallback.

    Args:
        in_channels (int): Channels of the student's RoI features.
        in_size (Sequence[int]): ``(h, w)`` of the student's RoI features, e.g. ``(8, 32)``.
        out_size (Sequence[int]): ``(H, W)`` of the teacher's, e.g. ``(16, 64)``; integer
            multiples of ``in_size``.
        out_channels (int, optional): Output channels; defaults to ``in_channels``.
        norm_cfg (dict, optional): Normalisation after the deconvolution. Defaults to None.
        act_cfg (dict, optional): Activation after it. Defaults to ``dict(type='ReLU')``.
        init_cfg (dict or list[dict], optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 in_size: Sequence[int] = (8, 32),
                 out_size: Sequence[int] = (16, 64),
                 out_channels: Optional[int] = None,
                 norm_cfg: Optional[dict] = None,
                 act_cfg: Optional[dict] = dict(type='ReLU'),
                 init_cfg: Optional[dict] = dict(
                     type='Kaiming', layer=['Conv2d', 'ConvTranspose2d'])) -> None:
        sizes = [(int(o), int(i)) for o, i in zip(out_size, in_size)]
        if len(sizes) != 2 or any(i < 1 or o < i or o % i for o, i in sizes):
            raise ValueError(
                f'DeconvFeatureAligner: `out_size` {tuple(out_size)} must be an integer '
                f'multiple of `in_size` {tuple(in_size)} on each side (a transposed convolution '
                f'of stride out_size / in_size); use RoIAlignModule(mode=\'bilinear\') for other '
                f'ratios')
        super().__init__(in_channels, in_size, out_size, out_channels, mode='deconv',
                         norm_cfg=norm_cfg, act_cfg=act_cfg, init_cfg=init_cfg)
