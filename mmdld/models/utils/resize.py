"""Down-scaling of an already pre-processed batch (the low-resolution copies of DLD)."""
import math
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch.nn.functional as F
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks, PolygonMasks
from mmengine.structures import InstanceData
from torch import Tensor


def resize_batch(inputs: Tensor,
                 data_samples: Optional[Sequence[DetDataSample]],
                 scales: Union[float, Sequence[float]],
                 size_divisor: int = 1,
                 pad_value: float = 0.,
                 rescale_gt: bool = True,
                 antialias: bool = False) -> Tuple[Tensor, Optional[List[DetDataSample]]]:
    """Resizes each image of a normalised, padded batch by its own scale factor.

    DLD picks a scale per image at run time, after the data pipeline, so the low-resolution
    copies are made here on the tensor batch rather than by a pipeline ``Resize``. Each image's
    valid region (``img_shape``) is cut out of the padding, resized bilinearly to
    ``(round(h * s), round(w * s))`` and padded again (bottom/right, with ``pad_value``, as
    ``DetDataPreprocessor`` does) to a common size divisible by ``size_divisor``. The returned
    data samples are new objects with ``img_shape``, ``scale_factor`` (relative to the original
    image, so predictions still map back to it), ``pad_shape`` and ``batch_input_shape``
    updated; with ``rescale_gt`` their ``gt_instances``/``ignored_instances`` boxes, masks and
    polygons are rescaled to the new image too. The inputs are never modified.

    Args:
        inputs (Tensor): ``[B, C, H, W]`` normalised batch.
        data_samples (Sequence[DetDataSample], optional): One per image; their ``img_shape``
            gives the valid region. If None the whole tensor is the image and None is returned.
        scales (float or Sequence[float]): One scale for all images or one per image.
        size_divisor (int): The padded batch size is a multiple of it. Defaults to 1.
        pad_value (float): Value of the padding. Defaults to 0 (the normalised padding value
            of ``DetDataPreprocessor``).
        rescale_gt (bool): Rescale the annotations as well. Set it False for test-time samples,
            whose annotations stay in the original image's frame. Defaults to True.
        antialias (bool): Anti-aliased down-sampling. Defaults to False, matching the
            ``cv2`` bilinear resize of the training pipeline's scale augmentation.

    Returns:
        Tuple[Tensor, list[DetDataSample] or None]: The resized batch and its data samples.
    """
    if inputs.dim() != 4:
        raise ValueError(f'resize_batch: inputs must be [B, C, H, W], got {tuple(inputs.shape)}')
    num_imgs = inputs.size(0)
    if isinstance(scales, (int, float)):
        scales = [float(scales)] * num_imgs
    scales = [float(s) for s in scales]
    if len(scales) != num_imgs:
        raise ValueError(f'resize_batch: got {len(scales)} scales for {num_imgs} images')
    if any(not s > 0 for s in scales):
        raise ValueError(f'resize_batch: scales must be > 0, got {scales}')
    if data_samples is not None and len(data_samples) != num_imgs:
        raise ValueError(f'resize_batch: got {len(data_samples)} data samples for '
                         f'{num_imgs} images')

    resized, shapes = [], []
    for i, scale in enumerate(scales):
        if data_samples is None:
            h, w = inputs.shape[2:]
        else:
            if 'img_shape' not in data_samples[i]:
                raise KeyError(f'resize_batch: data sample {i} has no `img_shape` metainfo')
            h, w = (int(v) for v in data_samples[i].metainfo['img_shape'][:2])
        new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
        img = inputs[i:i + 1, :, :h, :w]
        if (new_h, new_w) != (h, w):
            img = F.interpolate(img, size=(new_h, new_w), mode='bilinear',
                                align_corners=False, antialias=antialias)
        resized.append(img)
        shapes.append(((h, w), (new_h, new_w)))

    batch_h = _ceil_to(max(s[1][0] for s in shapes), size_divisor)
    batch_w = _ceil_to(max(s[1][1] for s in shapes), size_divisor)
    batch = inputs.new_full((num_imgs, inputs.size(1), batch_h, batch_w), pad_value)
    for i, img in enumerate(resized):
        batch[i, :, :img.size(2), :img.size(3)] = img[0]
    if data_samples is None:
        return batch, None

    new_samples = []
    for sample, ((h, w), (new_h, new_w)) in zip(data_samples, shapes):
        pad_shape = (_ceil_to(new_h, size_divisor), _ceil_to(new_w, size_divisor))
        new_samples.append(
            _resize_sample(sample, (h, w), (new_h, new_w), pad_shape, (batch_h, batch_w),
                           rescale_gt))
    return batch, new_samples


