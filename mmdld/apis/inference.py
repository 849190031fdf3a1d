"""Building a trained mmdld model and spotting the text of images with it."""
import copy
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from torch import Tensor, nn

from mmdld.models.selectors import BudgetCalibration, calibrate_offset
from mmdld.models.selectors.budget_costs import BudgetCosts, budget_costs
from mmdld.registry import DATASETS, MODELS
from mmdld.utils.setup_env import register_all_modules
from .inputs import ImagesType, is_single_image, list_images
from .pipelines import inference_pipeline_cfg


def init_spotter(config: Union[str, Path, Config],
                 checkpoint: Optional[str] = None,
                 device: str = 'cpu',
                 cfg_options: Optional[Dict[str, Any]] = None) -> nn.Module:
    """Builds any mmdld model, a spotter or a DLD distiller, for inference.

    MMDetection's ``init_detector`` assumes a ``model.backbone``, which a DLD distiller's config
    (teacher, student, selector) does not have. The model is built without ``init_weights``, so
    no ImageNet weights are downloaded; the weights are the checkpoint's, read by MMEngine with
    the loader mmdld registers for local files (:mod:`mmdld.utils.checkpoint`: torch's
    ``weights_only`` loading plus an allowlist of data-only types).

    Args:
        config (str | Path | Config): A config file or a loaded config (not modified).
        checkpoint (str, optional): Weights; random weights (with a warning) when None.
        device (str): Device of the model, e.g. ``'cpu'`` or ``'cuda:0'``.
        cfg_options (dict, optional): Overrides merged into the config, e.g.
            ``{'model.teacher_ckpt': None}`` for a DLD model whose teacher checkpoint is not
            at hand (inference runs the DRS and the student only).

    Returns:
        nn.Module: The model in eval mode on ``device``, with ``cfg`` (the config used) and
        ``dataset_meta`` (the checkpoint's, else the test dataset class's ``METAINFO``).
    """
    if isinstance(config, (str, Path)):
        cfg = Config.fromfile(str(config))
    elif isinstance(config, Config):
        cfg = copy.deepcopy(config)
    else:
        raise TypeError(f'config must be a file path or a Config, got {type(config).__name__}')
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    register_all_modules(init_default_scope=False)
    init_default_scope(cfg.get('default_scope', 'mmdld'))
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    meta: Dict[str, Any] = {}
    if checkpoint is None:
        warnings.warn('init_spotter: no checkpoint, the model keeps its initial weights')
    else:
        meta = load_checkpoint(model, checkpoint, map_location='cpu').get('meta') or {}
    model.cfg = cfg
    model.dataset_meta = meta.get('dataset_meta') or _test_dataset_metainfo(cfg)
    return model.to(device).eval()


def _test_dataset_metainfo(cfg: Config) -> dict:
    """``METAINFO`` of the test dataset's class (without building it, which reads the data)."""
    dataset_type = cfg.get('test_dataloader', {}).get('dataset', {}).get('type')
    dataset_cls = DATASETS.get(dataset_type) if isinstance(dataset_type, str) else dataset_type
    return copy.deepcopy(dict(getattr(dataset_cls, 'METAINFO', {}) or {}))


def pipeline_input(image: Union[str, np.ndarray], index: int) -> dict:
    """The input dict of the inference pipeline for an image path or a BGR array."""
    if isinstance(image, np.ndarray):
        return dict(img=image, img_id=index)
    return dict(img_path=str(image), img_id=index)


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """``items`` in consecutive slices of ``size`` (the last one may be shorter)."""
    if size < 1:
        raise ValueError(f'batch_size must be >= 1, got {size}')
    for start in range(0, len(items), size):
        yield items[start:start + size]


def drs_logits(model: nn.Module, batches: Iterable[dict]) -> Tensor:
    """The DRS logits of a DLD model on dataloader batches, without the test-time offset.

    Each batch goes through the model's data preprocessor; the first one also serves to
    measure the costs the model does not know yet (:meth:`DLDDistiller.prepare_costs`, as
    its first test step would).

    Args:
        model (nn.Module): A DLD model with a DRS (``model.selector``).
        batches (Iterable[dict]): Collated batches (``inputs`` and ``data_samples``).

    Returns:
        Tensor: ``[N, k]`` logits, one row per image in order (on the CPU).
    """
    if getattr(model, 'selector', None) is None:
        raise ValueError(f'a cost budget needs a DLD model with a DRS (`model.selector`); '
                         f'{type(model).__name__} has none')
    rows = []
    with torch.no_grad():
        for batch in batches:
            data = model.data_preprocessor(batch, False)
            inputs, samples = data['inputs'], data['data_samples']
            if not model.costs_ready:
                model.prepare_costs(inputs, samples)
            rows.append(model.selector(inputs, [s.metainfo['img_shape'][:2] for s in samples])
                        .float().cpu())
    if not rows:
        raise ValueError('drs_logits: no image to calibrate the budget on')
    return torch.cat(rows)


