"""MANGO's grid branch and Position-aware Mask Attention (PMA)."""
import math
from typing import NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor

from mmdld.registry import MODELS


class MANGOMaps(NamedTuple):
    """What :meth:`MANGOHead.forward` computes on a feature map ``[B, C, H, W]``.

    Attributes:
        cate_logits (Tensor): ``[B, S * S]`` text/background logit of each grid cell.
        ima_kernels (Tensor): ``[B, S * S, E]`` each cell's instance mask attention kernel.
        cma_kernels (Tensor): ``[B, S * S, L, E]`` each cell's ``L`` character mask attention
            kernels.
        mask_feats (Tensor): ``[B, E, H, W]`` the map the kernels are applied to.
        char_positions (Tensor, optional): ``[B, S * S, L, 3]`` with ``char_position_prior``:
            each cell's offset ``(dx, dy)`` (grid cells) of its ``l``-th character from the
            cell's centre and the raw precision of the Gaussian prior around it.
        recog_feats (Tensor, optional): ``[B, C, H, W]`` with ``num_recog_convs``: the
            recognition tower's map, which the character attentions gather from.
    """
    cate_logits: Tensor
    ima_kernels: Tensor
    cma_kernels: Tensor
    mask_feats: Tensor
    char_positions: Optional[Tensor] = None
    recog_feats: Optional[Tensor] = None


def coord_channels(feat: Tensor) -> Tensor:
    """``feat`` with two more channels, x and y in ``[-1, 1]`` (CoordConv, as SOLO and MANGO)."""
    batch, _, height, width = feat.shape
    ys = torch.linspace(-1, 1, height, device=feat.device, dtype=feat.dtype)
    xs = torch.linspace(-1, 1, width, device=feat.device, dtype=feat.dtype)
    y, x = torch.meshgrid(ys, xs, indexing='ij')
    coords = torch.stack([x, y])[None].expand(batch, -1, -1, -1)
    return torch.cat([feat, coords], dim=1)


