"""Command-line handling of tools/run_demo.py, tools/reproduce.py and benchmark_inference.py."""
import importlib.util
import os.path as osp

import pytest
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _load(rel):
    spec = importlib.util.spec_from_file_location(osp.basename(rel)[:-3], osp.join(REPO, rel))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_run_demo_budget_from_flag_or_environment(monkeypatch):
    run_demo = _load('tools/run_demo.py')
    monkeypatch.delenv('MMDLD_DEMO_BUDGET', raising=False)
    assert run_demo.parse_args([]).budget == 'demo'
    assert run_demo.parse_args(['--budget', 'tiny']).budget == 'tiny'
    monkeypatch.setenv('MMDLD_DEMO_BUDGET', 'tiny')
    assert run_demo.parse_args([]).budget == 'tiny'
    monkeypatch.setenv('MMDLD_DEMO_BUDGET', 'huge')
    with pytest.raises(SystemExit):
        run_demo.parse_args([])


def test_budgets_name_existing_configs_that_chain():
    for rel in ('tools/run_demo.py', 'tools/reproduce.py'):
        for name, budget in _load(rel).BUDGETS.items():
            teacher = Config.fromfile(osp.join(REPO, budget['teacher']))
            student = Config.fromfile(osp.join(REPO, budget['student']))
            # The student distils the teacher of the same budget, on the same data.
            assert student.model.teacher == budget['teacher'], (rel, name)
            assert student.test_dataloader.dataset.data_root == \
                teacher.test_dataloader.dataset.data_root, (rel, name)
            assert student.model.student == teacher.model, (rel, name)


def test_benchmark_inference_rejects_bad_counts():
    tool = _load('tools/analysis_tools/benchmark_inference.py')
    with pytest.raises(SystemExit, match='--batch-size must be >= 1'):
        tool.main(['t.py', 't.pth', 's.py', 's.pth', '--batch-size', '0'])
