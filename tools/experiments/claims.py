"""The results page's check of the paper's claim, with paired intervals.

The claim (Table 1): DLD at about half the teacher's FLOPs is within 1 point of the teacher
(E2E) and clearly above Vanilla at the same FLOPs; SKD alone already beats Vanilla at the
student's scale. Each comparison is of two models on the same test images, so each is a paired
bootstrap interval of the E2E None hmean difference (:mod:`.intervals`):

* every DLD model against the teacher (the Vanilla row of the largest scale);
* every DLD model against Vanilla at its GFLOPs (per-image counts interpolated between the two
  Vanilla scales around it, :func:`.intervals.compare_at_gflops`);
* every SKD-only model against the Vanilla row of its fixed scale.

The words "above", "below" and "within" are those of
:func:`mmdld.evaluation.functional.verdict` on the paired interval, and nothing else: "within"
means that 0 lies in the interval (not distinguishable on these images), not "equal".
"""
from typing import Any, Dict, List, Mapping, Optional, Sequence

from mmdld.evaluation.functional import Interval, verdict
from .intervals import CurvePoint, Records, compare_at_gflops, paired_difference

#: Below this teacher E2E hmean (%) the claim check reports that nothing can be concluded.
MIN_TEACHER_E2E = 5.0
#: The paper's margin to the teacher, in points.
TEACHER_MARGIN = 1.0

#: What each verdict says of a difference, for the page.
VERDICT_MEANING = {
    'above': 'the whole interval above 0',
    'below': 'the whole interval below 0',
    'within': '0 in the interval, ends included: not distinguishable on these images',
}


def vanilla_rows(rows: Sequence[Mapping[str, Any]]) -> List[Mapping[str, Any]]:
    """The Vanilla rows (``kind == 'vanilla'``), by increasing GFLOPs."""
    vanilla = [r for r in rows if r.get('kind') == 'vanilla']
    return sorted(vanilla, key=lambda r: (r.get('gflops') is None, r.get('gflops') or 0.0))


def teacher_row(rows: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The teacher: the Vanilla row of the largest scale.

    Raises:
        ValueError: If there is no Vanilla row.
    """
    vanilla = vanilla_rows(rows)
    if not vanilla:
        raise ValueError('claim check: no Vanilla row (kind "vanilla") among the rows')
    return max(vanilla, key=lambda r: r.get('scale') or 0.0)


def _entry(model: str, reference: str, kind: str, difference: Interval,
           **extra: Any) -> Dict[str, Any]:
    return dict(model=model, reference=reference, kind=kind, difference=difference,
                verdict=verdict(difference), **extra)


def claim_comparisons(rows: Sequence[Mapping[str, Any]],
                      images: Mapping[str, Records]) -> Dict[str, Any]:
    """The paired comparisons of the claim.

    Args:
        rows (Sequence[Mapping]): The table's rows (``name``, ``kind``, ``scale``,
            ``gflops``, ``e2e_none`` in percent).
        images (Mapping[str, Records]): Row name -> its per-image records. Rows without
            records are left out of the comparisons (and named in ``missing``).

    Returns:
        dict: ``teacher`` (its name), ``testable`` (False when the teacher reads almost
        nothing, :data:`MIN_TEACHER_E2E`), ``comparisons`` (dicts with ``model``,
        ``reference``, ``kind`` = ``'teacher'`` / ``'equal_gflops'`` / ``'same_scale'``,
        ``difference`` (:class:`Interval`, fractions), ``verdict``, and for ``equal_gflops``
        the ``bracket`` and the interpolated Vanilla ``reference_interval``) and ``missing``.
    """
    teacher = teacher_row(rows)
    result: Dict[str, Any] = dict(teacher=teacher['name'], comparisons=[], missing=[],
                                  testable=teacher['e2e_none'] >= MIN_TEACHER_E2E)
    if not result['testable']:
        return result
    curve = [CurvePoint(r['name'], float(r['gflops']), images[r['name']])
             for r in vanilla_rows(rows) if r.get('gflops') is not None and r['name'] in images]
    by_scale = {round(float(r['scale']), 6): r for r in vanilla_rows(rows)
                if r.get('scale') is not None}
    for row in rows:
        name = row['name']
        is_dld, is_skd = name.startswith('DLD'), name.startswith('SKD')
        if not (is_dld or is_skd):
            continue
        needed = [name, teacher['name']] if is_dld else [name]
        if any(n not in images for n in needed):
            result['missing'].append(name)
            continue
        if is_dld:
            result['comparisons'].append(_entry(
                name, teacher['name'], 'teacher',
                paired_difference(images[name], images[teacher['name']],
                                  (name, teacher['name']))))
            if curve and row.get('gflops') is not None:
                at = compare_at_gflops(images[name], curve, float(row['gflops']), name)
                result['comparisons'].append(_entry(
                    name, at['bracket'].describe(), 'equal_gflops', at['difference'],
                    bracket=at['bracket'], reference_interval=at['reference'],
                    gflops=float(row['gflops'])))
        else:
            same = by_scale.get(round(float(row.get('scale') or -1), 6))
            if same is None or same['name'] not in images:
                result['missing'].append(name)
                continue
            result['comparisons'].append(_entry(
                name, same['name'], 'same_scale',
                paired_difference(images[name], images[same['name']],
                                  (name, same['name']))))
    return result


def _fmt(value: Optional[float], spec: str = '.1f') -> str:
    return '-' if value is None else format(value, spec)


def row_e2e(row: Mapping[str, Any]) -> str:
    """A row's E2E None in percent, with its interval when the row has one."""
    if row.get('e2e_none_low') is None or row.get('e2e_none_high') is None:
        return _fmt(row.get('e2e_none'))
    return f'{row["e2e_none"]:.1f} [{row["e2e_none_low"]:.1f}, {row["e2e_none_high"]:.1f}]'


