"""Dataset-level precision/recall/hmean and the report in the paper's names.

Counts are summed over all images before dividing (as the RRC script does), so the numbers do not
depend on the order of the images. Metric keys (fractions in [0, 1]) are
``det/{precision,recall,hmean}``, ``e2e/<lexicon>/...`` and ``ws/<lexicon>/...``, plus, when
known, ``rec/accuracy``, ``cost/avg_scale``, ``cost/gflops`` and ``cost/fps``. Next to each
task's fractions come its counts (integers): ``<task>/num_matched``, ``num_gt``, ``num_det``,
``num_gt_dont_care`` and ``num_det_dont_care`` (see :data:`~.matching.COUNT_FIELDS`). The report
(:func:`paper_results`, :func:`format_tables`) uses the paper's names and percentages.
"""
from collections import OrderedDict
from typing import Dict, Iterable, List, Mapping, Sequence, Tuple

from terminaltables import AsciiTable

from .matching import COUNT_FIELDS

#: Paper column labels of the lexicon settings (Table 1), in the paper's column order.
LEXICON_LABELS = OrderedDict([('strong', 'S'), ('weak', 'W'), ('generic', 'G'),
                              ('none', 'None'), ('full', 'Full')])
#: Paper names of the tasks.
TASK_LABELS = OrderedDict([('e2e', 'End-to-End'), ('ws', 'Word Spotting'), ('det', 'Det')])
#: Column labels of the counts in :func:`format_tables`: hits (matches that count: for End-to-End
#: and Word Spotting with the text right), care GT, care detections, don't-care GT, detections
#: dropped on don't-care GT.
COUNT_LABELS = OrderedDict([('num_matched', 'Matched'), ('num_gt', 'GT'), ('num_det', 'Det'),
                            ('num_gt_dont_care', "GT don't care"),
                            ('num_det_dont_care', "Det don't care")])


def accumulate(per_image: Iterable[Mapping[str, Sequence[int]]]) -> Dict[str, List[int]]:
    """Sum per-image counts (:data:`~.matching.COUNT_FIELDS`) key by key.

    Args:
        per_image (Iterable[Mapping[str, Sequence[int]]]): Counts of each image, as returned by
            :func:`~.matching.evaluate_image`.

    Returns:
        dict[str, list[int]]: Summed counts per key.
    """
    totals: Dict[str, List[int]] = {}
    for counts in per_image:
        for key, values in counts.items():
            total = totals.setdefault(key, [0] * len(values))
            for i, value in enumerate(values):
                total[i] += int(value)
    return totals


def precision_recall_hmean(hits: int, num_gt: int, num_pred: int) -> Tuple[float, float, float]:
    """Precision, recall and hmean as the RRC script defines them (0 when undefined).

    Args:
        hits (int): Correct matches.
        num_gt (int): Care GT.
        num_pred (int): Care predictions.

    Returns:
        tuple[float, float, float]: Precision, recall, hmean.
    """
    precision = hits / num_pred if num_pred else 0.0
    recall = hits / num_gt if num_gt else 0.0
    total = precision + recall
    hmean = 2 * precision * recall / total if total else 0.0
    return precision, recall, hmean


def summarize(totals: Mapping[str, Sequence[int]]) -> Dict[str, float]:
    """Turn summed counts into ``<key>/{precision,recall,hmean}`` and the counts themselves.

    Args:
        totals (Mapping[str, Sequence[int]]): Output of :func:`accumulate`: ``[hits, care GT,
            care predictions]`` optionally followed by the don't-care counts.

    Returns:
        dict[str, float]: Metrics, keys sorted as in the paper (det, e2e, ws; S, W, G, None,
        Full, then other lexicons); each key's fractions are followed by its counts
        (``<key>/num_matched``, ``num_gt``, ``num_det`` and, when given, ``num_gt_dont_care``,
        ``num_det_dont_care``) as integers.
    """
    metrics: Dict[str, float] = {}
    for key in sorted(totals, key=_sort_key):
        precision, recall, hmean = precision_recall_hmean(*totals[key][:3])
        metrics[f'{key}/precision'] = precision
        metrics[f'{key}/recall'] = recall
        metrics[f'{key}/hmean'] = hmean
        for field, value in zip(COUNT_FIELDS, totals[key]):
            metrics[f'{key}/{field}'] = int(value)
    return metrics


