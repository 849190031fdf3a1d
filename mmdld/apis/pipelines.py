"""The test pipeline of a config, as inference uses it: its ``Resize`` and a label-free copy."""
import copy
from typing import Any, Dict, List, Sequence

from mmengine.config import Config

#: Annotation loaders are dropped at inference: an image given by a user has no labels.
ANNOTATION_LOADERS = ('LoadOCRAnnotations', 'LoadAnnotations')
#: Image loaders that :func:`inference_pipeline_cfg` replaces by ``InferencerLoader``.
IMAGE_LOADERS = ('LoadImageFromFile', 'LoadImageFromNDArray')


def transform_name(transform: Dict[str, Any]) -> str:
    """A transform config's class name without its scope (``'mmocr.Resize'``: ``'Resize'``)."""
    kind = transform.get('type', '')
    return str(getattr(kind, '__name__', kind)).split('.')[-1]


def get_test_pipeline_cfg(cfg: Config) -> List[dict]:
    """The pipeline of ``cfg.test_dataloader.dataset`` (a deep copy, safe to edit)."""
    return copy.deepcopy(list(cfg.test_dataloader.dataset.pipeline))


def find_resize(pipeline: Sequence[dict], where: str = 'the test pipeline') -> dict:
    """The first ``Resize`` of ``pipeline`` (the dict itself, so that callers can edit it).

    Args:
        pipeline (Sequence[dict]): Transform configs.
        where (str): What the pipeline is, for the error message.

    Raises:
        ValueError: If there is no ``Resize`` with a ``scale``.
    """
    for transform in pipeline:
        if transform_name(transform) == 'Resize':
            if transform.get('scale') is None:
                raise ValueError(f'{where}: its Resize has no `scale`')
            return transform
    raise ValueError(f'{where} has no Resize')


def short_side(resize: dict) -> int:
    """The short side a ``Resize`` with ``keep_ratio`` scales images to (its S-N)."""
    size = resize['scale']
    return int(size) if isinstance(size, (int, float)) else int(min(size))


def inference_pipeline_cfg(cfg: Config) -> List[dict]:
    """The test pipeline for images without labels, given as paths or as BGR arrays.

    The annotation loaders are dropped and the image loader becomes ``InferencerLoader`` of the
    same scope (MMOCR's or MMDetection's), which reads a path, an array or a dict holding
    either, with the original loader's options.

    Raises:
        ValueError: If the test pipeline has no image loader.
    """
    pipeline = [
        t for t in get_test_pipeline_cfg(cfg) if transform_name(t) not in ANNOTATION_LOADERS
    ]
    for transform in pipeline:
        name = transform_name(transform)
        if name in IMAGE_LOADERS:
            scope = str(transform['type']).rpartition('.')[0] or 'mmdet'
            transform['type'] = f'{scope}.InferencerLoader'
            return pipeline
    raise ValueError(f'the test pipeline has none of {IMAGE_LOADERS}')
