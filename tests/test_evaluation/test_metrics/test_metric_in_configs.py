"""The dataset configs' evaluators build into E2ESpottingMetric with their lexicon settings."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

from mmdld.evaluation import E2ESpottingMetric
from mmdld.registry import METRICS

ROOT = osp.join(osp.dirname(__file__), '..', '..', '..')
DATASET_CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', '_base_', 'datasets', '*.py')))


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
