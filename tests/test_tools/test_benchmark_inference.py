"""Pieces of the side-by-side speed benchmark that need no trained model."""
import os.path as osp

import pytest
from helpers import CONFIG_DIR
from mmengine.config import Config

TEACHER = osp.join(CONFIG_DIR, 'demo', 'spotter_r18w32_demo.py')


@pytest.fixture
def tool(load_tool):
    return load_tool('tools/analysis_tools/benchmark_inference.py')


def test_resized_pipeline_keeps_the_aspect_bound(tool):
    resized_pipeline = tool.resized_pipeline
    cfg = Config.fromfile(TEACHER)
    pipeline = resized_pipeline(cfg, 480)
    resize = [t for t in pipeline if t['type'] == 'mmocr.Resize']
    assert [tuple(t['scale']) for t in resize] == [(1920, 480)]
    # The config itself is untouched.
    assert tuple(cfg.test_dataloader.dataset.pipeline[1]['scale']) == (1280, 320)
    cfg.test_dataloader.dataset.pipeline = [dict(type='LoadImageFromFile')]
    with pytest.raises(ValueError, match='no Resize'):
        resized_pipeline(cfg, 320)


def test_format_rows(tool):
    rows = [dict(short_side=320, teacher_ms=200.0, student_ms=100.0, time_ratio=2.0,
                 teacher_gflops=4.0, student_gflops=1.6, flops_ratio=2.5,
                 student_avg_scale=0.55)]
    lines = tool.format_rows(rows).splitlines()
    assert lines[2] == '| S-320 | 200 | 100 | 2.00x | 4.00 | 1.60 | 2.50x | 0.550 |'


def test_replace_section_keeps_other_sections(tmp_path, tool):
    replace_section = tool.replace_section
    doc = tmp_path / 'benchmarks.md'
    doc.write_text('# Benchmarks\n\n## DLD training step cost\n\ntheirs\n')
    replace_section(str(doc), 'Inference speed', 'first')
    assert doc.read_text() == ('# Benchmarks\n\n## DLD training step cost\n\ntheirs\n\n'
                               '## Inference speed\n\nfirst\n')
    doc.write_text(doc.read_text() + '\n## Later\n\nkept\n')
    replace_section(str(doc), 'Inference speed', 'second')
    text = doc.read_text()
    assert 'first' not in text and '## Inference speed\n\nsecond\n\n## Later\n\nkept' in text
    assert '## DLD training step cost\n\ntheirs' in text
    new = tmp_path / 'new.md'
    replace_section(str(new), 'Inference speed', 'x')
    assert new.read_text() == '# Benchmarks\n\n## Inference speed\n\nx\n'
