"""The comparison table of the demo and the reproduction: one row per evaluated model.

A row gathers what three tools wrote for one model: the metric's ``spotting_results.json``
and ``per_image.json`` (``E2ESpottingMetric`` with ``outfile_dir``), ``get_flops.py --out`` and
``benchmark_fps.py --out``. The table is written as Markdown (for people) and JSON (for
programs); it has the paper's columns (Table 1 and Table 8) for the synthetic benchmark, the
E2E None hmean with its bootstrap interval over the test images when the row has one.
"""
import json
import os
import os.path as osp
import re
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence, Tuple

from mmdld.utils import git_commit, machine_description
from .intervals import hmean_interval, load_records
from .stages import format_duration

#: (column title, row key, format). Accuracies are percentages.
COLUMNS: Tuple[Tuple[str, str, str], ...] = (
    ('E2E None', 'e2e_none', '{:.1f}'),
    ('E2E Full', 'e2e_full', '{:.1f}'),
    ('WS None', 'ws_none', '{:.1f}'),
    ('Det', 'det', '{:.1f}'),
    ('Rec', 'rec', '{:.1f}'),
    ('Scale', 'scale', '{:.3f}'),
    ('GFLOPs/img', 'gflops', '{:.2f}'),
    ('img/s', 'fps', '{:.2f}'),
)

#: Row key -> metric key of ``E2ESpottingMetric`` (fractions, turned into percent).
METRIC_KEYS = OrderedDict(
    e2e_none='e2e/none/hmean',
    e2e_full='e2e/full/hmean',
    ws_none='ws/none/hmean',
    det='det/hmean',
    rec='rec/accuracy',
)


def _read_json(path: str, what: str) -> Dict[str, Any]:
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what}: {path} does not exist (did its stage run?)')
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def load_row(name: str,
             metrics_json: str,
             flops_json: Optional[str] = None,
             fps_json: Optional[str] = None,
             scale: Optional[float] = None,
             per_image_json: Optional[str] = None,
             **extra: Any) -> Dict[str, Any]:
    """One row of the table from the files the evaluation tools wrote.

    Args:
        name (str): The model's name in the first column.
        metrics_json (str): ``spotting_results.json`` of ``E2ESpottingMetric``.
        flops_json (str, optional): Output of ``get_flops.py --out``.
        fps_json (str, optional): Output of ``benchmark_fps.py --out``.
        scale (float, optional): The model's input scale relative to the teacher's base size
            when fixed (teacher 1.0, Vanilla S-N); a DLD model's average comes from the metric
            (``cost/avg_scale``) and takes precedence.
        per_image_json (str, optional): The metric's ``per_image.json``: the row then gets
            ``per_image`` (the path), and ``e2e_none_low`` / ``e2e_none_high``, the 95%
            bootstrap interval of E2E None in percent (:func:`.intervals.hmean_interval`).
        **extra: Other values to keep in the row (e.g. ``config``, ``checkpoint``).

    Returns:
        dict: ``name``, the keys of :data:`COLUMNS` (None when unknown), the interval's and
        ``extra``.

    Raises:
        FileNotFoundError: If a named file is missing.
        KeyError: If the metric file lacks a metric the table needs, naming file and key.
    """
    results = _read_json(metrics_json, f'metrics of {name!r}')
    metrics = results.get('metrics')
    if not isinstance(metrics, dict):
        raise KeyError(f'{metrics_json}: no "metrics" dict; was it written by '
                       'E2ESpottingMetric?')
    row: Dict[str, Any] = OrderedDict(name=name)
    for key, metric in METRIC_KEYS.items():
        if metric in metrics:
            row[key] = 100.0 * float(metrics[metric])
        elif key in ('e2e_none', 'det'):
            raise KeyError(f'{metrics_json}: missing the metric {metric!r} of {name!r}')
        else:
            row[key] = None
    row['scale'] = float(metrics['cost/avg_scale']) if 'cost/avg_scale' in metrics else scale
    row['gflops'] = None
    if flops_json is not None:
        row['gflops'] = float(_read_json(flops_json, f'FLOPs of {name!r}')['gflops'])
    row['fps'] = None
    if fps_json is not None:
        row['fps'] = float(_read_json(fps_json, f'FPS of {name!r}')['fps'])
    row['num_images'] = results.get('num_images')
    if per_image_json is not None:
        if not osp.isfile(per_image_json):
            raise FileNotFoundError(f'per-image records of {name!r}: {per_image_json} does not '
                                    'exist (did its test stage run?)')
        interval = hmean_interval(load_records(per_image_json))
        row.update(e2e_none_low=100.0 * interval.low, e2e_none_high=100.0 * interval.high,
                   per_image=per_image_json)
    row.update(extra)
    return row


