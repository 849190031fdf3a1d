"""The Mask R-CNN based end-to-end text spotter of the paper (§3.2), used as teacher and
student."""
from mmdet.models.detectors import TwoStageDetector
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig

from mmdld.registry import MODELS


@MODELS.register_module()
class MaskRCNNSpotter(TwoStageDetector):
    """Mask R-CNN (backbone + FPN, RPN, box and mask branches) that also reads the text.

    Everything but the recognition branch is MMDetection's two-stage detector; the branch lives
    in the RoI head (``SpottingRoIHead``), so ``loss``, ``predict`` and ``_forward`` are
    ``TwoStageDetector``'s and the model works with ``DetDataPreprocessor``. This class only
    gives the spotter its own name in the registry and checks that the RoI head can read.

    ``predict`` returns ``DetDataSample``s whose ``pred_instances`` hold ``bboxes``, ``scores``,
    ``labels``, ``masks``, ``polygons``, ``texts`` and ``text_scores`` in the original image
    frame (see ``docs/data_contract.md``).

    Args:
        backbone (dict): Backbone config (ResNet).
        neck (dict): Neck config (FPN).
        rpn_head (dict): RPN head config.
        roi_head (dict): RoI head config; must build a head with a ``rec_head``
            (e.g. ``SpottingRoIHead``).
        train_cfg (dict): ``rpn``, ``rpn_proposal`` and ``rcnn`` training configs.
        test_cfg (dict): ``rpn`` and ``rcnn`` test configs.
        data_preprocessor (dict, optional): ``DetDataPreprocessor`` config.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 backbone: ConfigType,
                 neck: ConfigType,
                 rpn_head: ConfigType,
                 roi_head: ConfigType,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        if test_cfg is None or 'rpn' not in test_cfg or 'rcnn' not in test_cfg:
            raise ValueError('MaskRCNNSpotter needs test_cfg with `rpn` and `rcnn` entries')
        super().__init__(
            backbone=backbone,
            neck=neck,
            rpn_head=rpn_head,
            roi_head=roi_head,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        if getattr(self.roi_head, 'rec_head', None) is None:
            raise ValueError(
                f'MaskRCNNSpotter needs a RoI head with a recognition branch (`rec_head`, '
                f'e.g. SpottingRoIHead); got {type(self.roi_head).__name__}')
