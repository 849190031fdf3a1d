"""The Vanilla scale oracle of the reproduction, from records it already has.

The Vanilla rows are the teacher tested at every scale, each with its ``per_image.json``, so
they are the per-scale runs of the teacher's scale oracle (``docs/dld.md``, "The per-image
scale oracle") and no model runs again. Their GFLOPs are those of the FLOPs stage
(``get_flops.py``, the mean over its images), one cost per scale for every image: the same
counter and images as the distilled models' GFLOPs, so that a DRS and the oracle share the
GFLOPs axis. The oracle selectors are those of
:mod:`mmdld.evaluation.functional.scale_oracle`; this module builds their table and reads them
at each DRS model's GFLOPs.

Ours because the scale oracle tool (``tools/analysis_tools/scale_oracle.py``) runs the test
itself and takes its GFLOPs from the records or from its own per-image counts, whereas the
reproduction has the runs and the FLOPs stage's means already.
"""
import json
import os.path as osp
from collections import Counter
from typing import Any, Dict, List, Mapping, Optional, Sequence

from mmdld.evaluation.functional import (ScaleTable, align_by_name, budget_oracle,
                                         cheapest_keeping_matches, counts_array,
                                         fixed_scale_curve, oracle_at, share_of_oracle_gain)
from mmdld.evaluation.functional.scale_oracle import (ORACLE_VARIANTS, Point, check_same_care_gt,
                                                      fixed_at, oracle_words,
                                                      table_from_counts)
from .intervals import KEY, Records

#: How the page names the two oracles.
VARIANT_TITLES = {'capped': 'capped', 'best_of_k': 'best-of-k'}


def vanilla_scale_table(vanilla: Sequence[Mapping[str, Any]], images: Mapping[str, Records],
                        key: str = KEY) -> ScaleTable:
    """The :class:`ScaleTable` of the Vanilla rows: the teacher at each of their scales.

    Args:
        vanilla (Sequence[Mapping]): Vanilla rows (``name``, ``scale``, ``gflops``).
        images (Mapping[str, Records]): Row name -> its per-image records.
        key (str): Count key.

    Returns:
        ScaleTable: Scales in decreasing order, the largest the reference; images in the
        reference's record order; GFLOPs one per scale (the row's).

    Raises:
        ValueError: With fewer than 2 rows, a row without scale, GFLOPs or records, rows
            holding other images, or an image whose care GT differ between two rows (naming
            the rows and the image).
    """
    rows = sorted(vanilla, key=lambda r: -(r.get('scale') or 0.0))
    if len(rows) < 2:
        raise ValueError(f'the scale oracle needs at least 2 Vanilla scales, got {len(rows)}')
    for row in rows:
        for field in ('scale', 'gflops'):
            if row.get(field) is None:
                raise ValueError(f'Vanilla row {row["name"]!r} has no {field}')
        if row['name'] not in images:
            raise ValueError(f'Vanilla row {row["name"]!r} has no per-image records')
    reference = images[rows[0]['name']]
    counts = []
    for row in rows:
        _, aligned = align_by_name(reference, images[row['name']],
                                   (rows[0]['name'], row['name']))
        counts.append(counts_array(aligned, key))
    names = [r['name'] for r in reference]
    check_same_care_gt(counts, names, [r['name'] for r in rows], key)
    return table_from_counts(counts, [float(r['gflops']) for r in rows],
                             [float(r['scale']) for r in rows], names)


