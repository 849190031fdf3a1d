"""The ``mmdld`` registry scope.

Every registry here is a child of MMDetection's registry of the same kind (and through it of
MMEngine's root registry), so a config with ``default_scope='mmdld'`` finds mmdld modules first,
then MMDetection's, then MMEngine's. MMOCR modules are reached with their scope prefix, e.g.
``type='mmocr.OCRDataset'``: MMEngine resolves a prefixed key through the root registry's
children, importing ``mmocr.registry`` on demand.

``locations`` lists the packages whose import registers mmdld's modules, so that building from a
config imports them lazily even when nobody imported :mod:`mmdld` first.
"""
from mmdet.registry import DATA_SAMPLERS as MMDET_DATA_SAMPLERS
from mmdet.registry import DATASETS as MMDET_DATASETS
from mmdet.registry import EVALUATOR as MMDET_EVALUATOR
from mmdet.registry import HOOKS as MMDET_HOOKS
from mmdet.registry import LOOPS as MMDET_LOOPS
from mmdet.registry import METRICS as MMDET_METRICS
from mmdet.registry import MODEL_WRAPPERS as MMDET_MODEL_WRAPPERS
from mmdet.registry import MODELS as MMDET_MODELS
from mmdet.registry import OPTIM_WRAPPERS as MMDET_OPTIM_WRAPPERS
from mmdet.registry import PARAM_SCHEDULERS as MMDET_PARAM_SCHEDULERS
from mmdet.registry import TASK_UTILS as MMDET_TASK_UTILS
from mmdet.registry import TRANSFORMS as MMDET_TRANSFORMS
from mmdet.registry import VISBACKENDS as MMDET_VISBACKENDS
from mmdet.registry import VISUALIZERS as MMDET_VISUALIZERS
from mmengine.registry import Registry

DATASETS = Registry(
    'dataset', parent=MMDET_DATASETS, locations=['mmdld.datasets'])
DATA_SAMPLERS = Registry(
    'data sampler', parent=MMDET_DATA_SAMPLERS, locations=['mmdld.datasets'])
TRANSFORMS = Registry(
    'transform', parent=MMDET_TRANSFORMS, locations=['mmdld.datasets'])
MODELS = Registry('model', parent=MMDET_MODELS, locations=['mmdld.models'])
MODEL_WRAPPERS = Registry(
    'model_wrapper', parent=MMDET_MODEL_WRAPPERS, locations=['mmdld.models'])
TASK_UTILS = Registry(
    'task util', parent=MMDET_TASK_UTILS, locations=['mmdld.models'])
HOOKS = Registry('hook', parent=MMDET_HOOKS, locations=['mmdld.engine'])
LOOPS = Registry('loop', parent=MMDET_LOOPS, locations=['mmdld.engine'])
OPTIM_WRAPPERS = Registry(
    'optim_wrapper', parent=MMDET_OPTIM_WRAPPERS, locations=['mmdld.engine'])
PARAM_SCHEDULERS = Registry(
    'parameter scheduler',
    parent=MMDET_PARAM_SCHEDULERS,
    locations=['mmdld.engine'])
METRICS = Registry(
    'metric', parent=MMDET_METRICS, locations=['mmdld.evaluation'])
EVALUATOR = Registry(
    'evaluator', parent=MMDET_EVALUATOR, locations=['mmdld.evaluation'])
VISUALIZERS = Registry(
    'visualizer', parent=MMDET_VISUALIZERS, locations=['mmdld.visualization'])
VISBACKENDS = Registry(
    'vis_backend', parent=MMDET_VISBACKENDS, locations=['mmdld.visualization'])