def calibrate_budget(model: nn.Module,
                     batches: Iterable[dict],
                     budget: float,
                     unit: str = 'relative',
                     latency_file: Optional[str] = None
                     ) -> Tuple[BudgetCalibration, BudgetCosts]:
    """The DRS offset that meets a mean-cost budget on these images (``docs/budget.md``).

    Args:
        model (nn.Module): A DLD model with a DRS.
        batches (Iterable[dict]): Collated batches of the images.
        budget (float): Mean cost per image, in ``unit``.
        unit (str): ``'relative'`` (``T_i``), ``'gflops'`` or ``'ms'`` (with
            ``latency_file``), see :data:`mmdld.models.selectors.budget_costs.BUDGET_UNITS`.
        latency_file (str, optional): The JSON of ``measure_scale_latency.py``.

    Returns:
        tuple: The :class:`BudgetCalibration` and the :class:`BudgetCosts` it used.
    """
    logits = drs_logits(model, batches)
    costs = budget_costs(model, unit, latency_file)
    unit_name = '' if unit == 'relative' else unit.replace('gflops', 'GFLOPs')
    return calibrate_offset(logits, costs.costs, budget, scales=model.scales,
                            unit=unit_name), costs


@contextmanager
def cost_offset_applied(model: nn.Module, offset: float,
                        costs: Sequence[float]) -> Iterator[None]:
    """Runs a block with the DRS's test-time offset set, then restores the model's own."""
    selector = model.selector
    previous = (selector.cost_offset, selector.offset_costs)
    selector.set_cost_offset(offset, costs)
    try:
        yield
    finally:
        selector.set_cost_offset(*previous)


def inference_spotter(model: nn.Module,
                      imgs: ImagesType,
                      batch_size: int = 1,
                      budget: Optional[float] = None,
                      budget_unit: str = 'relative',
                      latency_file: Optional[str] = None
                      ) -> Union[DetDataSample, List[DetDataSample]]:
    """Spots the text of images with a model from :func:`init_spotter`.

    Args:
        model (nn.Module): A spotter or DLD distiller with its ``cfg``.
        imgs: An image path or a BGR array, a folder, a glob, or a list of these.
        batch_size (int): Images per ``test_step``. A DLD model picks a scale per image and
            runs its student once per scale present in a batch.
        budget (float, optional): DLD models: the mean cost per image these images may take.
            The DRS logits of all of them are computed first, the offset that meets the
            budget on them is found (:func:`calibrate_budget`) and applied to this call only.
            None: the model's own choice (its config's ``cost_offset``, 0 by default).
        budget_unit (str): Unit of ``budget``: ``'relative'`` (``T_i``, relative to the
            teacher at full resolution), ``'gflops'`` (GFLOPs per image, the DRS included)
            or ``'ms'`` (per image on the device of ``latency_file``, the DRS included).
        latency_file (str, optional): The JSON of
            ``tools/analysis_tools/measure_scale_latency.py``, for ``'ms'``.

    Returns:
        DetDataSample | list[DetDataSample]: One sample for a single image, else one per image
        in order. ``pred_instances`` hold ``polygons``, ``bboxes``, ``scores`` and ``texts`` in
        the original image frame; a DLD model's samples have the chosen scale and its GFLOPs in
        the metainfo (``dld_scale``, ``dld_gflops``), and with a budget the offset applied
        (``dld_cost_offset``).
    """
    images = list_images(imgs)
    pipeline = Compose(inference_pipeline_cfg(model.cfg))

    def batches() -> Iterator[dict]:
        for offset, chunk in enumerate(chunks(images, batch_size)):
            start = offset * batch_size
            yield pseudo_collate(
                [pipeline(pipeline_input(img, start + i)) for i, img in enumerate(chunk)])

    results: List[DetDataSample] = []
    if budget is None:
        with torch.no_grad():
            for batch in batches():
                results.extend(model.test_step(batch))
    else:
        calibration, costs = calibrate_budget(model, batches(), budget, budget_unit,
                                              latency_file)
        with torch.no_grad(), cost_offset_applied(model, calibration.offset, costs.costs):
            for batch in batches():
                results.extend(model.test_step(batch))
        for sample in results:
            sample.set_metainfo(dict(dld_cost_offset=calibration.offset))
    return results[0] if is_single_image(imgs) else results
