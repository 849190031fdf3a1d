"""Paths and sample builders shared by the tests.

``tests/conftest.py`` puts this folder on ``sys.path`` (pytest's default ``prepend`` import mode
does so for a ``conftest.py`` outside a package), so test modules import it as ``helpers``.
Paths are constants rather than fixtures because test modules use them at import time.

The builders make what the data pipeline (ending in ``PackSpottingInputs``) hands to a model:
``text_instances`` the ``gt_instances`` of one image, ``ignored_instances`` its don't-care
instances, ``det_sample`` the ``DetDataSample`` around them, ``packed_sample`` one packed
pipeline output (image tensor and sample) and ``batch`` a list of those as a dataloader batch.
"""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.mask import PolygonMasks
from mmengine.structures import InstanceData

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG_DIR = osp.join(REPO_ROOT, 'configs')
TOOLS_DIR = osp.join(REPO_ROOT, 'tools')

#: ``(h, w)`` of an image when a test does not say.
DEFAULT_SHAPE = (128, 192)


def rect(x1: float, y1: float, x2: float, y2: float) -> np.ndarray:
    """The flat float32 4-point polygon of an axis-aligned box, clockwise from the top left."""
    return np.array([x1, y1, x2, y1, x2, y2, x1, y2], np.float32)


def _boxes(polys: Sequence[np.ndarray]) -> torch.Tensor:
    return torch.tensor([[p[0::2].min(), p[1::2].min(), p[0::2].max(), p[1::2].max()]
                         for p in polys], dtype=torch.float32).reshape(-1, 4)


def text_instances(polys: Sequence[np.ndarray],
                   texts: Sequence[str],
                   shape: Tuple[int, int] = DEFAULT_SHAPE,
                   masks: Optional[str] = 'polygon') -> InstanceData:
    """The ``gt_instances`` of an image: tight boxes, label 0, masks, polygons and texts.

    Args:
        polys: Flat polygons ``[x1, y1, x2, y2, ...]``, one per instance.
        texts: Their transcriptions.
        shape: ``(h, w)`` of the image the masks cover.
        masks: ``'polygon'`` (``PolygonMasks``, as the pipelines pack them), ``'bitmap'``
            (``BitmapMasks``), or ``'none'``/None for no ``masks`` field (what a test-time
            sample holds).

    Returns:
        InstanceData: ``bboxes``, ``labels``, ``masks`` (if asked for), ``polygons``, ``texts``.
    """
    if masks not in ('polygon', 'bitmap', 'none', None):
        raise ValueError(f"masks must be 'polygon', 'bitmap', 'none' or None, got {masks!r}")
    gt = InstanceData()
    gt.bboxes = _boxes(polys)
    gt.labels = torch.zeros(len(polys), dtype=torch.long)
    if masks in ('polygon', 'bitmap'):
        polygon_masks = PolygonMasks([[p] for p in polys], *shape)
        gt.masks = polygon_masks if masks == 'polygon' else polygon_masks.to_bitmap()
    gt.polygons = list(polys)
    gt.texts = list(texts)
    return gt


def ignored_instances(polys: Sequence[np.ndarray] = ()) -> InstanceData:
    """The ``ignored_instances`` of an image: don't-care polygons with the text ``'###'``."""
    ignored = InstanceData()
    ignored.bboxes = _boxes(polys)
    ignored.labels = torch.zeros(len(polys), dtype=torch.long)
    ignored.polygons = list(polys)
    ignored.texts = ['###'] * len(polys)
    return ignored


def det_sample(gt: InstanceData,
               shape: Tuple[int, int] = DEFAULT_SHAPE,
               scale: float = 1.0,
               ori_shape: Optional[Tuple[int, int]] = None,
               ignored: Sequence[np.ndarray] = (),
               img_id: int = 0) -> DetDataSample:
    """A ``DetDataSample`` of an image of ``shape`` after a resize.

    Args:
        gt: Its ``gt_instances`` (see :func:`text_instances`).
        shape: ``(h, w)`` after the resize (``img_shape``, also ``pad_shape`` and
            ``batch_input_shape``, which a data preprocessor overwrites).
        scale: Resize factor from the original image, used when ``ori_shape`` is None.
        ori_shape: ``(h, w)`` of the original image; the scale factor is then
            ``shape / ori_shape`` per axis.
        ignored: Don't-care polygons (see :func:`ignored_instances`).
        img_id: ``img_id`` metainfo; ``img_path`` is ``f'img{img_id}.jpg'``.

    Returns:
        DetDataSample: With ``gt_instances`` and ``ignored_instances``.
    """
    if ori_shape is None:
        ori_shape = (round(shape[0] / scale), round(shape[1] / scale))
        scale_factor = (scale, scale)
    else:
        scale_factor = (shape[1] / ori_shape[1], shape[0] / ori_shape[0])
    sample = DetDataSample(metainfo=dict(
        img_shape=shape, ori_shape=ori_shape, scale_factor=scale_factor, pad_shape=shape,
        batch_input_shape=shape, img_path=f'img{img_id}.jpg', img_id=img_id))
    sample.gt_instances = gt
    sample.ignored_instances = ignored_instances(ignored)
    return sample


def packed_sample(polys: Sequence[np.ndarray],
                  texts: Sequence[str],
                  shape: Tuple[int, int] = DEFAULT_SHAPE,
                  scale: float = 1.0,
                  ori_shape: Optional[Tuple[int, int]] = None,
                  ignored: Sequence[np.ndarray] = (),
                  seed: Optional[int] = None,
                  masks: Optional[str] = 'polygon') -> Dict:
    """What ``PackSpottingInputs`` gives for a random uint8 image of ``shape``.

    Args:
        polys, texts, masks: The text instances, see :func:`text_instances`.
        shape, scale, ori_shape, ignored: See :func:`det_sample`.
        seed: Seed of the image's own generator, also its ``img_id``; None draws the image
            from the global RNG (``img_id`` 0).

    Returns:
        dict: ``inputs`` (``[3, h, w]`` uint8) and ``data_samples``.
    """
    gt = text_instances(polys, texts, shape, masks)
    sample = det_sample(gt, shape, scale, ori_shape, ignored, img_id=seed or 0)
    generator = None if seed is None else torch.Generator().manual_seed(seed)
    img = torch.randint(0, 256, (3, *shape), dtype=torch.uint8, generator=generator)
    return dict(inputs=img, data_samples=sample)


def batch(*items: Dict) -> Dict[str, List]:
    """Collates :func:`packed_sample` outputs as a dataloader batch (lists, not stacked)."""
    return dict(inputs=[i['inputs'] for i in items],
                data_samples=[i['data_samples'] for i in items])
