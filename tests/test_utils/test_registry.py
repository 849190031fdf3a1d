"""The mmdld scope finds mmdld, MMDetection, MMEngine and (prefixed) MMOCR modules."""
import pytest

from mmdld.registry import DATASETS, METRICS, MODELS, TRANSFORMS
from mmdld.utils import register_all_modules


@pytest.fixture(autouse=True)
def registered():
    # Imports every mmdld module, so that each has registered itself; conftest sets the scope.
    register_all_modules(init_default_scope=False)


def test_registries_are_children_of_mmdet():
    from mmdet.registry import MODELS as MMDET_MODELS
    assert MODELS.parent is MMDET_MODELS
    assert MODELS.scope == 'mmdld'
    assert MODELS.parent.parent.scope == 'mmengine'


def test_finds_mmdld_module():
    assert MODELS.get('MaskRCNNSpotter').__module__.startswith('mmdld.')
    assert MODELS.get('BiLSTMAttnHead').__module__.startswith('mmdld.')


def test_finds_mmdet_module_and_builds_it():
    assert MODELS.get('FPN').__module__.startswith('mmdet.')
    fpn = MODELS.build(dict(type='FPN', in_channels=[8, 16], out_channels=4, num_outs=2))
    assert type(fpn).__name__ == 'FPN'


def test_finds_mmengine_module():
    assert METRICS.get('DumpResults').__module__.startswith('mmengine.')


def test_finds_mmocr_module_by_prefix():
    assert DATASETS.get('mmocr.OCRDataset').__module__.startswith('mmocr.')
    assert TRANSFORMS.get('mmocr.LoadOCRAnnotations').__module__.startswith('mmocr.')


def test_unknown_name_is_none():
    assert MODELS.get('NoSuchSpotter') is None


def test_every_mmdet_registry_has_an_mmdld_child():
    from mmdet import registry as mmdet_registry
    from mmengine.registry import Registry

    import mmdld.registry as ours
    for name, value in vars(mmdet_registry).items():
        if isinstance(value, Registry) and not name.startswith('MMENGINE_'):
            child = getattr(ours, name)
            assert child.parent is value and child.scope == 'mmdld', name


def test_optimizer_and_log_processor_resolve_in_scope():
    from mmdld.registry import LOG_PROCESSORS, OPTIMIZERS
    assert OPTIMIZERS.get('AdamW').__name__ == 'AdamW'
    assert LOG_PROCESSORS.get('LogProcessor').__module__.startswith('mmengine.')
