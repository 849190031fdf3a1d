"""The paper's Table 8 on one benchmark: several spotters' reproductions side by side.

Example::

    python tools/analysis_tools/table8.py \\
        --spotter "Mask R-CNN spotter" docs/results_dynamic.json \\
        --spotter "Text Perceptron" docs/results_tp_dynamic.json \\
        --spotter MANGO docs/results_mango_dynamic.json \\
        --out docs/results.md

Reads the JSON that ``tools/reproduce.py`` writes beside each results page (rows with E2E
intervals, the paired claims, commit and machine) and writes one Markdown section: E2E hmean
with its 95% interval and GFLOPs per spotter and model (Vanilla at every scale, then the DLD
students), Det / Rec / img/s, every spotter's paired claims, and the paper's observation checked
on the numbers: DLD gamma 0.3 costs the other spotters more E2E (against their own teacher)
than the Mask R-CNN spotter. No model runs. With ``--out`` the section replaces the one an
earlier run wrote into that page (between its markers) or is appended; the page's other text is
kept, and ``tools/reproduce.py`` keeps the section when it rewrites the page.
"""
import argparse
import json
import os.path as osp
import re
import sys
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

#: Markers around the section in a page (``write_report`` keeps text between them).
BEGIN = '<!-- keep:table8 -->'
END = '<!-- /keep:table8 -->'
#: Rows of distilled students (their GFLOPs cell adds the mean chosen scale).
DLD_PREFIX = 'DLD'


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parses the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--spotter', nargs=2, action='append', required=True,
                        metavar=('NAME', 'RESULTS_JSON'),
                        help='a spotter and its reproduction JSON; the first is the reference '
                        'of the trend check (the Mask R-CNN spotter)')
    parser.add_argument('--trend-model', default='DLD (gamma 0.3)',
                        help='the student whose drop from its teacher is compared across '
                        'spotters (default: DLD (gamma 0.3))')
    parser.add_argument('--out', help='write the section into this page (default: print)')
    return parser.parse_args(argv)


def load_results(path: str) -> Dict[str, Any]:
    """A reproduction's JSON, checked for what the table reads.

    Raises:
        SystemExit: If the file is missing, not JSON, or has no ``rows``.
    """
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except FileNotFoundError as err:
        raise SystemExit(f'table8.py: {path}: no such file') from err
    except json.JSONDecodeError as err:
        raise SystemExit(f'table8.py: {path}: not JSON ({err})') from err
    if not isinstance(data, dict) or not data.get('rows'):
        raise SystemExit(f'table8.py: {path}: no `rows` (is it a tools/reproduce.py JSON?)')
    return data


def model_order(results: Sequence[Mapping[str, Any]]) -> List[str]:
    """Row names in table order: Vanilla by falling scale, then the distilled models.

    A name appears once, in the order of the first spotter that has it.
    """
    names: List[str] = []
    for data in results:
        for row in data['rows']:
            if row['name'] not in names:
                names.append(row['name'])
    vanilla = [n for n in names if n.startswith('Vanilla S-')]
    vanilla.sort(key=lambda n: -int(re.sub(r'\D', '', n.split('S-', 1)[1]) or 0))
    return vanilla + [n for n in names if n not in vanilla]


def _rows(data: Mapping[str, Any]) -> Dict[str, Mapping[str, Any]]:
    return {row['name']: row for row in data['rows']}


def _pct(value: Optional[float], digits: int = 1) -> str:
    return '-' if value is None else f'{value:.{digits}f}'


def e2e_cell(row: Optional[Mapping[str, Any]]) -> str:
    """``E2E [low, high]`` in percent (the rows hold percentages)."""
    if row is None or row.get('e2e_none') is None:
        return '-'
    if row.get('e2e_none_low') is None:
        return _pct(row['e2e_none'])
    return f"{row['e2e_none']:.1f} [{row['e2e_none_low']:.1f}, {row['e2e_none_high']:.1f}]"


def gflops_cell(name: str, row: Optional[Mapping[str, Any]]) -> str:
    """GFLOPs per image; a DLD row adds its mean chosen scale."""
    if row is None or row.get('gflops') is None:
        return '-'
    if name.startswith(DLD_PREFIX) and row.get('scale') is not None:
        return f"{row['gflops']:.2f} (scale {row['scale']:.2f})"
    return f"{row['gflops']:.2f}"


def e2e_table(names: Sequence[str], spotters: Sequence[Tuple[str, Mapping[str, Any]]]) -> str:
    """E2E hmean [95% CI] and GFLOPs, one column pair per spotter."""
    header = ['Model'] + [f'{s} {col}' for s, _ in spotters for col in ('E2E [95% CI]', 'GFLOPs')]
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for name in names:
        cells = [name]
        for _, data in spotters:
            row = _rows(data).get(name)
            cells += [e2e_cell(row), gflops_cell(name, row)]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def det_rec_table(names: Sequence[str],
                  spotters: Sequence[Tuple[str, Mapping[str, Any]]]) -> str:
    """Det hmean, Rec accuracy (on GT words) and img/s, per spotter."""
    header = ['Model'] + [f'{s} {col}' for s, _ in spotters for col in ('Det', 'Rec', 'img/s')]
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for name in names:
        cells = [name]
        for _, data in spotters:
            row = _rows(data).get(name) or {}
            cells += [_pct(row.get('det')), _pct(row.get('rec')), _pct(row.get('fps'), 2)]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def difference_cell(diff: Mapping[str, float]) -> str:
    """A paired difference (fractions) as signed points with its interval."""
    return (f"{100 * diff['point']:+.1f} [{100 * diff['low']:+.1f}, "
            f"{100 * diff['high']:+.1f}]")