def format_cell(row: Dict[str, Any], key: str, fmt: str) -> str:
    """One cell: ``-`` when unknown; E2E None with its interval when the row has one
    (``57.7 [52.9, 62.4]``)."""
    value = row.get(key)
    if value is None:
        return '-'
    cell = fmt.format(value)
    low, high = row.get(f'{key}_low'), row.get(f'{key}_high')
    if low is not None and high is not None:
        cell += f' [{fmt.format(low)}, {fmt.format(high)}]'
    return cell


def format_table(rows: Sequence[Dict[str, Any]]) -> str:
    """A Markdown table of the rows in the order given (the teacher first, by convention).

    Missing values are shown as ``-``; a value with ``<key>_low`` and ``<key>_high`` in the
    row (E2E None) with its interval.
    """
    header = ['Model'] + [title for title, _, _ in COLUMNS]
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '|'.join(['---'] + ['---:'] * len(COLUMNS))
             + '|']
    for row in rows:
        cells = [str(row['name'])]
        cells += [format_cell(row, key, fmt) for _, key, fmt in COLUMNS]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


#: A section between ``<!-- keep:NAME -->`` and ``<!-- /keep:NAME -->`` in a page that
#: another tool wrote (the cross-spotter Table 8) survives the page being regenerated.
KEEP_SECTION = re.compile(r'<!-- keep:([\w.-]+) -->.*?<!-- /keep:\1 -->', re.DOTALL)


def keep_sections(old_page: str, new_page: str) -> str:
    """``new_page`` with the kept sections of ``old_page`` it lacks appended, in their order."""
    kept = [m.group(0) for m in KEEP_SECTION.finditer(old_page)
            if f'<!-- keep:{m.group(1)} -->' not in new_page]
    return '\n\n'.join([new_page.rstrip('\n'), *kept]) + '\n' if kept else new_page


def write_report(md_path: str,
                 rows: Sequence[Dict[str, Any]],
                 title: str,
                 notes: Sequence[str] = (),
                 extra_sections: Sequence[str] = (),
                 json_data: Optional[Dict[str, Any]] = None) -> str:
    """Writes ``md_path`` (Markdown) and the same data as JSON next to it (``.json``).

    Args:
        md_path (str): Path of the Markdown report.
        rows (Sequence[dict]): Table rows from :func:`load_row`.
        title (str): The report's heading.
        notes (Sequence[str]): Paragraphs printed under the table.
        extra_sections (Sequence[str]): Markdown appended at the end (e.g. stage times).
        json_data (dict, optional): More values for the JSON file (e.g. stage times).

    Returns:
        str: The Markdown text written.
    """
    text = '\n\n'.join([f'# {title}', format_table(rows), *notes, *extra_sections]) + '\n'
    if osp.isfile(md_path):
        with open(md_path, encoding='utf-8') as f:
            text = keep_sections(f.read(), text)
    os.makedirs(osp.dirname(osp.abspath(md_path)), exist_ok=True)
    with open(md_path, 'w', encoding='utf-8') as f:
        f.write(text)
    data = dict(json_data or {}, title=title, rows=list(rows))
    with open(osp.splitext(md_path)[0] + '.json', 'w', encoding='utf-8') as f:
        json.dump(data, f, indent=2)
    return text


def stage_times_section(results: Sequence[Any], total: float) -> str:
    """A Markdown table of stage wall times (``StageResult``s) and the total."""
    lines = ['## Wall time per stage', '',
             'Stages marked "skipped" had run in an earlier invocation; their time is the one '
             'recorded then.', '', '| stage | status | wall time |', '|---|---|---:|']
    for result in results:
        lines.append(f'| {result.name} | {result.status} | {format_duration(result.seconds)} |')
    lines.append(f'| **total** | | **{format_duration(total)}** |')
    return '\n'.join(lines)


def rows_by_name(rows: Sequence[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """Rows indexed by name (names must be unique)."""
    out: Dict[str, Dict[str, Any]] = {}
    for row in rows:
        if row['name'] in out:
            raise ValueError(f'two rows are named {row["name"]!r}')
        out[row['name']] = row
    return out


__all__: List[str] = [
    'COLUMNS', 'METRIC_KEYS', 'load_row', 'format_cell', 'format_table', 'write_report',
    'stage_times_section', 'machine_description', 'git_commit', 'rows_by_name', 'keep_sections',
    'KEEP_SECTION'
]
