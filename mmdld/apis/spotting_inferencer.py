"""``SpottingInferencer``: MMEngine's inferencer workflow for any mmdld model."""
import json
import os
import os.path as osp
from datetime import datetime
from typing import Any, Dict, Iterable, List, Optional, Union

import mmcv
import numpy as np
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.infer import BaseInferencer
from mmengine.visualization import Visualizer
from torch import nn

from mmdld.registry import VISUALIZERS
from .inference import calibrate_budget, cost_offset_applied, init_spotter, pipeline_input
from .inputs import ImagesType, list_images
from .pipelines import IMAGE_LOADERS, inference_pipeline_cfg, transform_name

Prediction = Dict[str, Any]


def pred2dict(sample: DetDataSample) -> Prediction:
    """The JSON-ready prediction of one image.

    Returns:
        dict: ``polygons`` (flat ``[x1, y1, x2, y2, ...]`` per word), ``bboxes``, ``scores``
        and ``texts`` in the original image frame; for DLD models ``scale`` (the scale the
        DRS chose) and ``gflops`` (the GFLOPs of inference at that scale).
    """
    pred = sample.pred_instances.cpu().numpy()
    out: Prediction = dict(
        polygons=[np.asarray(p, dtype=float).reshape(-1).tolist() for p in pred.get(
            'polygons', [])],
        bboxes=np.asarray(pred.get('bboxes', np.zeros((0, 4))), dtype=float).tolist(),
        scores=np.asarray(pred.get('scores', []), dtype=float).tolist(),
        texts=[str(t) for t in pred.get('texts', [])])
    if 'dld_scale' in sample.metainfo:
        out['scale'] = float(sample.metainfo['dld_scale'])
    if 'dld_gflops' in sample.metainfo:
        out['gflops'] = float(sample.metainfo['dld_gflops'])
    return out