@MODELS.register_module()
class MANGOHead(BaseModule):
    """The grid category branch and the Position-aware Mask Attention of MANGO.

    Both follow the dynamic-convolution design of the authors' code (after SOLOv2): the feature
    map with coordinate channels is resized to ``S x S`` and a conv tower predicts, per grid
    cell, a text logit (the category branch), an instance kernel and ``L`` character kernels;
    a second tower turns the full-resolution map into an ``E``-channel mask feature map.

    For a cell ``g`` (the cell holding a word's centre):

    - instance mask attention (IMA): ``m_g = sigmoid(k_g . M)``, ``[H, W]``, the word's mask;
    - character mask attention (CMA): ``A_{g,l} = softmax_{HW}(c_{g,l} . M + log m_g)`` for
      ``l < L``: the ``l``-th character's attention, a distribution over the pixels of the
      word's mask (the IMA gates the CMA, so that every character attends inside its word);
      with ``char_position_prior`` the logits also get ``-softplus(p_{g,l}) |x - g - d_{g,l}|^2``
      (``x`` a pixel's position and ``g`` the cell's centre, in grid cells): a Gaussian prior
      around a predicted offset ``d_{g,l}`` of the character from the cell (a deviation from
      the authors' head, see below);
    - the gathered sequence feature ``x_{g,l} = sum_{HW} A_{g,l} R``, ``[L, C]``: what the
      sequence decoder reads. ``R`` is the recognition tower's map of ``F`` (the authors'
      ``AttFuseModule``: ``num_recog_convs`` 3 x 3 convs with the towers' norm), or ``F``
      itself with ``num_recog_convs=0``.

    One feature level and one grid (as the authors' released Total-Text config, whose code
    supports a grid per FPN level): the spotter reads
    the stride-4 level, into which FPN's top-down path has added the coarser ones.

    Ours because MMDetection's ``SOLOV2Head`` has no character attention and assigns its
    targets inside its loss.

    ``char_position_prior`` is not in the authors' head, whose character kernels find the
    characters through the mask features' coordinate channels after pre-training on synthetic
    character boxes. A kernel times ``E`` mask features can peak at an arbitrary pixel only if
    those features hold a rich basis of positions; without the pre-training the small CPU
    configs' attentions stayed about two character spacings from the characters
    (``docs/mango.md``). The prior makes the position an explicit regression (as CondInst's
    relative coordinates make its dynamic masks position-relative).

    Args:
        in_channels (int): Channels ``C`` of the feature map.
        feat_channels (int): Channels of the conv towers.
        kernel_channels (int): ``E``, channels of the mask features and of every kernel.
        num_grid (int): ``S``.
        num_positions (int): ``L``, character attentions per cell (the decoder's positions).
        num_convs (int): Convs of each tower. Defaults to 2.
        char_position_prior (bool): Add each character attention's Gaussian position prior
            (class docstring). Defaults to False (the authors' head).
        num_recog_convs (int): Convs of the recognition tower (``C`` channels), 0 for none.
            Defaults to 0; the authors' head has 4.
        norm_cfg (dict): Norm of the towers' ConvModules. Defaults to GN with 8 groups.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 feat_channels: int,
                 kernel_channels: int,
                 num_grid: int,
                 num_positions: int,
                 num_convs: int = 2,
                 char_position_prior: bool = False,
                 num_recog_convs: int = 0,
                 norm_cfg: ConfigType = dict(type='GN', num_groups=8, requires_grad=True),
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_grid < 1 or num_positions < 1 or num_convs < 1:
            raise ValueError(f'MANGOHead: num_grid ({num_grid}), num_positions '
                             f'({num_positions}) and num_convs ({num_convs}) must be >= 1')
        if num_recog_convs < 0:
            raise ValueError(f'MANGOHead: num_recog_convs must be >= 0, got {num_recog_convs}')
        self.in_channels = in_channels
        self.kernel_channels = kernel_channels
        self.num_grid = int(num_grid)
        self.num_positions = int(num_positions)
        self.char_position_prior = bool(char_position_prior)

        def tower() -> nn.Sequential:
            return nn.Sequential(*[
                ConvModule(in_channels + 2 if i == 0 else feat_channels, feat_channels, 3,
                           padding=1, norm_cfg=norm_cfg) for i in range(num_convs)
            ])

        self.grid_convs = tower()
        self.conv_cate = nn.Conv2d(feat_channels, 1, 3, padding=1)
        self.conv_ima = nn.Conv2d(feat_channels, kernel_channels, 1)
        self.conv_cma = nn.Conv2d(feat_channels, num_positions * kernel_channels, 1)
        if self.char_position_prior:
            self.conv_char_pos = nn.Conv2d(feat_channels, num_positions * 3, 1)
            # Start as a broad prior at the cell (precision softplus(-3) ~ 0.05 per cell^2: a
            # character 5 cells away starts 1.2 logits down) and let the loss narrow it.
            nn.init.normal_(self.conv_char_pos.weight, std=0.01)
            nn.init.zeros_(self.conv_char_pos.bias)
            with torch.no_grad():
                self.conv_char_pos.bias.view(num_positions, 3)[:, 2] = -3.
        self.mask_convs = tower()
        self.conv_mask = nn.Conv2d(feat_channels, kernel_channels, 1)
        # No coordinate channels: what is gathered is the characters' appearance.
        self.recog_convs = nn.Sequential(*[
            ConvModule(in_channels, in_channels, 3, padding=1, norm_cfg=norm_cfg)
            for _ in range(num_recog_convs)
        ])
        # Focal-loss prior: every cell starts as text with probability 0.01 (RetinaNet).
        nn.init.constant_(self.conv_cate.bias, -math.log(99.))

    def forward(self, feat: Tensor) -> MANGOMaps:
        """The per-cell logits and kernels and the mask features of ``feat`` ``[B, C, H, W]``."""
        if feat.dim() != 4 or feat.size(1) != self.in_channels:
            raise ValueError(f'MANGOHead expects a [B, {self.in_channels}, H, W] map, got '
                             f'{tuple(feat.shape)}')
        with_coords = coord_channels(feat)
        grid = F.interpolate(with_coords, size=(self.num_grid, self.num_grid), mode='bilinear',
                             align_corners=False)
        grid = self.grid_convs(grid)
        batch, cells = feat.size(0), self.num_grid**2
        cate = self.conv_cate(grid).reshape(batch, cells)
        ima = self.conv_ima(grid).flatten(2).transpose(1, 2)  # [B, SS, E]
        cma = self.conv_cma(grid).reshape(batch, self.num_positions, self.kernel_channels, cells)
        cma = cma.permute(0, 3, 1, 2)  # [B, SS, L, E]
        mask_feats = self.conv_mask(self.mask_convs(with_coords))
        positions = None
        if self.char_position_prior:
            positions = self.conv_char_pos(grid).reshape(batch, self.num_positions, 3, cells)
            positions = positions.permute(0, 3, 1, 2)  # [B, SS, L, 3]
        recog = self.recog_convs(feat) if len(self.recog_convs) else None
        return MANGOMaps(cate, ima, cma, mask_feats, positions, recog)

    @staticmethod
    def select(maps: MANGOMaps, img_inds: Tensor, cells: Tensor) -> MANGOMaps:
        """The kernels of cells ``cells`` ``[N]`` of images ``img_inds`` ``[N]``; the mask
        features stay per image."""
        return MANGOMaps(maps.cate_logits[img_inds, cells], maps.ima_kernels[img_inds, cells],
                         maps.cma_kernels[img_inds, cells], maps.mask_feats,
                         None if maps.char_positions is None else
                         maps.char_positions[img_inds, cells], maps.recog_feats)

    def position_prior(self, cells: Tensor, char_positions: Tensor,
                       feat_shape: Tuple[int, int]) -> Tensor:
        """``[N, L, H, W]`` log position priors of ``N`` cells' characters.

        Args:
            cells (Tensor): ``[N]`` flat cell indices ``i * S + j``.
            char_positions (Tensor): ``[N, L, 3]`` offsets ``(dx, dy)`` in grid cells and raw
                precisions, of those cells.
            feat_shape (tuple[int, int]): ``(H, W)`` of the map attended over.
        """
        height, width = feat_shape
        grid = self.num_grid
        dtype, device = char_positions.dtype, char_positions.device
        # Pixel centres in grid-cell units: the grid covers the map, S cells a side.
        xs = (torch.arange(width, device=device, dtype=dtype) + 0.5) * (grid / width)
        ys = (torch.arange(height, device=device, dtype=dtype) + 0.5) * (grid / height)
        cell_x = (cells % grid).to(dtype) + 0.5
        cell_y = torch.div(cells, grid, rounding_mode='floor').to(dtype) + 0.5
        centre_x = cell_x[:, None] + char_positions[..., 0]  # [N, L]
        centre_y = cell_y[:, None] + char_positions[..., 1]
        precision = F.softplus(char_positions[..., 2])
        dist_x = (xs[None, None] - centre_x[..., None])**2  # [N, L, W]
        dist_y = (ys[None, None] - centre_y[..., None])**2  # [N, L, H]
        return -precision[..., None, None] * (dist_y[..., :, None] + dist_x[..., None, :])

    @staticmethod
    def instance_masks(mask_feats: Tensor, img_inds: Tensor, ima_kernels: Tensor) -> Tensor:
        """``[N, H, W]`` instance mask logits of ``N`` cells' kernels ``[N, E]``."""
        return torch.einsum('ne,nehw->nhw', ima_kernels, mask_feats[img_inds])

    @staticmethod
    def char_attention(mask_feats: Tensor, img_inds: Tensor, ima_kernels: Tensor,
                       cma_kernels: Tensor, log: bool = False,
                       prior: Optional[Tensor] = None) -> Tensor:
        """``[N, L, H, W]`` character attentions (each sums to 1), gated by the instance mask;
        with ``log`` their logarithms (``log_softmax``, for a loss on them); ``prior``
        ``[N, L, H, W]`` (:meth:`position_prior`) is added to the logits."""
        feats = mask_feats[img_inds]
        ima = torch.einsum('ne,nehw->nhw', ima_kernels, feats)
        logits = torch.einsum('nle,nehw->nlhw', cma_kernels, feats) + F.logsigmoid(ima)[:, None]
        if prior is not None:
            logits = logits + prior
        flat = logits.flatten(2)
        return (flat.log_softmax(-1) if log else flat.softmax(-1)).view_as(logits)

    @staticmethod
    def gather(feat: Tensor, img_inds: Tensor, attention: Tensor) -> Tensor:
        """``[N, C, 1, L]``: the features of ``feat`` ``[B, C, H, W]`` under ``N`` cells'
        attentions ``[N, L, H, W]`` (the sequence features, ``F_roi`` of the protocol)."""
        return torch.einsum('nlhw,nchw->ncl', attention, feat[img_inds]).unsqueeze(2)

    def sequence_features(self, feat: Tensor, maps: MANGOMaps, img_inds: Tensor,
                          cells: Tensor, log_attention_out: Optional[list] = None) -> Tensor:
        """``[N, C, 1, L]`` sequence features of cells ``cells`` of images ``img_inds``,
        gathered from ``maps.recog_feats`` when the head has a recognition tower, else from
        ``feat``.

        ``log_attention_out``, a list, receives the ``[N, L, H, W]`` log character attentions
        (computed once for both).
        """
        if maps.recog_feats is not None:
            feat = maps.recog_feats
        if img_inds.numel() == 0:
            # Still in the graph of the maps (a zero gradient reaches every parameter).
            zero = (maps.ima_kernels.sum() + maps.cma_kernels.sum() + maps.mask_feats.sum()) * 0
            if maps.char_positions is not None:
                zero = zero + maps.char_positions.sum() * 0
            if maps.recog_feats is not None:
                zero = zero + maps.recog_feats.sum() * 0
            return feat.new_zeros(0, feat.size(1), 1, self.num_positions) + zero
        sel = self.select(maps, img_inds, cells)
        prior = (None if sel.char_positions is None else
                 self.position_prior(cells, sel.char_positions, tuple(maps.mask_feats.shape[-2:])))
        if log_attention_out is None:
            attention = self.char_attention(maps.mask_feats, img_inds, sel.ima_kernels,
                                            sel.cma_kernels, prior=prior)
        else:
            log_attention = self.char_attention(maps.mask_feats, img_inds, sel.ima_kernels,
                                                sel.cma_kernels, log=True, prior=prior)
            log_attention_out.append(log_attention)
            attention = log_attention.exp()
        return self.gather(feat, img_inds, attention)


def cell_indices(num_per_img: Sequence[int], cells: Sequence[Tensor],
                 device: torch.device) -> Tuple[Tensor, Tensor]:
    """``(img_inds, cells)`` ``[N]`` long tensors of per-image cell lists, in image order."""
    img_inds = torch.repeat_interleave(torch.arange(len(num_per_img), device=device),
                                       torch.as_tensor(list(num_per_img), device=device,
                                                       dtype=torch.long))
    flat = (torch.cat([c.to(device) for c in cells]).long() if len(cells) else
            torch.zeros(0, dtype=torch.long, device=device))
    return img_inds, flat