def _ceil_to(value: int, divisor: int) -> int:
    return int(math.ceil(value / divisor) * divisor) if divisor > 1 else int(value)


def _resize_sample(sample: DetDataSample, old_shape: Tuple[int, int],
                   new_shape: Tuple[int, int], pad_shape: Tuple[int, int],
                   batch_shape: Tuple[int, int], rescale_gt: bool) -> DetDataSample:
    (h, w), (new_h, new_w) = old_shape, new_shape
    sx, sy = new_w / w, new_h / h
    metainfo = dict(sample.metainfo)
    old_sf = metainfo.get('scale_factor', (1., 1.))
    metainfo.update(
        img_shape=(new_h, new_w),
        scale_factor=(float(old_sf[0]) * sx, float(old_sf[1]) * sy),
        pad_shape=pad_shape,
        batch_input_shape=batch_shape)
    new = DetDataSample(metainfo=metainfo)
    for key, value in sample.items():
        if rescale_gt and key in ('gt_instances', 'ignored_instances'):
            value = _resize_instances(value, (h, w), (new_h, new_w), pad_shape)
        setattr(new, key, value)
    return new


def _resize_instances(instances: InstanceData, old_shape: Tuple[int, int],
                      new_shape: Tuple[int, int], pad_shape: Tuple[int, int]) -> InstanceData:
    (h, w), (new_h, new_w) = old_shape, new_shape
    sx, sy = new_w / w, new_h / h
    new = InstanceData(metainfo=instances.metainfo)
    for key, value in instances.items():
        if key == 'bboxes':
            value = _rescale_boxes(value, sx, sy)
        elif key == 'masks':
            value = _resize_masks(value, (h, w), (new_h, new_w), pad_shape)
        elif key == 'polygons':
            value = [_rescale_polygon(p, sx, sy) for p in value]
        setattr(new, key, value)
    return new


def _rescale_boxes(boxes, sx: float, sy: float):
    if isinstance(boxes, Tensor):
        return boxes * boxes.new_tensor([sx, sy, sx, sy])
    # mmdet BaseBoxes: rescale a copy, the original belongs to the caller.
    boxes = boxes.clone()
    boxes.rescale_((sx, sy))
    return boxes


def _rescale_polygon(polygon: np.ndarray, sx: float, sy: float) -> np.ndarray:
    polygon = np.asarray(polygon, dtype=np.float32).copy()
    polygon[0::2] *= sx
    polygon[1::2] *= sy
    return polygon


def _resize_masks(masks, old_shape: Tuple[int, int], new_shape: Tuple[int, int],
                  pad_shape: Tuple[int, int]):
    (h, w), (new_h, new_w) = old_shape, new_shape
    if isinstance(masks, PolygonMasks):
        polygons = [[_rescale_polygon(p, new_w / w, new_h / h) for p in obj]
                    for obj in masks.masks]
        return PolygonMasks(polygons, new_h, new_w)
    if isinstance(masks, BitmapMasks):
        # Masks may be padded like the image: resize the valid part, then pad like the image.
        padded = (masks.height, masks.width) != (h, w)
        valid = masks.crop(np.array([0, 0, w, h])) if padded else masks
        out = valid.resize((new_h, new_w), interpolation='nearest')
        if padded:
            out = out.pad(pad_shape, pad_val=0)
        return out
    raise TypeError(f'resize_batch: cannot rescale masks of type {type(masks).__name__}; '
                    f'expected BitmapMasks or PolygonMasks')
