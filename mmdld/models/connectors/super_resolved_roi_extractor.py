"""A recognition RoI extractor followed by a feature aligner: the "†" student of Table 4."""
from typing import Optional, Tuple

from mmengine.model import BaseModule
from torch import Tensor

from mmdld.registry import MODELS


@MODELS.register_module()
class SuperResolvedRoIExtractor(BaseModule):
    """Crops small RoI features and super-resolves them before the recognition head reads them.

    Table 4's "†" student crops 8 x 32 RoI features and has "extra deconv modules" that align
    them with its 16 x 64 teacher's. The deconvolution is part of the student's network: the
    paper finds that it "will even degrade the performance and increase the FLOPS" compared with
    a student cropping 16 x 64 directly, so it runs at test time too, and the student's
    recognition head (6 convs, BiLSTM, decoder) reads the super-resolved features. Put in the
    student's ``roi_head.rec_roi_extractor`` (with ``rec_head.roi_size`` = the aligner's
    ``out_size``), it makes every recognition path of the spotter (GT crops in training, the
    distiller's scale passes, inference, the FLOPs count) go through the deconvolution. The
    distiller then sees a student whose ``F_roi`` (the aligner's output) and ``F_con`` have the
    teacher's sizes, so L_roi and L_con compare them directly and both reach the deconvolution.

    A state dict without any weight of the aligner (that of a spotter without this connector,
    e.g. the teacher the student is initialised from) leaves the aligner as it is, so that the
    student loads its teacher's weights strictly everywhere else.

    Args:
        extractor (dict): The RoI extractor, e.g. ``RoIMaskingExtractor`` with
            ``output_size=(8, 32)``.
        aligner (dict): The feature aligner, e.g. ``DeconvFeatureAligner`` with
            ``out_size=(16, 64)``; its ``in_channels`` and ``in_size`` default to the
            extractor's ``out_channels`` and ``output_size``.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self, extractor: dict, aligner: dict,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.extractor = MODELS.build(extractor)
        aligner = dict(aligner)
        aligner.setdefault('in_channels', self.extractor.out_channels)
        aligner.setdefault('in_size', tuple(self.extractor.output_size))
        if (int(aligner['in_channels']) != self.extractor.out_channels or tuple(
                int(s) for s in aligner['in_size']) != tuple(self.extractor.output_size)):
            raise ValueError(
                f'SuperResolvedRoIExtractor: `aligner` reads {aligner["in_channels"]} channels '
                f'of size {tuple(aligner["in_size"])}, but `extractor` gives '
                f'{self.extractor.out_channels} of size {tuple(self.extractor.output_size)}')
        self.aligner = MODELS.build(aligner)
        self._register_load_state_dict_pre_hook(self._keep_aligner_if_absent)

    @property
    def num_inputs(self) -> int:
        """int: Feature levels the extractor reads (the first ones)."""
        return self.extractor.num_inputs

    @property
    def out_channels(self) -> int:
        """int: Channels of the super-resolved features."""
        return self.aligner.out_channels

    @property
    def output_size(self) -> Tuple[int, int]:
        """tuple[int, int]: ``(H, W)`` of the super-resolved features."""
        return self.aligner.out_size

    def forward(self, feats: Tuple[Tensor, ...], rois: Tensor, *args, **kwargs) -> Tensor:
        """The extractor's RoI features of ``rois`` (its arguments), super-resolved."""
        return self.aligner(self.extractor(feats, rois, *args, **kwargs))

    def _keep_aligner_if_absent(self, state_dict: dict, prefix: str, *args) -> None:
        # Fill the aligner's entries with its own tensors, so that loading leaves it unchanged
        # and reports no missing key; a state dict that has any of them is loaded as it is.
        aligner_prefix = prefix + 'aligner.'
        if any(k.startswith(aligner_prefix) for k in state_dict):
            return
        for key, value in self.aligner.state_dict().items():
            state_dict[aligner_prefix + key] = value