class SpottingInferencer(BaseInferencer):
    """Spots text with any mmdld model (a spotter or a DLD distiller); draws and saves it.

    MMOCR's inferencers build their model in the ``mmocr`` scope and expect its data samples;
    this one builds the model with :func:`~mmdld.apis.init_spotter`, feeds the config's test
    pipeline without its annotation loaders, draws with mmdld's ``SpottingLocalVisualizer``
    and writes one JSON per image (:func:`pred2dict`).

    Example:
        >>> inferencer = SpottingInferencer('configs/dld/dld_r50_totaltext.py', 'dld.pth')
        >>> inferencer('imgs/', img_out_dir='vis/', pred_out_dir='preds/')

    Args:
        model (str | Config): Config file or loaded config.
        weights (str, optional): Checkpoint; random weights (with a warning) when None.
        device (str): Device, e.g. ``'cpu'`` or ``'cuda:0'``.
        cfg_options (dict, optional): Overrides merged into the config first.

    A call takes the inputs (an image path or a BGR array, a folder, a glob, or a list of
    these) and, as keywords: ``batch_size`` (images per ``test_step``), ``img_out_dir`` and
    ``pred_out_dir`` (where drawings and JSON predictions go, '' for none),
    ``pred_score_thr`` (words below it are not drawn), ``print_result``, ``return_vis``,
    ``show``, ``wait_time``, ``draw_pred`` and ``return_datasamples``, and for DLD models a
    cost budget: ``budget`` with ``budget_unit`` and ``latency_file`` as in
    :func:`~mmdld.apis.inference_spotter` (the DRS offset that meets it on all the call's
    images applies to this call). It returns a dict: ``predictions`` (one :func:`pred2dict`
    dict, or one ``DetDataSample``, per image), ``visualization`` (the RGB drawings, or None
    when none were made) and, with a budget, ``budget`` (the budget, its unit, the offset
    applied and the mean cost of the choices with and without it).
    """

    preprocess_kwargs: set = set()
    forward_kwargs: set = set()
    visualize_kwargs: set = {
        'return_vis', 'show', 'wait_time', 'draw_pred', 'pred_score_thr', 'img_out_dir'
    }
    postprocess_kwargs: set = {'print_result', 'pred_out_dir'}

    def __init__(self,
                 model: Union[str, Config],
                 weights: Optional[str] = None,
                 device: str = 'cpu',
                 cfg_options: Optional[Dict[str, Any]] = None) -> None:
        self.cfg_options = dict(cfg_options or {})
        # Counters naming the outputs of array inputs, across calls.
        self.num_visualized_imgs = 0
        self.num_predicted_imgs = 0
        super().__init__(model=model, weights=weights, device=device, scope='mmdld')

    def __call__(self,
                 inputs: ImagesType,
                 return_datasamples: bool = False,
                 batch_size: int = 1,
                 budget: Optional[float] = None,
                 budget_unit: str = 'relative',
                 latency_file: Optional[str] = None,
                 **kwargs) -> dict:
        """Spots the text of ``inputs``; with a ``budget``, at the offset that meets it."""
        if budget is None:
            return super().__call__(inputs, return_datasamples, batch_size, **kwargs)
        images = self._inputs_to_list(inputs)
        calibration, costs = calibrate_budget(
            self.model, self.preprocess(images, batch_size=batch_size), budget, budget_unit,
            latency_file)
        with cost_offset_applied(self.model, calibration.offset, costs.costs):
            results = super().__call__(images, return_datasamples, batch_size, **kwargs)
        results['budget'] = dict(budget=float(budget), unit=budget_unit,
                                 offset=calibration.offset, mean_cost=calibration.mean_cost,
                                 unbudgeted_cost=calibration.unbudgeted_cost)
        return results

    def _init_model(self, cfg: Config, weights: Optional[str], device: str = 'cpu') -> nn.Module:
        # The overrides go into `cfg` itself: the pipeline is built from it next.
        if self.cfg_options:
            cfg.merge_from_dict(self.cfg_options)
        return init_spotter(cfg, weights, device)

    def _init_pipeline(self, cfg: Config) -> Compose:
        pipeline = inference_pipeline_cfg(cfg)
        loader = next(t for t in cfg.test_dataloader.dataset.pipeline
                      if transform_name(t) in IMAGE_LOADERS)
        # The drawings read the image as the pipeline does (EXIF orientation alike).
        self.color_type = loader.get('color_type', 'color')
        return Compose(pipeline)

    def _init_visualizer(self, cfg: Config) -> Visualizer:
        name = 'spotting_inferencer'
        if Visualizer.check_instance_created(name):
            name = f'{name}-{datetime.now().timestamp()}'
        return VISUALIZERS.build(dict(type='SpottingLocalVisualizer', name=name))

    def _inputs_to_list(self, inputs: ImagesType) -> list:
        return list_images(inputs)

    def preprocess(self, inputs: List[Any], batch_size: int = 1, **kwargs) -> Iterable[dict]:
        """Batches of pipeline outputs, collated (image ids count from 0 in each call)."""
        data = (self.pipeline(pipeline_input(img, i)) for i, img in enumerate(inputs))
        yield from map(self.collate_fn, self._get_chunk_data(data, batch_size))

    def visualize(self,
                  inputs: List[Any],
                  preds: List[DetDataSample],
                  return_vis: bool = False,
                  show: bool = False,
                  wait_time: float = 0,
                  draw_pred: bool = True,
                  pred_score_thr: float = 0.5,
                  img_out_dir: str = '') -> Optional[List[np.ndarray]]:
        """Draws each image with its words (``img_out_dir/<image name>``).

        Returns:
            list[np.ndarray] | None: The RGB drawings, or None when nothing asks for them.
        """
        if not (return_vis or show or img_out_dir):
            return None
        drawings = []
        for image, pred in zip(inputs, preds):
            if isinstance(image, np.ndarray):
                rgb, name = image[..., ::-1].copy(), f'{self.num_visualized_imgs:08d}.jpg'
            else:
                rgb = mmcv.imread(image, flag=self.color_type, channel_order='rgb')
                name = osp.basename(image)
            self.num_visualized_imgs += 1
            out_file = osp.join(img_out_dir, name) if img_out_dir else None
            drawings.append(
                self.visualizer.add_datasample(
                    name, rgb, data_sample=pred, draw_gt=False, draw_pred=draw_pred,
                    show=show, wait_time=wait_time, pred_score_thr=pred_score_thr,
                    out_file=out_file))
        return drawings

    def postprocess(self,
                    preds: List[DetDataSample],
                    visualization: Optional[List[np.ndarray]] = None,
                    return_datasample: bool = False,
                    print_result: bool = False,
                    pred_out_dir: str = '') -> dict:
        """Converts, prints and saves the predictions (``pred_out_dir/<image stem>.json``)."""
        dicts = [pred2dict(pred) for pred in preds]
        if pred_out_dir:
            os.makedirs(pred_out_dir, exist_ok=True)
        for pred, result in zip(preds, dicts):
            img_path = pred.metainfo.get('img_path')
            stem = (osp.splitext(osp.basename(img_path))[0]
                    if img_path else f'{self.num_predicted_imgs:08d}')
            self.num_predicted_imgs += 1
            if pred_out_dir:
                with open(osp.join(pred_out_dir, f'{stem}.json'), 'w', encoding='utf-8') as f:
                    json.dump(dict(result, img_path=img_path), f, indent=2)
            if print_result:
                print(json.dumps(dict(result, img_path=img_path)))
        return dict(predictions=preds if return_datasample else dicts,
                    visualization=visualization)