def _verdict_text(entry: Mapping[str, Any]) -> str:
    return f'**{entry["verdict"]}** ({VERDICT_MEANING[entry["verdict"]]})'


def claim_lines(rows: Sequence[Mapping[str, Any]], checked: Mapping[str, Any]) -> List[str]:
    """The claim check as Markdown bullets, from :func:`claim_comparisons`."""
    by_name = {r['name']: r for r in rows}
    teacher = by_name[checked['teacher']]
    if not checked['testable']:
        return [f'* Not testable here: the teacher ({teacher["name"]}) reads almost nothing '
                f'(E2E None {teacher["e2e_none"]:.1f} < {MIN_TEACHER_E2E:.0f}), so every '
                'comparison with it is noise.']
    lines = []
    for entry in checked['comparisons']:
        row = by_name[entry['model']]
        diff = entry['difference']
        if entry['kind'] == 'teacher':
            ratio = ('-' if not row.get('gflops') or not teacher.get('gflops') else
                     f'{100 * row["gflops"] / teacher["gflops"]:.0f}%')
            low = 100 * diff.low
            ruled = ('is ruled out' if low > -TEACHER_MARGIN else 'is not ruled out')
            lines.append(
                f'* {entry["model"]} against the teacher ({teacher["name"]}): {ratio} of its '
                f'GFLOPs, E2E None {row_e2e(row)} against {row_e2e(teacher)}; paired '
                f'difference {diff.format(signed=True)} points: {_verdict_text(entry)}. A loss '
                f'of more than {TEACHER_MARGIN:g} point {ruled} (the interval\'s low end is '
                f'{low:+.1f}).')
        elif entry['kind'] == 'equal_gflops':
            where = entry['bracket']
            clamp = ''
            if where.clamped is not None:
                end = where.low.name
                clamp = (f'; its GFLOPs lie {where.clamped} the whole Vanilla curve, so it is '
                         f'compared with the curve\'s end, {end} ({where.low.gflops:.2f} '
                         'GFLOPs)')
            lines.append(
                f'* {entry["model"]} against Vanilla at the same GFLOPs ({entry["gflops"]:.2f}; '
                f'per-image counts {where.describe()}{clamp}): E2E None {row_e2e(row)} '
                f'against {entry["reference_interval"]}; paired difference '
                f'{diff.format(signed=True)} points: {_verdict_text(entry)}.')
        else:
            lines.append(
                f'* {entry["model"]} against {entry["reference"]} (the same input scale, '
                f'{row.get("scale"):g}): E2E None {row_e2e(row)} against '
                f'{row_e2e(by_name[entry["reference"]])}; paired difference '
                f'{diff.format(signed=True)} points: {_verdict_text(entry)}.')
    for name in checked['missing']:
        lines.append(f'* {name}: not compared (no per-image records of it or of its '
                     'reference).')
    return lines


def comparisons_json(checked: Mapping[str, Any]) -> Dict[str, Any]:
    """:func:`claim_comparisons` as JSON-ready values (intervals as fractions)."""
    out = []
    for entry in checked['comparisons']:
        item = {k: v for k, v in entry.items() if k not in ('difference', 'bracket',
                                                              'reference_interval')}
        item['difference'] = entry['difference'].to_dict()
        if 'bracket' in entry:
            where = entry['bracket']
            item['bracket'] = dict(low=where.low.name, high=where.high.name,
                                   weight_high=where.weight_high, clamped=where.clamped)
            item['reference_interval'] = entry['reference_interval'].to_dict()
        out.append(item)
    return dict(teacher=checked['teacher'], testable=checked['testable'], comparisons=out,
                missing=list(checked['missing']))


__all__ = ('MIN_TEACHER_E2E', 'TEACHER_MARGIN', 'VERDICT_MEANING', 'vanilla_rows',
           'teacher_row', 'claim_comparisons', 'row_e2e', 'claim_lines', 'comparisons_json')
