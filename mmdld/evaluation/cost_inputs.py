"""What the per-scale cost tools measure on, and the config line they print.

The FLOPs tool (``measure_scale_costs.py``), the latency tool (``measure_scale_latency.py``)
and the DRS budget calibration (``calibrate_drs_budget.py``) measure the same model on the same
images: the student of a DLD config (else its model) with the weights that will be distilled or
deployed, on held-out images of a dataloader (or one blank image), and the DRS's FLOPs on those
images. The counting itself is :func:`mmdld.models.utils.measure_scale_flops`.

The error messages start with ``measure_scale_costs:``, the tool that defined these inputs; the
other tools report them unchanged.
"""
import itertools
from typing import Iterable, List, Optional, Sequence

import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.runner import Runner, load_checkpoint

from mmdld.models.distillers.scale_costs import selector_gflops


def select_model_cfg(cfg: Config, model_key: Optional[str]) -> dict:
    """The model config at ``model_key`` (default ``model.student`` or ``model``).

    Args:
        cfg (Config): The config of a spotter or of a DLD model.
        model_key (str, optional): Dotted key of the model, e.g. ``'model.teacher'``.

    Returns:
        dict: A copy of the model config, with the config's top-level ``data_preprocessor``
        when it has none of its own.

    Raises:
        KeyError: If the config has no ``model``, no ``model_key``, or the key is no model
            config (a dict with ``type``).
    """
    if 'model' not in cfg:
        raise KeyError('measure_scale_costs: the config has no `model`')
    if model_key is None:
        model_key = 'model.student' if 'student' in cfg.model else 'model'
    node = cfg
    for name in model_key.split('.'):
        if name not in node:
            raise KeyError(f'measure_scale_costs: the config has no key `{model_key}` '
                           f'(missing `{name}`)')
        node = node[name]
    if not isinstance(node, dict) or 'type' not in node:
        raise KeyError(f'measure_scale_costs: `{model_key}` is not a model config (a dict with '
                       f'`type`)')
    model_cfg = dict(node)
    if 'data_preprocessor' not in model_cfg and 'data_preprocessor' in cfg:
        model_cfg['data_preprocessor'] = cfg.data_preprocessor
    return model_cfg


def blank_batches(shape: Sequence[int]) -> List[dict]:
    """One batch with a single blank uint8 image of ``shape`` ``(H, W)``."""
    h, w = shape
    sample = DetDataSample(metainfo=dict(
        img_shape=(h, w), ori_shape=(h, w), scale_factor=(1., 1.), img_id=0, img_path=''))
    return [dict(inputs=[torch.zeros(3, h, w, dtype=torch.uint8)], data_samples=[sample])]


def default_split(cfg: Config) -> str:
    """``val`` when the config has a validation dataloader, else ``test``."""
    return 'val' if cfg.get('val_dataloader') else 'test'


def dataset_batches(cfg: Config, split: str, num_images: int) -> Iterable[dict]:
    """The first ``num_images`` images of a dataloader of the config, one per batch.

    Raises:
        KeyError: If the config has no ``<split>_dataloader``.
    """
    key = f'{split}_dataloader'
    if not cfg.get(key):
        raise KeyError(f'measure_scale_costs: the config has no `{key}`; use --split or '
                       f'--shape')
    loader_cfg = cfg[key].copy()
    loader_cfg.update(batch_size=1, num_workers=0, persistent_workers=False)
    loader = Runner.build_dataloader(loader_cfg)
    return itertools.islice(loader, num_images)


def load_weights(model: torch.nn.Module, checkpoint: str) -> None:
    """Loads a spotter checkpoint, or the student of a DLD checkpoint, into ``model``."""
    load_checkpoint(model, checkpoint, map_location='cpu', revise_keys=[(r'^student\.', '')])


def selector_flops_of(model: torch.nn.Module, selector: torch.nn.Module, batch: dict) -> float:
    """FLOPs of the DRS on one batch at full resolution (the batch's total).

    Args:
        model (nn.Module): The measured spotter; its ``data_preprocessor`` prepares the batch.
        selector (nn.Module): The DRS, in eval mode.
        batch (dict): A dataloader batch (``inputs``/``data_samples``).
    """
    data = model.data_preprocessor(batch, False)
    inputs = data['inputs']
    shapes = [s.metainfo['img_shape'] for s in data['data_samples']]
    with torch.no_grad():
        return selector_gflops(selector, inputs, shapes) * 1e9 * inputs.size(0)


def format_costs(costs: Sequence[float]) -> str:
    """The config line, e.g. ``scale_costs=[0.6571, 0.5124]``."""
    return 'scale_costs=[' + ', '.join(f'{c:.4f}' for c in costs) + ']'