def claims_table(spotters: Sequence[Tuple[str, Mapping[str, Any]]]) -> str:
    """Every spotter's paired claims (difference in E2E points, 95% interval, verdict)."""
    lines = ['| Spotter | Model | against | difference [95% CI] | verdict |',
             '|---|---|---|---|---|']
    for spotter, data in spotters:
        for comp in (data.get('claims') or {}).get('comparisons', []):
            against = {'teacher': 'its teacher', 'equal_gflops': 'Vanilla at equal GFLOPs',
                       'same_scale': 'Vanilla at the same scale'}.get(comp['kind'],
                                                                      comp['kind'])
            lines.append(f"| {spotter} | {comp['model']} | {against} ({comp['reference']}) | "
                         f"{difference_cell(comp['difference'])} | {comp['verdict']} |")
    return '\n'.join(lines)


def teacher_difference(data: Mapping[str, Any], model: str) -> Optional[Mapping[str, float]]:
    """The paired difference of ``model`` against its teacher, from the JSON's claims."""
    for comp in (data.get('claims') or {}).get('comparisons', []):
        if comp['model'] == model and comp['kind'] == 'teacher':
            return comp['difference']
    return None


def trend_check(spotters: Sequence[Tuple[str, Mapping[str, Any]]], model: str) -> str:
    """Whether ``model`` costs each other spotter more E2E than the first one.

    The drops are paired differences against each spotter's own teacher on the same test
    images, but the spotters' per-image records are not paired with each other here, so a drop
    counts as larger only when the two intervals do not overlap (a conservative test).
    """
    ref_name, ref_data = spotters[0]
    ref = teacher_difference(ref_data, model)
    if ref is None:
        return f'Trend check: {ref_name} has no paired {model} against its teacher.'
    lines = [f'Trend check ({model} against its own teacher, paired intervals; a drop counts '
             f'as larger than the {ref_name}\'s only when the two intervals do not overlap):',
             '']
    lines.append(f'- {ref_name}: {difference_cell(ref)}.')
    for name, data in spotters[1:]:
        diff = teacher_difference(data, model)
        if diff is None:
            lines.append(f'- {name}: no paired {model} against its teacher.')
            continue
        if diff['high'] < ref['low']:
            word = 'larger drop: holds'
        elif diff['low'] > ref['high']:
            word = 'smaller drop: does not hold'
        else:
            word = 'intervals overlap: not separable'
        lines.append(f'- {name}: {difference_cell(diff)}; {word}.')
    return '\n'.join(lines)


def sources(spotters: Sequence[Tuple[str, Mapping[str, Any]]],
            paths: Sequence[str]) -> str:
    """One line per spotter: its JSON, budget, commit and machine."""
    lines = []
    for (name, data), path in zip(spotters, paths):
        teacher = _rows(data).get(model_order([data])[0], {})
        lines.append(f"- {name}: `{osp.basename(path)}` (`--budget {data.get('budget', '?')}`, "
                     f"commit {data.get('commit', '?')}; {data.get('machine', '?')}; "
                     f"{teacher.get('num_images', '?')} test images)")
    return '\n'.join(lines)


def render(spotters: Sequence[Tuple[str, Mapping[str, Any]]], paths: Sequence[str],
           trend_model: str = 'DLD (gamma 0.3)') -> str:
    """The whole section, between its markers."""
    names = model_order([data for _, data in spotters])
    parts = [
        BEGIN, '## Table 8: the spotters side by side',
        'Generated by `tools/analysis_tools/table8.py` from the reproductions\' JSON files '
        '(E2E hmean without lexicon, 95% bootstrap interval over test images; GFLOPs of the '
        'whole test step; img/s measured on each run\'s machine, comparable only within a '
        'spotter when the machines differ). Sources:', sources(spotters, paths),
        e2e_table(names, spotters), det_rec_table(names, spotters),
        'Paired claims (difference of E2E hmean in points, the same resampled images for both '
        'models; "above" / "below" only when the interval excludes 0):',
        claims_table(spotters), trend_check(spotters, trend_model), END
    ]
    return '\n\n'.join(parts) + '\n'


def insert_section(page: str, section: str) -> str:
    """``page`` with its marked section replaced by ``section``, or ``section`` appended."""
    start, stop = page.find(BEGIN), page.find(END)
    if start >= 0 and stop > start:
        return page[:start] + section.rstrip('\n') + page[stop + len(END):]
    return page.rstrip('\n') + '\n\n' + section


def main(argv: Optional[Sequence[str]] = None) -> str:
    """Runs the tool; returns the section."""
    args = parse_args(argv)
    paths = [path for _, path in args.spotter]
    spotters = [(name, load_results(path)) for name, path in args.spotter]
    section = render(spotters, paths, args.trend_model)
    if args.out:
        page = ''
        if osp.isfile(args.out):
            with open(args.out, encoding='utf-8') as f:
                page = f.read()
        with open(args.out, 'w', encoding='utf-8') as f:
            f.write(insert_section(page, section))
    else:
        sys.stdout.write(section)
    return section


if __name__ == '__main__':
    main()
