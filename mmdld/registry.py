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


def _child(parent: Registry, package: str) -> Registry:
    """The mmdld registry under MMDetection's ``parent``, filled by importing ``package``.

    Args:
        parent (Registry): MMDetection's registry of the same kind; the child takes its name.
        package (str): The subpackage of ``mmdld`` whose modules register into the child.

    Returns:
        Registry: The child, of scope ``mmdld``.
    """
    return Registry(parent.name, parent=parent, scope='mmdld', locations=[f'mmdld.{package}'])


# One child per MMDetection registry, so that every kind of object a config names (optimizers,
# log processors, ...) resolves from the mmdld scope without a "failed to search" fallback.
RUNNERS = _child(mmdet_registry.RUNNERS, 'engine')
RUNNER_CONSTRUCTORS = _child(mmdet_registry.RUNNER_CONSTRUCTORS, 'engine')
LOOPS = _child(mmdet_registry.LOOPS, 'engine')
HOOKS = _child(mmdet_registry.HOOKS, 'engine')
DATASETS = _child(mmdet_registry.DATASETS, 'datasets')
DATA_SAMPLERS = _child(mmdet_registry.DATA_SAMPLERS, 'datasets')
TRANSFORMS = _child(mmdet_registry.TRANSFORMS, 'datasets')
MODELS = _child(mmdet_registry.MODELS, 'models')
MODEL_WRAPPERS = _child(mmdet_registry.MODEL_WRAPPERS, 'models')
WEIGHT_INITIALIZERS = _child(mmdet_registry.WEIGHT_INITIALIZERS, 'models')
OPTIMIZERS = _child(mmdet_registry.OPTIMIZERS, 'engine')
OPTIM_WRAPPERS = _child(mmdet_registry.OPTIM_WRAPPERS, 'engine')
OPTIM_WRAPPER_CONSTRUCTORS = _child(mmdet_registry.OPTIM_WRAPPER_CONSTRUCTORS, 'engine')
PARAM_SCHEDULERS = _child(mmdet_registry.PARAM_SCHEDULERS, 'engine')
METRICS = _child(mmdet_registry.METRICS, 'evaluation')
EVALUATOR = _child(mmdet_registry.EVALUATOR, 'evaluation')
TASK_UTILS = _child(mmdet_registry.TASK_UTILS, 'models')
VISUALIZERS = _child(mmdet_registry.VISUALIZERS, 'visualization')
VISBACKENDS = _child(mmdet_registry.VISBACKENDS, 'visualization')
LOG_PROCESSORS = _child(mmdet_registry.LOG_PROCESSORS, 'engine')
