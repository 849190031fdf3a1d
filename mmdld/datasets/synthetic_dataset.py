"""``SyntheticSpottingDataset``: a ``SpottingDataset`` over data generated on first use."""
import os.path as osp
from typing import Optional

from mmengine.logging import print_log

from mmdld.registry import DATASETS
from .spotting_dataset import SpottingDataset
from .synthesis import ensure_dataset

__all__ = ['SyntheticSpottingDataset']


@DATASETS.register_module()
class SyntheticSpottingDataset(SpottingDataset):
    """The embedded synthetic text-spotting data set, generated into ``data_root`` if absent.

    Before loading, the synthetic data set of ``synth_cfg`` is generated into ``data_root``
    unless it is already there (see :func:`mmdld.datasets.synthesis.ensure_dataset`: atomic,
    and concurrent processes such as DDP ranks wait for the one that generates). A ``data_root``
    that holds data of another ``synth_cfg`` is an error naming the folder and both configs.
    From then on it is :class:`SpottingDataset` (MMOCR's ``OCRDataset``) on the generator's
    ``textspotting`` JSON.

    Args:
        synth_cfg: Keyword arguments of :func:`mmdld.datasets.synthesis.generate_dataset`,
            e.g. ``dict(num_train=200, num_test=50, img_size=640, seed=0)``; missing keys take
            the generator's defaults.
        ann_file: Annotation file relative to ``data_root``: ``textspotting_train.json`` or
            ``textspotting_test.json``.
        data_root: Folder of the data set (required: it is where the data is generated).
        **kwargs: The other arguments of ``OCRDataset`` (``data_prefix``, ``pipeline``,
            ``test_mode``, ...).
    """

    def __init__(self,
                 synth_cfg: Optional[dict] = None,
                 ann_file: str = 'textspotting_train.json',
                 data_root: Optional[str] = None,
                 **kwargs) -> None:
        if not data_root:
            raise ValueError('SyntheticSpottingDataset: data_root must name the folder the '
                             'synthetic data set is generated into (e.g. "data/synthetic")')
        if osp.isabs(ann_file):
            raise ValueError(f'SyntheticSpottingDataset: ann_file must be relative to data_root '
                             f'({data_root}), got {ann_file}')
        self.synth_cfg = dict(synth_cfg or {})
        ensure_dataset(data_root, self.synth_cfg, ann_file,
                       log_fn=lambda msg: print_log(msg, logger='current'))
        super().__init__(ann_file=ann_file, data_root=data_root, **kwargs)
