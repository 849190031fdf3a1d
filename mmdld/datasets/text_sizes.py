"""Word heights of every image of an MMOCR ``textspotting`` annotation file, after a resize.

Each image's care words (not ``ignore``, not ``###``, not empty) are measured by
:func:`mmdld.evaluation.functional.text_size.image_text_sizes` at the image's resize factors:
none (original pixels), a long side in px (:func:`long_side_resize`), or the ``Resize`` of a
config's test pipeline (:func:`config_resize`, MMCV's rule). The records also carry the
``regime`` that the synthetic annotations record per image (``docs/synthetic_data.md``), read by
the text-size statistics and the per-regime tables of the reproduction.
"""
import json
from typing import Any, Callable, Dict, List, Optional, Tuple

import mmcv
import numpy as np
from mmengine.config import Config

from mmdld.evaluation.functional.text_size import image_text_sizes

#: Order of the synthetic regimes in tables (docs/synthetic_data.md); others follow sorted.
REGIME_ORDER = ('large', 'mixed', 'small', 'empty')
#: Regime of an image whose annotation records none (real data sets).
NO_REGIME = 'unknown'

#: ``(width, height) -> (w_scale, h_scale)``.
ResizeFn = Callable[[int, int], Tuple[float, float]]


def keep_ratio_resize(scale: Any, keep_ratio: bool = True) -> ResizeFn:
    """The resize factors of MMCV's ``Resize`` with this ``scale`` (the test pipeline's).

    Args:
        scale (int | tuple[int, int]): The transform's ``scale``, ``(w, h)``; an int is
            ``(scale, scale)``, as ``Resize`` reads it.
        keep_ratio (bool): The transform's ``keep_ratio``.

    Returns:
        callable: ``(width, height) -> (w_scale, h_scale)`` of the resized image.
    """
    size = (int(scale), int(scale)) if np.ndim(scale) == 0 else tuple(int(s) for s in scale)

    def factors(width: int, height: int) -> Tuple[float, float]:
        if keep_ratio:
            new_w, new_h = mmcv.rescale_size((width, height), size)
        else:
            new_w, new_h = size
        return new_w / width, new_h / height

    return factors


def long_side_resize(long_side: int) -> ResizeFn:
    """Resize factors that bring the long side to ``long_side`` px (ratio kept, unrounded)."""

    def factors(width: int, height: int) -> Tuple[float, float]:
        factor = long_side / max(width, height)
        return factor, factor

    return factors


def config_resize(config: str) -> Tuple[ResizeFn, str]:
    """The resize of a config's test pipeline and a description of it.

    Raises:
        ValueError: If the test pipeline has no ``Resize``, or one without ``scale`` (naming
            the config).
    """
    # Imported here: importing mmdld.apis loads the models, which the records do not need.
    from mmdld.apis.pipelines import find_resize
    cfg = Config.fromfile(config)
    resize = find_resize(cfg.test_dataloader.dataset.pipeline,
                         f'{config}: test_dataloader.dataset.pipeline')
    keep_ratio = bool(resize.get('keep_ratio', False))
    scale = resize['scale']
    scale = scale if np.ndim(scale) == 0 else tuple(scale)
    return (keep_ratio_resize(scale, keep_ratio),
            f'Resize(scale={scale}, keep_ratio={keep_ratio}) of {config}')


def image_records(ann_file: str, resize: Optional[ResizeFn] = None,
                  min_length: int = 1) -> List[Dict[str, Any]]:
    """Per image of an annotation file: regime, resize factors and word heights after resize.

    Args:
        ann_file (str): MMOCR ``textspotting`` JSON.
        resize (callable, optional): ``(width, height) -> (w_scale, h_scale)``; None: original
            pixels.
        min_length (int): Leave out care words with fewer characters.

    Returns:
        list[dict]: ``img_path``, ``regime`` (:data:`NO_REGIME` when not recorded), ``width``,
        ``height``, ``scale_factor`` ``(w_scale, h_scale)``, and ``n``, ``min``, ``median``,
        ``heights`` of :func:`image_text_sizes`.

    Raises:
        ValueError: On unreadable JSON, or an image without ``width``/``height`` or with a
            malformed polygon (the message names the file, the image and the instance).
    """
    try:
        with open(ann_file, encoding='utf-8') as f:
            data_list = json.load(f)['data_list']
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f'{ann_file}: not an MMOCR annotation file ({err!r})') from err
    records = []
    for index, info in enumerate(data_list):
        where = f"{ann_file}: {info.get('img_path', f'data_list[{index}]')}"
        try:
            width, height = int(info['width']), int(info['height'])
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f'{where}: needs integer `width` and `height` ({err!r})') from err
        scale = resize(width, height) if resize is not None else (1.0, 1.0)
        instances = info.get('instances', [])
        # An `ignore` instance is don't-care whatever its text says.
        texts = [None if inst.get('ignore', False) else inst.get('text') for inst in instances]
        sizes = image_text_sizes([inst.get('polygon') for inst in instances], texts,
                                 scale=scale, min_length=min_length, where=where)
        records.append(dict(img_path=info.get('img_path'),
                            regime=info.get('regime') or NO_REGIME, width=width,
                            height=height, scale_factor=list(scale), **sizes))
    return records


__all__ = [
    'REGIME_ORDER', 'NO_REGIME', 'ResizeFn', 'keep_ratio_resize', 'long_side_resize',
    'config_resize', 'image_records'
]
