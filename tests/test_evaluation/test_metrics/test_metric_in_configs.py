"""The dataset configs' evaluators build into E2ESpottingMetric with their lexicon settings."""
import glob
import os.path as osp

import pytest
from helpers import CONFIG_DIR
from mmengine.config import Config

from mmdld.evaluation import E2ESpottingMetric
from mmdld.registry import METRICS

DATASET_CONFIGS = sorted(glob.glob(osp.join(CONFIG_DIR, '_base_', 'datasets', '*.py')))
#: The shared pipeline base has no dataset of its own; every other dataset base names its root.
PIPELINE_BASE = 'spotting_pipelines.py'
ROOTED_CONFIGS = [p for p in DATASET_CONFIGS if osp.basename(p) != PIPELINE_BASE]


@pytest.mark.parametrize('path', DATASET_CONFIGS, ids=osp.basename)
def test_dataset_config_evaluator_builds(path):
    cfg = Config.fromfile(path)
    if 'test_evaluator' not in cfg:
        pytest.fail(f'{path} has no test_evaluator')
    evaluator = cfg.test_evaluator
    metric = METRICS.build(evaluator if isinstance(evaluator, dict) else evaluator[0])
    assert isinstance(metric, E2ESpottingMetric)
    for name, template in metric.lexicons.items():
        assert name in ('strong', 'weak', 'generic', 'full'), f'{path}: unknown lexicon {name}'
        # Per-image lexicons must name the image, shared ones must not.
        assert ('{img_stem}' in template) == (name == 'strong'), f'{path}: {name}={template}'


@pytest.mark.parametrize('path', ROOTED_CONFIGS, ids=osp.basename)
def test_lexicons_are_read_from_the_test_datasets_folder(path):
    """The lexicon paths are relative to the metric's data_root, which is the test dataset's."""
    cfg = Config.fromfile(path)
    data_root = cfg.test_dataloader.dataset.get('data_root')
    assert data_root, f'{path}: the test dataset has no data_root'
    assert cfg.test_evaluator.data_root == cfg.val_evaluator.data_root == data_root
    assert all(not osp.isabs(p) and not p.startswith('data/')
               for p in cfg.test_evaluator.lexicons.values())
    metric = METRICS.build(cfg.test_evaluator)
    assert metric.lexicons and all(
        p.startswith(osp.join(data_root, 'lexicons') + osp.sep) for p in metric.lexicons.values())
