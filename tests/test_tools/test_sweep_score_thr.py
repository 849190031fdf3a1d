"""Tests of tools/analysis_tools/sweep_score_thr.py (config rewriting, table and choice)."""
import os.path as osp

import pytest
from helpers import CONFIG_DIR
from mmengine.config import Config

MANGO = osp.join(CONFIG_DIR, 'mango', 'mango_r18w32_dynamic.py')


@pytest.fixture
def tool(load_tool):
    return load_tool('tools/analysis_tools/sweep_score_thr.py')


def test_one_evaluator_per_threshold_and_the_model_keeps_the_lowest(tool):
    cfg = Config.fromfile(MANGO)
    swept = tool.sweep_config(cfg, [0.5, 0.2, 0.3, 0.2])
    assert swept.model.test_cfg.score_thr == 0.2
    assert [(m['score_thr'], m['prefix']) for m in swept.test_evaluator] == [
        (0.2, 'thr0.2'), (0.3, 'thr0.3'), (0.5, 'thr0.5')]
    # Each is the config's evaluator otherwise (IoU 0.1, its lexicons); the original is kept.
    assert all(m['iou_thr'] == 0.1 and m['type'] == 'E2ESpottingMetric'
               for m in swept.test_evaluator)
    assert cfg.model.test_cfg.score_thr == 0.5 and isinstance(cfg.test_evaluator, dict)
    assert swept.test_dataloader.dataset.data_root == cfg.test_dataloader.dataset.data_root


def test_held_out_images_are_another_seed_of_the_benchmark_in_another_folder(tool, tmp_path):
    cfg = Config.fromfile(MANGO)
    swept = tool.sweep_config(cfg, [0.3], seed=7, num_images=40, data_root=str(tmp_path))
    dataset = swept.test_dataloader.dataset
    assert dataset.data_root == str(tmp_path)
    synth = cfg.test_dataloader.dataset.synth_cfg
    assert dict(dataset.synth_cfg) == dict(synth, seed=7, num_train=0, num_test=40)
    assert swept.test_evaluator[0]['data_root'] == str(tmp_path)
    with pytest.raises(ValueError, match="benchmark's own folder"):
        tool.sweep_config(cfg, [0.3], seed=7, data_root=cfg.test_dataloader.dataset.data_root)


def test_refusals_name_what_is_missing(tool):
    cfg = Config.fromfile(MANGO)
    with pytest.raises(ValueError, match="no 'cell_thr'"):
        tool.sweep_config(cfg, [0.3], model_key='cell_thr')
    cfg.test_dataloader.dataset.pop('synth_cfg')
    with pytest.raises(ValueError, match='no synth_cfg'):
        tool.sweep_config(cfg, [0.3], seed=1, data_root='/tmp/elsewhere')
    cfg.test_evaluator = [cfg.test_evaluator]
    with pytest.raises(ValueError, match='one metric config'):
        tool.sweep_config(cfg, [0.3])
    with pytest.raises(SystemExit):
        tool.parse_args([MANGO, 'x.pth', '--thresholds', '0.3', '--seed', '1'])


def test_the_table_reads_the_prefixed_keys_and_the_best_is_the_highest_e2e(tool):
    metrics = {'thr0.2/det/hmean': .9, 'thr0.2/e2e/none/hmean': .6,
               'thr0.3/det/hmean': .8, 'thr0.3/e2e/none/hmean': .7,
               'thr0.5/det/hmean': .5, 'thr0.5/e2e/none/hmean': .7}
    rows = tool.table(metrics, [0.5, 0.3, 0.2])
    assert [r['score_thr'] for r in rows] == [0.2, 0.3, 0.5]
    assert rows[1] == dict(score_thr=0.3, det_hmean=.8, e2e_hmean=.7)
    # A tie goes to the lower threshold (more words read at the same E2E).
    assert tool.best(rows)['score_thr'] == 0.3
    with pytest.raises(KeyError, match='thr0.4/det/hmean'):
        tool.table(metrics, [0.4])
