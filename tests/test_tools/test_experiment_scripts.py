"""Command-line handling of tools/run_demo.py, tools/reproduce.py and benchmark_inference.py."""
import os.path as osp

import pytest
from helpers import REPO_ROOT
from mmengine.config import Config


def test_run_demo_budget_from_flag_or_environment(monkeypatch, load_tool):
    run_demo = load_tool('tools/run_demo.py')
    monkeypatch.delenv('MMDLD_DEMO_BUDGET', raising=False)
    assert run_demo.parse_args([]).budget == 'demo'
    assert run_demo.parse_args(['--budget', 'tiny']).budget == 'tiny'
    monkeypatch.setenv('MMDLD_DEMO_BUDGET', 'tiny')
    assert run_demo.parse_args([]).budget == 'tiny'
    monkeypatch.setenv('MMDLD_DEMO_BUDGET', 'huge')
    with pytest.raises(SystemExit):
        run_demo.parse_args([])


def test_scripts_run_from_the_repository_root(load_tool):
    # The configs name their data and each other relative to the repository root.
    for rel in ('tools/run_demo.py', 'tools/reproduce.py'):
        assert load_tool(rel).REPO == REPO_ROOT


def test_budgets_name_existing_configs_that_chain(load_tool):
    for rel in ('tools/run_demo.py', 'tools/reproduce.py'):
        for name, budget in load_tool(rel).BUDGETS.items():
            teacher = Config.fromfile(osp.join(REPO_ROOT, budget['teacher']))
            student = Config.fromfile(osp.join(REPO_ROOT, budget['student']))
            # The student distils the teacher of the same budget, on the same data.
            assert student.model.teacher == budget['teacher'], (rel, name)
            assert student.test_dataloader.dataset.data_root == \
                teacher.test_dataloader.dataset.data_root, (rel, name)
            assert student.model.student == teacher.model, (rel, name)


def test_benchmark_inference_rejects_bad_counts(load_tool):
    tool = load_tool('tools/analysis_tools/benchmark_inference.py')
    with pytest.raises(SystemExit, match='--batch-size must be >= 1'):
        tool.main(['t.py', 't.pth', 's.py', 's.pth', '--batch-size', '0'])
