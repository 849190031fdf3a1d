"""The ``mmdld`` registry scope.

Every registry here is a child of MMDetection's registry of the same kind (and through it of
MMEngine's root registry), so a config with ``default_scope='mmdld'`` finds mmdld modules first,
then MMDetection's, then MMEngine's. MMOCR modules are reached with their scope prefix, e.g.
``type='mmocr.OCRDataset'``: MMEngine resolves a prefixed key through the root registry's
children, importing ``mmocr.registry`` on demand.

``locations`` lists the packages whose import registers mmdld's modules, so that building from a
config imports them lazily even when nobody imported :mod:`mmdld` first.
"""
from mmdet import registry as mmdet_registry
from mmengine.registry import Registry

# One child per MMDetection registry, so that every kind of object a config names (optimizers,
# log processors, ...) resolves from the mmdld scope without a "failed to search" fallback.
RUNNERS = Registry('runner', parent=mmdet_registry.RUNNERS, locations=['mmdld.engine'])
RUNNER_CONSTRUCTORS = Registry(
    'runner constructor', parent=mmdet_registry.RUNNER_CONSTRUCTORS, locations=['mmdld.engine'])
LOOPS = Registry('loop', parent=mmdet_registry.LOOPS, locations=['mmdld.engine'])
HOOKS = Registry('hook', parent=mmdet_registry.HOOKS, locations=['mmdld.engine'])
DATASETS = Registry('dataset', parent=mmdet_registry.DATASETS, locations=['mmdld.datasets'])
DATA_SAMPLERS = Registry(
    'data sampler', parent=mmdet_registry.DATA_SAMPLERS, locations=['mmdld.datasets'])
TRANSFORMS = Registry(
    'transform', parent=mmdet_registry.TRANSFORMS, locations=['mmdld.datasets'])
MODELS = Registry('model', parent=mmdet_registry.MODELS, locations=['mmdld.models'])
MODEL_WRAPPERS = Registry(
    'model_wrapper', parent=mmdet_registry.MODEL_WRAPPERS, locations=['mmdld.models'])
WEIGHT_INITIALIZERS = Registry(
    'weight initializer', parent=mmdet_registry.WEIGHT_INITIALIZERS,
    locations=['mmdld.models'])
OPTIMIZERS = Registry(
    'optimizer', parent=mmdet_registry.OPTIMIZERS, locations=['mmdld.engine'])
OPTIM_WRAPPERS = Registry(
    'optim_wrapper', parent=mmdet_registry.OPTIM_WRAPPERS, locations=['mmdld.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor', parent=mmdet_registry.OPTIM_WRAPPER_CONSTRUCTORS,
    locations=['mmdld.engine'])
PARAM_SCHEDULERS = Registry(
    'parameter scheduler', parent=mmdet_registry.PARAM_SCHEDULERS, locations=['mmdld.engine'])
METRICS = Registry('metric', parent=mmdet_registry.METRICS, locations=['mmdld.evaluation'])
EVALUATOR = Registry(
    'evaluator', parent=mmdet_registry.EVALUATOR, locations=['mmdld.evaluation'])
TASK_UTILS = Registry('task util', parent=mmdet_registry.TASK_UTILS, locations=['mmdld.models'])
VISUALIZERS = Registry(
    'visualizer', parent=mmdet_registry.VISUALIZERS, locations=['mmdld.visualization'])
VISBACKENDS = Registry(
    'vis_backend', parent=mmdet_registry.VISBACKENDS, locations=['mmdld.visualization'])
LOG_PROCESSORS = Registry(
    'log_processor', parent=mmdet_registry.LOG_PROCESSORS, locations=['mmdld.engine'])
