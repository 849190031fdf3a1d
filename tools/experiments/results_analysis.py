"""Everything the results page computes from the per-image records of the reproduction's rows.

One call, :func:`analyse_results`, after every model is evaluated: the claim check's paired
comparisons (:mod:`.claims`), the Vanilla scale oracle and each DRS model against it
(:mod:`.oracle`), and the chosen scales per text regime (:mod:`.regimes`). No model runs.
"""
from typing import Any, Dict, List, Mapping, Optional, Sequence

from .claims import claim_comparisons, comparisons_json
from .intervals import Records, load_records
from .oracle import oracle_json, oracle_summary, vanilla_scale_table
from .regimes import regime_analysis, regimes_json, split_images_info


def row_records(rows: Sequence[Mapping[str, Any]]) -> Dict[str, Records]:
    """Row name -> per-image records, for the rows that have them (``per_image``)."""
    return {row['name']: load_records(row['per_image']) for row in rows
            if row.get('per_image')}


def drs_rows(rows: Sequence[Mapping[str, Any]]) -> List[Mapping[str, Any]]:
    """The rows of models with a DRS (``drs`` true): DRS-only and DLD."""
    return [row for row in rows if row.get('drs')]


def analyse_results(rows: Sequence[Mapping[str, Any]], teacher_config: Optional[str] = None,
                    root: str = '.') -> Dict[str, Any]:
    """The claim check, the oracle and the regime tables of the rows.

    Args:
        rows (Sequence[Mapping]): The table's rows; ``per_image`` names their records,
            ``kind`` is ``'vanilla'`` for the teacher at each scale, ``drs`` marks the DRS
            models.
        teacher_config (str, optional): The teacher's config, whose test annotations give
            each image's regime and smallest word (no regime tables without it).
        root (str): The folder the config's data root is relative to.

    Returns:
        dict: ``images`` (name -> records), ``claims`` (:func:`.claims.claim_comparisons`),
        ``oracle`` (:func:`.oracle.oracle_summary`, None with fewer than 2 Vanilla rows
        with records and GFLOPs) and ``regimes`` (:func:`.regimes.regime_analysis` of the
        DRS models, None without a teacher config or DRS records).
    """
    images = row_records(rows)
    vanilla = [r for r in rows if r.get('kind') == 'vanilla']
    oracle = None
    if len(vanilla) >= 2 and all(r['name'] in images and r.get('gflops') is not None
                                 for r in vanilla):
        models = [dict(name=r['name'], gflops=r['gflops'], hmean=r['e2e_none'] / 100.0)
                  for r in drs_rows(rows) if r.get('gflops') is not None]
        oracle = oracle_summary(vanilla_scale_table(vanilla, images), models)
    drs = {r['name']: images[r['name']] for r in drs_rows(rows) if r['name'] in images}
    regimes = None
    if teacher_config is not None and drs:
        regimes = regime_analysis(drs, split_images_info(teacher_config, root))
    return dict(images=images, claims=claim_comparisons(rows, images), oracle=oracle,
                regimes=regimes)


def analysis_json(analysis: Mapping[str, Any]) -> Dict[str, Any]:
    """:func:`analyse_results` as JSON-ready values (without the records themselves)."""
    return dict(claims=comparisons_json(analysis['claims']),
                oracle=None if analysis['oracle'] is None else oracle_json(analysis['oracle']),
                regimes=None if analysis['regimes'] is None else regimes_json(
                    analysis['regimes']))


__all__ = ('row_records', 'drs_rows', 'analyse_results', 'analysis_json')