def oracle_summary(table: ScaleTable, models: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    """The fixed-scale curve, both budget oracles and the cheapest scale keeping the matches,
    and each model against them at its GFLOPs.

    Args:
        table (ScaleTable): From :func:`vanilla_scale_table`.
        models (Sequence[Mapping]): ``name``, ``gflops`` and ``hmean`` (a fraction) of each
            DRS model.

    Returns:
        dict: ``table``; ``fixed`` (a :class:`Point` per scale); ``curves`` (variant ->
        ``OracleCurve``); ``cheapest`` (its :class:`Point`, ``capped_hmean`` and
        ``images_per_scale``); ``at_fixed`` (per scale, the oracles' points at its GFLOPs);
        ``models`` (name -> ``gflops``, ``hmean``, ``fixed`` and ``oracle`` (variant ->
        point, None below the curve's start) at its GFLOPs, ``share`` (variant -> share of
        the oracle's gain, None when there is none to share)).
    """
    fixed = fixed_scale_curve(table)
    curves = {variant: budget_oracle(table, variant) for variant in ORACLE_VARIANTS}
    cheapest = cheapest_keeping_matches(table)
    per_scale = Counter(cheapest.choices.tolist())
    summary: Dict[str, Any] = dict(
        table=table, fixed=fixed, curves=curves,
        cheapest=dict(point=cheapest.point,
                      capped_hmean=table.point(cheapest.choices,
                                               oracle_words(table, 'capped')).hmean,
                      images_per_scale={table.scales[k]: int(per_scale[k])
                                        for k in sorted(per_scale)}),
        at_fixed=[{variant: oracle_at(curve, point.gflops) for variant, curve in curves.items()}
                  for point in fixed],
        at_half=_at_budget(fixed, curves, HALF_BUDGET),
        models={})
    for model in models:
        gflops = float(model['gflops'])
        base = fixed_at(fixed, gflops)
        oracle = {variant: oracle_at(curve, gflops) for variant, curve in curves.items()}
        share = {variant: (None if base is None or point is None else
                           share_of_oracle_gain(model['hmean'], base.hmean, point.hmean))
                 for variant, point in oracle.items()}
        summary['models'][model['name']] = dict(gflops=gflops, hmean=float(model['hmean']),
                                                fixed=base, oracle=oracle, share=share)
    return summary


#: The benchmark's shape check (a share of the teacher's full-resolution GFLOPs): there the
#: Vanilla oracle should come within 1 point of the teacher, the fixed scale 3 below it.
HALF_BUDGET = 0.5


def _at_budget(fixed: Sequence[Point], curves: Mapping[str, Any],
               share: float) -> Dict[str, Any]:
    """The teacher (the first fixed point), the fixed-scale curve and both oracles at ``share``
    of the teacher's GFLOPs (None where a curve does not reach it)."""
    gflops = share * fixed[0].gflops
    return dict(share=share, gflops=gflops, teacher=fixed[0], fixed=fixed_at(fixed, gflops),
                **{variant: oracle_at(curve, gflops) for variant, curve in curves.items()})


def _points_apart(a: Optional[Point], b: Optional[Point]) -> str:
    return '-' if a is None or b is None else f'{100 * (a.hmean - b.hmean):+.1f}'


def _pct(point: Optional[Point]) -> str:
    return '-' if point is None else f'{100 * point.hmean:.1f}'


def _share(value: Optional[float]) -> str:
    return '-' if value is None else f'{value:.2f}'


def format_oracle_section(summary: Mapping[str, Any], vanilla_names: Sequence[str]) -> str:
    """The page's tables: the oracles at each Vanilla scale's GFLOPs, the cheapest scale
    keeping the matches, and each DRS model's share of the oracle's gain.

    Args:
        summary (Mapping): From :func:`oracle_summary`.
        vanilla_names (Sequence[str]): The Vanilla rows' names, in the table's scale order.
    """
    table = summary['table']
    lines = ['| Vanilla | Scale | GFLOPs/img | fixed scale | capped oracle | best-of-k oracle |',
             '|---|---:|---:|---:|---:|---:|']
    for name, scale, point, at in zip(vanilla_names, table.scales, summary['fixed'],
                                      summary['at_fixed']):
        lines.append(f'| {name} | {scale:.3g} | {point.gflops:.2f} | {_pct(point)} | '
                     f'{_pct(at["capped"])} | {_pct(at["best_of_k"])} |')
    cheapest = summary['cheapest']
    per_scale = ', '.join(f'{s:.3g}: {n}' for s, n in cheapest['images_per_scale'].items())
    lines += ['', f'Cheapest scale keeping each image\'s full-resolution matches: E2E None '
              f'{100 * cheapest["point"].hmean:.1f} (capped at full resolution\'s words: '
              f'{100 * cheapest["capped_hmean"]:.1f}) at {cheapest["point"].gflops:.2f} GFLOPs '
              f'per image (images per scale: {per_scale}).']
    half = summary.get('at_half')
    if half is not None:
        lines += ['', f'At {half["share"]:g}x the teacher\'s GFLOPs ({half["gflops"]:.2f} per '
                  f'image): capped oracle {_pct(half["capped"])} '
                  f'({_points_apart(half["capped"], half["teacher"])} points from the teacher\'s '
                  f'{_pct(half["teacher"])} at full resolution), best-of-k oracle '
                  f'{_pct(half["best_of_k"])}, fixed scale {_pct(half["fixed"])} '
                  f'({_points_apart(half["fixed"], half["capped"])} points from the capped '
                  'oracle).']
    if summary['models']:
        lines += ['', '| DRS model | GFLOPs/img | E2E None | Vanilla (fixed scale) at its '
                  'GFLOPs | capped oracle | share (capped) | best-of-k oracle | share '
                  '(best-of-k) |', '|---|---:|---:|---:|---:|---:|---:|---:|']
        for name, model in summary['models'].items():
            lines.append(
                f'| {name} | {model["gflops"]:.2f} | {100 * model["hmean"]:.1f} | '
                f'{_pct(model["fixed"])} | {_pct(model["oracle"]["capped"])} | '
                f'{_share(model["share"]["capped"])} | {_pct(model["oracle"]["best_of_k"])} | '
                f'{_share(model["share"]["best_of_k"])} |')
    return '\n'.join(lines)


def _point(point: Optional[Point]) -> Optional[Dict[str, float]]:
    return None if point is None else point.to_dict()


def oracle_json(summary: Mapping[str, Any]) -> Dict[str, Any]:
    """:func:`oracle_summary` as JSON-ready values (hmeans as fractions; each oracle curve as
    columns of its points' GFLOPs and hmean)."""
    table = summary['table']
    cheapest = summary['cheapest']
    return dict(
        scales=list(table.scales), num_images=table.num_images,
        fixed=[dict(scale=s, **p.to_dict()) for s, p in zip(table.scales, summary['fixed'])],
        curves={variant: dict(gflops=[p.gflops for p in curve.points],
                              hmean=[p.hmean for p in curve.points])
                for variant, curve in summary['curves'].items()},
        cheapest_keeping_matches=dict(
            _point(cheapest['point']), capped_hmean=cheapest['capped_hmean'],
            images_per_scale={str(s): n for s, n in cheapest['images_per_scale'].items()}),
        at_fixed=[dict(scale=s, **{v: _point(p) for v, p in at.items()})
                  for s, at in zip(table.scales, summary['at_fixed'])],
        at_half={k: (v if isinstance(v, float) else _point(v))
                 for k, v in summary['at_half'].items()},
        models={name: dict(gflops=m['gflops'], hmean=m['hmean'], fixed=_point(m['fixed']),
                           oracle={v: _point(p) for v, p in m['oracle'].items()},
                           share=dict(m['share']))
                for name, m in summary['models'].items()})


def load_student_oracle(oracle_json: str, model: str) -> Dict[str, Any]:
    """The scale oracle of a DLD student forced to each scale (``scale_oracle.py``'s
    ``oracle.json`` and ``oracle.md``), for the results page.

    Args:
        oracle_json (str): The tool's ``oracle.json`` (``oracle.md`` beside it).
        model (str): The model's name on the page, which replaces the path of its per-image
            records that names its DRS run in the tool's output.

    Returns:
        dict: ``model``, ``markdown`` (the tool's tables), ``path`` and the JSON-ready
        summary ``fixed``, ``cheapest_keeping_matches`` (without the per-image choices),
        ``at_fixed_gflops`` and ``drs`` (the model's DRS against the oracle).
    """
    with open(oracle_json, encoding='utf-8') as f:
        result = json.load(f)
    with open(osp.join(osp.dirname(oracle_json), 'oracle.md'), encoding='utf-8') as f:
        markdown = f.read()
    if len(result['drs']) != 1:
        raise ValueError(f'{oracle_json}: expected the one DRS run of {model!r}, found '
                         f'{sorted(result["drs"])}')
    (records, drs), = result['drs'].items()
    cheapest = {k: v for k, v in result['cheapest_keeping_matches'].items() if k != 'choices'}
    return dict(model=model, path=oracle_json, markdown=markdown.replace(records, model),
                fixed=result['fixed'], cheapest_keeping_matches=cheapest,
                at_fixed_gflops=result['at_fixed_gflops'], drs=drs)


def format_student_oracle_section(student_oracle: Mapping[str, Any]) -> str:
    """The page's section on a DLD student's own scale oracle (:func:`load_student_oracle`)."""
    return '\n\n'.join([
        f'The student of {student_oracle["model"]} tested at each candidate scale with its DRS '
        'unused (`scale_oracle.py --force-dld-scale`), and the oracle of its own scales; its '
        'DRS is compared with that oracle. The reference of "keeping the matches" is its '
        'largest candidate scale. GFLOPs per image are those of its cost table (the DRS run\'s '
        'costs without the DRS).',
        student_oracle['markdown'].strip()])


__all__: List[str] = ['HALF_BUDGET', 'VARIANT_TITLES', 'vanilla_scale_table', 'oracle_summary',
                      'format_oracle_section', 'oracle_json', 'load_student_oracle',
                      'format_student_oracle_section']
