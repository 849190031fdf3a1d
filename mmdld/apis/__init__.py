"""Library code of the demo, the reproduction and the speed benchmark (``tools/``)."""
from .pipeline import (cfg_options, evaluate, final_checkpoint, row_from, scale_histogram,
                       scaled_test_config, train)
from .report import (COLUMNS, METRIC_KEYS, format_table, git_commit, load_row,
                     machine_description, stage_times_section, write_report)
from .stages import StageError, StageResult, StageRunner, format_duration, python_cmd

__all__ = [
    'cfg_options', 'evaluate', 'final_checkpoint', 'row_from', 'scale_histogram',
    'scaled_test_config', 'train', 'COLUMNS', 'METRIC_KEYS', 'format_table', 'git_commit',
    'load_row', 'machine_description', 'stage_times_section', 'write_report', 'StageError',
    'StageResult', 'StageRunner', 'format_duration', 'python_cmd'
]