def _sort_key(key: str) -> tuple:
    task, _, lexicon = key.partition('/')
    tasks = ['det', 'e2e', 'ws']
    lexicons = list(LEXICON_LABELS)
    return (tasks.index(task) if task in tasks else len(tasks),
            lexicons.index(lexicon) if lexicon in lexicons else len(lexicons), key)


def _lexicons_of(metrics: Mapping[str, float], task: str) -> List[str]:
    names = {key.split('/')[1] for key in metrics
             if key.startswith(f'{task}/') and key.endswith('/hmean')}
    return sorted(names, key=lambda name: _sort_key(f'{task}/{name}'))


def paper_results(metrics: Mapping[str, float]) -> Dict[str, object]:
    """Re-key the metrics with the paper's names (Table 1 and Table 8), in percent.

    Args:
        metrics (Mapping[str, float]): Metric keys as returned by :func:`summarize`, plus the
            optional ``rec/accuracy``, ``cost/avg_scale``, ``cost/gflops``, ``cost/fps``.

    Returns:
        dict: e.g. ``{'End-to-End (%)': {'S': 80.1, 'None': 70.3}, 'Word Spotting (%)': {...},
        'Det (%)': 85.0, 'Rec (%)': 75.2, 'FLOPS (G)': 40.1, 'FPS': 12.0, 'Scale': 0.55}``;
        hmean is reported for End-to-End, Word Spotting and Det, as in the paper.
    """
    report: Dict[str, object] = OrderedDict()
    for task in ('e2e', 'ws'):
        names = _lexicons_of(metrics, task)
        if names:
            report[f'{TASK_LABELS[task]} (%)'] = OrderedDict(
                (LEXICON_LABELS.get(name, name), _percent(metrics[f'{task}/{name}/hmean']))
                for name in names)
    if 'det/hmean' in metrics:
        report['Det (%)'] = _percent(metrics['det/hmean'])
    if 'rec/accuracy' in metrics:
        report['Rec (%)'] = _percent(metrics['rec/accuracy'])
    if 'cost/gflops' in metrics:
        report['FLOPS (G)'] = round(float(metrics['cost/gflops']), 3)
    if 'cost/fps' in metrics:
        report['FPS'] = round(float(metrics['cost/fps']), 2)
    if 'cost/avg_scale' in metrics:
        report['Scale'] = round(float(metrics['cost/avg_scale']), 4)
    return report


def _percent(value: float) -> float:
    return round(100.0 * float(value), 2)


def format_tables(metrics: Mapping[str, float]) -> str:
    """Render the paper-style summary row and a precision/recall/hmean table.

    Args:
        metrics (Mapping[str, float]): See :func:`paper_results`.

    Returns:
        str: Two ASCII tables separated by a newline.
    """
    header, row = [], []
    for label, value in paper_results(metrics).items():
        if isinstance(value, Mapping):
            short = 'E2E' if label.startswith('End') else 'WS'
            for lexicon, number in value.items():
                header.append(f'{short} {lexicon}')
                row.append(f'{number:.2f}')
        else:
            header.append(label.replace(' (%)', ''))
            row.append(f'{value:.2f}' if label != 'Scale' else f'{value:.3f}')
    summary = AsciiTable([header, row], title='Results (E2E, WS, Det, Rec in %)').table

    # Count columns only where the metrics carry counts (metrics given by hand may not).
    fields = [field for field in COUNT_FIELDS
              if any(key.endswith(f'/{field}') for key in metrics)]
    lines = [['Task', 'Lexicon', 'Precision', 'Recall', 'Hmean',
              *(COUNT_LABELS[field] for field in fields)]]
    for task in ('det', 'e2e', 'ws'):
        names = [''] if task == 'det' else _lexicons_of(metrics, task)
        for name in names:
            key = task if not name else f'{task}/{name}'
            if f'{key}/hmean' not in metrics:
                continue
            lines.append([
                TASK_LABELS[task], LEXICON_LABELS.get(name, name) if name else '-',
                *(f'{100 * metrics[f"{key}/{part}"]:.2f}'
                  for part in ('precision', 'recall', 'hmean')),
                *(str(metrics.get(f'{key}/{field}', '-')) for field in fields)
            ])
    title = 'Precision / Recall / Hmean (%)' + (' and counts' if fields else '')
    detail = AsciiTable(lines, title=title).table
    return f'{summary}\n{detail}'
