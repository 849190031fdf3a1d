"""The per-image scale oracle of a model: its accuracy when every image gets the best scale.

Evaluates a checkpoint at every candidate scale on every test image, then builds the oracle
selectors of :mod:`mmdld.evaluation.functional.scale_oracle` (see "The per-image scale oracle"
in ``docs/dld.md``)::

    # the teacher / Vanilla: the test pipeline's Resize multiplied by each scale
    python tools/analysis_tools/scale_oracle.py configs/demo/spotter_r18w32_demo.py \\
        work_dirs/demo/teacher/iter_2500.pth --work-dir work_dirs/oracle/teacher \\
        --scales 1.0 0.8 0.7 0.6 0.5 0.4 0.3

    # a DLD student forced to each scale (SKD-only at that scale, its DRS unused), compared
    # with the same student's DRS
    python tools/analysis_tools/scale_oracle.py configs/demo/dld_r18w32_demo.py \\
        work_dirs/demo/student/iter_100.pth --work-dir work_dirs/oracle/student \\
        --force-dld-scale --drs work_dirs/demo/eval/student/metrics/per_image.json

Each scale is one MMEngine test run in this process (as ``tools/test.py`` runs it), whose
metric writes ``<work-dir>/scale_<s>/per_image.json``, next to ``provenance.json`` (the
config, its resolved settings' hash, the checkpoint, the scale). A scale whose records exist
is not run again when its provenance is this run's; a folder of another config or checkpoint,
or one without provenance (an older version of the tool), is refused, or recomputed with
``--overwrite``. GFLOPs per image come from the records when the model reports them (DLD
models); else they are counted on ``--flops-images`` test images at each scale (``flops.json``
next to the records). Writes ``<work-dir>/oracle.json`` (the fixed-scale curve, the cheapest
scale keeping the reference's matches, both budget oracles with their per-image choices, the
DRS comparisons) and ``<work-dir>/oracle.md``, and prints the table.
"""
import argparse
import copy
import hashlib
import itertools
import json
import os
import os.path as osp
from collections import Counter
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from mmengine.config import Config, DictAction

from mmdld.apis import find_resize
from mmdld.utils import apply_flush_denormal
from mmdld.evaluation.functional import (PER_IMAGE_FILE, counts_array, image_stem,
                                         load_per_image)
from mmdld.evaluation.functional.scale_oracle import (ORACLE_VARIANTS, OracleCurve, Point,
                                                      ScaleTable, budget_oracle,
                                                      check_same_care_gt,
                                                      cheapest_keeping_matches, fixed_at,
                                                      fixed_scale_curve, oracle_at,
                                                      oracle_words, share_of_oracle_gain,
                                                      table_from_counts)

DEFAULT_SCALES = (1.0, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3)
#: File of each scale's counted GFLOPs, next to its ``per_image.json``.
FLOPS_FILE = 'flops.json'
#: File of what produced a scale's records (:func:`scale_provenance`), next to them.
PROVENANCE_FILE = 'provenance.json'
PROVENANCE_FORMAT = 'mmdld.scale_oracle.provenance/1'
#: Bytes of a checkpoint that its provenance hashes: enough to tell two trainings apart (the
#: first tensors' values) without reading a whole checkpoint of hundreds of MB.
CHECKPOINT_HASH_BYTES = 1 << 20
#: Distinct experiment names for the runners of one process (MMEngine keys its logger and
#: visualizer instances by name, with a timestamp of one-second resolution).
_RUN_IDS = itertools.count()


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parses the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='test config: a spotter, or a DLD model with '
                        '--force-dld-scale')
    parser.add_argument('checkpoint', help='checkpoint to evaluate')
    parser.add_argument('--scales', type=float, nargs='+', default=list(DEFAULT_SCALES),
                        help='scales to evaluate; the largest is the reference (include 1.0, '
                        'full resolution)')
    parser.add_argument('--work-dir', required=True,
                        help='output folder (scale_<s>/ per scale, oracle.json, oracle.md)')
    parser.add_argument('--force-dld-scale', action='store_true',
                        help='the config is a DLDDistiller: evaluate its student at each scale '
                        '(SKD-only at that scale, the selector unused)')
    parser.add_argument('--key', default='e2e/none',
                        help="counts the oracle maximises: 'e2e/none' (default), 'det', "
                        "'e2e/<lexicon>', 'ws/<lexicon>'")
    parser.add_argument('--flops-images', type=int, default=10,
                        help='test images whose GFLOPs are counted at each scale when the model '
                        'does not report them (<= 0: all; with all of them the costs are per '
                        'image, else their mean per scale)')
    parser.add_argument('--drs', nargs='+', default=[], metavar='PER_IMAGE_JSON',
                        help='per_image.json of DRS runs on the same test set, compared with '
                        'the oracle at their GFLOPs')
    parser.add_argument('--overwrite', action='store_true',
                        help='recompute a scale whose folder holds records of another run (its '
                        f'{PROVENANCE_FILE} differs or is missing) instead of refusing; '
                        'folders of this run are still reused')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, key=value pairs')
    args = parser.parse_args(argv)
    if any(not 0 < s <= 1 for s in args.scales):
        parser.error(f'--scales must be in (0, 1], got {args.scales}')
    if len(set(args.scales)) != len(args.scales) or len(args.scales) < 2:
        parser.error(f'--scales needs at least 2 distinct scales, got {args.scales}')
    return args


# ------------------------------------------------------------------------ configs per scale
def scale_dir(work_dir: str, scale: float) -> str:
    """``<work_dir>/scale_<s>``, e.g. ``scale_0.8``."""
    return osp.join(work_dir, f'scale_{float(scale)}')


def scaled_spotter_cfg(cfg: Config, scale: float, config: str) -> Config:
    """A copy of a spotter config whose test ``Resize`` has its ``scale`` multiplied by
    ``scale`` (the Vanilla model at S-N, rounded as ``tools/experiments`` rounds it)."""
    cfg = copy.deepcopy(cfg)
    resize = find_resize(cfg.test_dataloader.dataset.get('pipeline') or [],
                         f'{config}: test_dataloader.dataset.pipeline')
    size = resize['scale']
    resize['scale'] = (max(1, int(round(size * scale))) if isinstance(size, (int, float)) else
                       tuple(max(1, int(round(s * scale))) for s in size))
    return cfg


def checkpoint_scale_gflops(cfg: Config, checkpoint: str) -> Dict[float, float]:
    """The student GFLOPs per candidate scale that a DLD model uses, by the priority of its
    cost table: the config's ``model.scale_gflops``, its ``model.scale_costs_file``, the
    checkpoint's ``cost_table.stored_scale_gflops``.

    Forcing a scale keeps these numbers, so that the forced student and the DRS report the
    same cost for the same scale. Empty when none has them (they are then measured).
    """
    selector = cfg.model.get('selector') or {}
    scales = [float(s) for s in selector.get('scales', ())]
    values = cfg.model.get('scale_gflops')
    if values is None and cfg.model.get('scale_costs_file'):
        from mmdld.models.distillers.scale_costs import load_costs_file
        values = load_costs_file(cfg.model.scale_costs_file, scales)['scale_gflops']
    if values is None:
        from mmdld.models.distillers.teacher import checkpoint_state_dict
        stored = checkpoint_state_dict(checkpoint).get('cost_table.stored_scale_gflops')
        values = None if stored is None else stored.tolist()
    if values is None or len(values) != len(scales) or not np.isfinite(values).all():
        return {}
    return dict(zip(scales, (float(v) for v in values)))


def forced_dld_cfg(cfg: Config, scale: float, config: str,
                   known_gflops: Mapping[float, float]) -> Config:
    """A DLD config turned SKD-only at ``scale``: ``model.selector=None``,
    ``model.fixed_scale=scale`` (what ``config_checks.check_scale_mode`` asks for), the
    per-scale costs of the candidate scales dropped (``scale_costs``, ``scale_costs_file``,
    ``drs_loss.scale_costs``: one scale now) and the student's GFLOPs at ``scale`` kept from
    ``known_gflops`` when there (:func:`checkpoint_scale_gflops`). The checkpoint's selector
    weights go unused (MMEngine's Runner loads non-strictly).
    """
    if cfg.model.get('type') != 'DLDDistiller':
        raise ValueError(f'{config}: --force-dld-scale needs a DLDDistiller config, '
                         f'model.type is {cfg.model.get("type")!r}')
    cfg = copy.deepcopy(cfg)
    cfg.model.selector = None
    cfg.model.fixed_scale = float(scale)
    cfg.model.scale_costs = None
    cfg.model.selector_gflops = None
    if 'scale_costs_file' in cfg.model:  # measured at the candidate scales, not at this one
        cfg.model.scale_costs_file = None
    gflops = known_gflops.get(float(scale))
    cfg.model.scale_gflops = None if gflops is None else [gflops]
    if isinstance(cfg.model.get('drs_loss'), dict):
        cfg.model.drs_loss.pop('scale_costs', None)
    return cfg


def evaluation_cfg(cfg: Config, out_dir: str, checkpoint: str, name: str) -> Config:
    """The test run's settings: records to ``out_dir`` (no RRC submission files), the
    checkpoint, a work dir and an experiment name of its own."""
    cfg = copy.deepcopy(cfg)
    evaluator = cfg.get('test_evaluator')
    if not isinstance(evaluator, dict):
        raise ValueError('scale_oracle: `test_evaluator` must be one metric dict '
                         f'(E2ESpottingMetric), got {type(evaluator).__name__}')
    evaluator.update(outfile_dir=out_dir, dump_submission=False)
    cfg.work_dir = osp.join(out_dir, 'work_dir')
    cfg.load_from = checkpoint
    cfg.resume = False
    cfg.launcher = 'none'
    cfg.experiment_name = f'scale_oracle_{name}_{next(_RUN_IDS)}'
    if isinstance(cfg.get('visualizer'), dict):  # its own, writing into this run's work dir
        cfg.visualizer.name = cfg.experiment_name
    return cfg


# ------------------------------------------------------------------------ provenance
def config_sha256(cfg: Config) -> str:
    """sha256 of the resolved config (its dict as sorted JSON).

    Ours because MMEngine's ``Config.pretty_text`` (its dump) formats with yapf, seconds per
    scale; the JSON of ``to_dict()`` holds the same settings.
    """
    text = json.dumps(cfg.to_dict(), sort_keys=True, default=repr)
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


def checkpoint_identity(checkpoint: str) -> Dict[str, Any]:
    """``checkpoint`` (its absolute path), ``checkpoint_size`` and ``checkpoint_sha256_1mib``
    (of its first :data:`CHECKPOINT_HASH_BYTES`) of a local file; a URL keeps its address only
    (size and hash None).

    Raises:
        FileNotFoundError: If a local checkpoint does not exist, naming it.
    """
    if '://' in checkpoint:
        return dict(checkpoint=checkpoint, checkpoint_size=None, checkpoint_sha256_1mib=None)
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'scale_oracle: checkpoint {checkpoint} does not exist')
    with open(checkpoint, 'rb') as f:
        head = f.read(CHECKPOINT_HASH_BYTES)
    return dict(checkpoint=osp.abspath(checkpoint), checkpoint_size=osp.getsize(checkpoint),
                checkpoint_sha256_1mib=hashlib.sha256(head).hexdigest())


def scale_provenance(scale_cfg: Config, config: str, checkpoint: Mapping[str, Any],
                     scale: float, force_dld_scale: bool) -> Dict[str, Any]:
    """What produced the records of one scale, as ``provenance.json`` holds it.

    Args:
        scale_cfg (Config): The scale's resolved config (``--cfg-options`` and the scale's
            changes applied, before the test run's own settings).
        config (str): The config file given.
        checkpoint (Mapping): :func:`checkpoint_identity` of the checkpoint.
        scale (float): The scale.
        force_dld_scale (bool): Whether a DLD student was forced to the scale.
    """
    return dict(format=PROVENANCE_FORMAT, config=osp.abspath(config),
                config_sha256=config_sha256(scale_cfg), **checkpoint, scale=float(scale),
                force_dld_scale=bool(force_dld_scale))


def provenance_differences(out_dir: str, expected: Mapping[str, Any]) -> Optional[str]:
    """Why the records in ``out_dir`` are not this run's, or None when they are.

    Returns:
        str or None: The differing fields (``field: <there> there, <here> now``), or that the
        folder has no (readable) provenance.
    """
    path = osp.join(out_dir, PROVENANCE_FILE)
    if not osp.isfile(path):
        return (f'no {PROVENANCE_FILE}: written by an older version of this tool, its config '
                'and checkpoint are unknown')
    try:
        with open(path, encoding='utf-8') as f:
            stored = json.load(f)
    except json.JSONDecodeError as error:
        return f'{PROVENANCE_FILE} is not JSON ({error})'
    if not isinstance(stored, dict):
        return f'{PROVENANCE_FILE} is not a JSON object'
    differing = [f'{key}: {stored.get(key)!r} there, {value!r} now'
                 for key, value in expected.items() if stored.get(key) != value]
    return '; '.join(differing) or None


def write_json(path: str, data: Any) -> None:
    """Writes ``data`` to ``path`` through a ``.part`` file: an interrupted write leaves none."""
    with open(f'{path}.part', 'w', encoding='utf-8') as f:
        json.dump(data, f, indent=2)
    os.replace(f'{path}.part', path)


def reusable_records(out_dir: str, expected: Mapping[str, Any], overwrite: bool) -> bool:
    """Whether ``out_dir`` holds records of this run (its provenance is ``expected``).

    Records with a different or no provenance are refused, or with ``overwrite`` reported as
    not reusable (the scale is then run again).

    Raises:
        SystemExit: If the folder holds records of another run and not ``overwrite``; the
            message names the folder and the differing fields.
    """
    if not osp.isfile(osp.join(out_dir, PER_IMAGE_FILE)):
        return False
    reason = provenance_differences(out_dir, expected)
    if reason is None:
        return True
    if not overwrite:
        raise SystemExit(f'scale_oracle.py: {out_dir} holds the records of another run '
                         f'({reason}); pass --overwrite to recompute it, or use another '
                         '--work-dir')
    print(f'scale_oracle.py: recomputing {out_dir} ({reason})')
    return False


# ------------------------------------------------------------------------ running
def run_test(cfg: Config) -> Any:
    """Tests ``cfg`` with MMEngine's Runner in this process (as ``tools/test.py`` does);
    returns the runner (its model holds the loaded weights)."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    from mmdld.utils import register_all_modules
    from mmdld.utils.dist import setup_cpu_distributed
    register_all_modules(init_default_scope=False)
    setup_cpu_distributed(cfg)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    runner.test()
    return runner


def count_gflops(model: Any, cfg: Config, num_images: int) -> Dict[str, float]:
    """GFLOPs of the whole test step of each of the first ``num_images`` test images (all
    when <= 0), by image stem.

    The one place that counts FLOPs here: switch the counter in this function.
    """
    from mmengine.runner import Runner

    from mmdld.evaluation.cost import count_inference_flops
    loader = Runner.build_dataloader(dict(cfg.test_dataloader, batch_size=1, num_workers=0,
                                          persistent_workers=False))
    model.eval()
    per_image: Dict[str, float] = {}
    for data_batch in loader:
        if 0 < num_images <= len(per_image):
            break
        # The first batch warms up one-off work untraced (as get_flops.py does).
        flops = count_inference_flops(model, data_batch, warmup=not per_image)['flops']
        (sample, ) = data_batch['data_samples']
        per_image[image_stem(sample.metainfo['img_path'])] = flops / 1e9
    return per_image


def run_scale(cfg: Config, checkpoint: str, scale: float, out_dir: str, flops_images: int,
              provenance: Mapping[str, Any], overwrite: bool = False) -> None:
    """Evaluates one scale into ``out_dir`` unless it holds this run's ``per_image.json``;
    counts its GFLOPs when the records carry none and ``flops.json`` does not exist.

    Args:
        cfg (Config): The scale's config.
        checkpoint (str): The checkpoint.
        scale (float): The scale.
        out_dir (str): The scale's folder.
        flops_images (int): Test images whose GFLOPs are counted (all when <= 0).
        provenance (Mapping): :func:`scale_provenance` of this run, checked against the
            folder's records (:func:`reusable_records`) and written before a test run.
        overwrite (bool): Recompute records of another run instead of refusing them.
    """
    records_path = osp.join(out_dir, PER_IMAGE_FILE)
    flops_path = osp.join(out_dir, FLOPS_FILE)
    runner = None
    if not reusable_records(out_dir, provenance, overwrite):
        # Old records and their count go first, then this run's provenance: an interrupted
        # run never leaves records beside another run's provenance.
        for path in (records_path, flops_path):
            if osp.isfile(path):
                os.remove(path)
        os.makedirs(out_dir, exist_ok=True)
        write_json(osp.join(out_dir, PROVENANCE_FILE), dict(provenance))
        runner = run_test(evaluation_cfg(cfg, out_dir, checkpoint, f'scale_{scale}'))
        if not osp.isfile(records_path):
            raise RuntimeError(f'scale_oracle: the test run at scale {scale} wrote no '
                               f'{records_path}; is test_evaluator an E2ESpottingMetric?')
    images = load_per_image(records_path)['images']
    if all(r['gflops'] is not None for r in images) or osp.isfile(flops_path):
        return
    if runner is None:  # records from an earlier run: build the model again for the count
        from mmdld.apis import init_spotter
        model = init_spotter(cfg, checkpoint)
    else:
        model = runner.model
    # Through a .part file: an interrupted count leaves no flops.json.
    write_json(flops_path, dict(per_image=count_gflops(model, cfg, flops_images), scale=scale))


# ------------------------------------------------------------------------ the table
def scale_costs(records: Sequence[Mapping[str, Any]], counted: Optional[Mapping[str, float]],
                where: str) -> Tuple[np.ndarray, str]:
    """``[N]`` GFLOPs of the images of one scale, and where they come from.

    The records' own ``gflops`` when every record has one (``'records'``); else the counted
    GFLOPs, per image when every image was counted (``'counted per image'``), else their mean
    for every image (``'counted mean of M images'``).

    Raises:
        ValueError: If neither gives a cost, naming ``where``.
    """
    names = [r['name'] for r in records]
    if all(r['gflops'] is not None for r in records):
        return np.array([float(r['gflops']) for r in records]), 'records'
    if not counted:
        raise ValueError(f'{where}: the records have no gflops and no FLOPs were counted '
                         f'({FLOPS_FILE})')
    if all(name in counted for name in names):
        return np.array([float(counted[name]) for name in names]), 'counted per image'
    mean = float(np.mean(list(counted.values())))
    return np.full(len(names), mean), f'counted mean of {len(counted)} images'


def load_scale_table(per_image_paths: Mapping[float, str], key: str = 'e2e/none',
                     counted_gflops: Optional[Mapping[float, Mapping[str, float]]] = None
                     ) -> Tuple[ScaleTable, Dict[float, str]]:
    """The :class:`ScaleTable` of ``per_image.json`` files, one per scale.

    Images are matched by name; the reference is the largest scale; the images keep the
    reference file's order.

    Args:
        per_image_paths (Mapping[float, str]): Scale -> its ``per_image.json``.
        key (str): Count key (``'e2e/none'``, ``'det'``...).
        counted_gflops (Mapping, optional): Scale -> image stem -> GFLOPs counted apart, for
            records without ``gflops``.

    Returns:
        tuple: The table (scales in descending order) and, per scale, where its GFLOPs come
        from (see :func:`scale_costs`).

    Raises:
        ValueError: If a file holds an image twice, the files hold different images, or an
            image's care GT differ between scales (naming the files and the image).
    """
    scales = sorted((float(s) for s in per_image_paths), reverse=True)
    counted_gflops = counted_gflops or {}
    by_scale: Dict[float, Dict[str, Dict[str, Any]]] = {}
    for scale in scales:
        path = per_image_paths[scale]
        images = load_per_image(path)['images']
        records = {r['name']: r for r in images}
        if len(records) != len(images):
            twice = sorted(n for n, c in Counter(r['name'] for r in images).items() if c > 1)
            raise ValueError(f'{path}: image(s) {twice[:5]} appear more than once')
        by_scale[scale] = records
    ref_path, names = per_image_paths[scales[0]], list(by_scale[scales[0]])
    for scale in scales[1:]:
        missing = [n for n in names if n not in by_scale[scale]]
        extra = [n for n in by_scale[scale] if n not in by_scale[scales[0]]]
        if missing or extra:
            raise ValueError(f'{per_image_paths[scale]} and {ref_path} hold different images: '
                             f'{missing[:5]} only in the latter, {extra[:5]} only in the former')
    counts = [counts_array([by_scale[s][n] for n in names], key) for s in scales]
    check_same_care_gt(counts, names, [per_image_paths[s] for s in scales], key)
    gflops, sources = [], {}
    for scale in scales:
        values, sources[scale] = scale_costs([by_scale[scale][n] for n in names],
                                             counted_gflops.get(scale),
                                             per_image_paths[scale])
        gflops.append(values)
    table = table_from_counts(counts, gflops, scales, names)
    return table, sources


def drs_point(path: str, key: str, names: Sequence[str]) -> Tuple[Point, List[Optional[float]]]:
    """A DRS run's operating point (summed counts, mean GFLOPs) and its per-image scales, in
    the order of ``names``.

    Raises:
        ValueError: If the run holds other images than the table, or a record has no GFLOPs.
    """
    records = {r['name']: r for r in load_per_image(path)['images']}
    if sorted(records) != sorted(names):
        only = sorted(set(records) ^ set(names))
        raise ValueError(f'{path}: the DRS run holds other test images than the scale runs '
                         f'(e.g. {only[:5]})')
    ordered = [records[n] for n in names]
    no_cost = [r['name'] for r in ordered if r['gflops'] is None]
    if no_cost:
        raise ValueError(f'{path}: image {no_cost[0]} has no gflops (a DRS run reports the '
                         'GFLOPs of its chosen scale)')
    counts = counts_array(ordered, key).sum(axis=0)
    point = Point(gflops=float(np.mean([r['gflops'] for r in ordered])),
                  matched=float(counts[0]), num_det=float(counts[2]), num_gt=int(counts[1]))
    return point, [r['scale'] for r in ordered]


# ------------------------------------------------------------------------ the analysis
def _point_dict(point: Optional[Point]) -> Optional[Dict[str, float]]:
    return None if point is None else point.to_dict()


def _curve_dict(curve: OracleCurve, table: ScaleTable) -> Dict[str, Any]:
    scales = table.scales
    return dict(
        points={field: [getattr(p, field) for p in curve.points]
                for field in ('gflops', 'matched', 'num_det', 'hmean')},
        start={table.names[i]: scales[k] for i, k in enumerate(curve.start)},
        upgrades=[[table.names[u.image], scales[u.source], scales[u.target]]
                  for u in curve.upgrades])


def _oracles_at(curves: Mapping[str, OracleCurve], gflops: float) -> Dict[str, Any]:
    return {f'{variant}/{mode}': _point_dict(oracle_at(curve, gflops, mode))
            for variant, curve in curves.items() for mode in ('interpolate', 'step')}


def analyse(table: ScaleTable, drs: Optional[Mapping[str, Tuple[Point, list]]] = None
            ) -> Dict[str, Any]:
    """Everything ``oracle.json`` holds but the run's settings.

    Args:
        table (ScaleTable): The per-image outcomes.
        drs (Mapping, optional): Name -> (:class:`Point`, per-image scales) of DRS runs.

    Returns:
        dict: ``fixed`` (one point per scale), ``cheapest_keeping_matches`` (point, its hmean
        with capped words, choices, images per scale), ``oracles`` (per variant: the points as
        columns, the start and the upgrades ``[image, from, to]``), ``at_fixed_gflops`` (both
        oracles at each fixed scale's GFLOPs) and ``drs`` (each run's point, the fixed scale
        and the oracles at its GFLOPs, its share of the oracle's gain, how often it picks the
        cheapest scale keeping the matches).
    """
    scales = table.scales
    fixed = fixed_scale_curve(table)
    cheapest = cheapest_keeping_matches(table)
    curves = {variant: budget_oracle(table, variant) for variant in ORACLE_VARIANTS}
    result: Dict[str, Any] = dict(
        fixed=[dict(scale=s, **p.to_dict()) for s, p in zip(scales, fixed)],
        cheapest_keeping_matches=dict(
            cheapest.point.to_dict(),
            # Its own words may exceed the reference's (lucky reads); capped as the oracle is.
            capped_hmean=table.point(cheapest.choices, oracle_words(table, 'capped')).hmean,
            choices={table.names[i]: scales[k] for i, k in enumerate(cheapest.choices)},
            images_per_scale={scales[k]: int(n) for k, n in
                              sorted(Counter(cheapest.choices.tolist()).items())}),
        oracles={variant: _curve_dict(curve, table) for variant, curve in curves.items()},
        at_fixed_gflops=[dict(scale=s, gflops=p.gflops, **_oracles_at(curves, p.gflops))
                         for s, p in zip(scales, fixed)],
        drs={})
    for name, (point, drs_scales) in (drs or {}).items():
        fixed_point = fixed_at(fixed, point.gflops)
        oracles = _oracles_at(curves, point.gflops)
        shares = {}
        for variant in ORACLE_VARIANTS:
            oracle = oracles[f'{variant}/interpolate']
            shares[variant] = (None if fixed_point is None or oracle is None else
                               share_of_oracle_gain(point.hmean, fixed_point.hmean,
                                                    oracle['hmean']))
        agree = [s is not None and abs(float(s) - scales[k]) < 1e-6
                 for s, k in zip(drs_scales, cheapest.choices)]
        result['drs'][name] = dict(point.to_dict(), fixed_at=_point_dict(fixed_point),
                                   oracle_at=oracles, share_of_oracle_gain=shares,
                                   picks_cheapest_keeping_matches=float(np.mean(agree)))
    return result


def _pct(value: Optional[float]) -> str:
    return '-' if value is None else f'{100 * value:.1f}'


def _hmean(point: Optional[Mapping[str, float]]) -> Optional[float]:
    return None if point is None else point['hmean']


def format_markdown(result: Mapping[str, Any], key: str) -> str:
    """``oracle.md``: the fixed scales beside the oracles at their GFLOPs, the cheapest scale
    keeping the matches, and each DRS's share of the oracle's gain."""
    lines = [f'Hmean of `{key}` (%) against mean GFLOPs per image. Oracles at the same GFLOPs '
             '(LP interpolation between greedy points; "step": the last whole choice within '
             'the budget).', '',
             '| scale | GFLOPs | fixed | oracle capped | capped (step) | oracle best-of-k | '
             'best-of-k (step) |', '| --- | --- | --- | --- | --- | --- | --- |']
    for fixed, at in zip(result['fixed'], result['at_fixed_gflops']):
        lines.append(f'| {fixed["scale"]:g} | {fixed["gflops"]:.3f} | {_pct(fixed["hmean"])} | '
                     + ' | '.join(_pct(_hmean(at[f'{v}/{m}'])) for v in ('capped', 'best_of_k')
                                  for m in ('interpolate', 'step')) + ' |')
    cheapest = result['cheapest_keeping_matches']
    per_scale = ', '.join(f'{s:g}: {n}' for s, n in cheapest['images_per_scale'].items())
    lines += ['', f'Cheapest scale keeping the reference\'s matches: hmean '
              f'{_pct(cheapest["hmean"])} (capped {_pct(cheapest["capped_hmean"])}) at '
              f'{cheapest["gflops"]:.3f} GFLOPs (images per scale: {per_scale}).']
    if result['drs']:
        lines += ['', '| DRS | GFLOPs | hmean | fixed at its GFLOPs | oracle capped | share '
                  '(capped) | oracle best-of-k | share (best-of-k) | picks the cheapest '
                  'keeping matches |', '| --- | --- | --- | --- | --- | --- | --- | --- | --- |']
        for name, drs in result['drs'].items():
            shares = drs['share_of_oracle_gain']
            share = {v: '-' if shares[v] is None else f'{shares[v]:.2f}' for v in shares}
            lines.append(
                f'| {name} | {drs["gflops"]:.3f} | {_pct(drs["hmean"])} | '
                f'{_pct(_hmean(drs["fixed_at"]))} | '
                f'{_pct(_hmean(drs["oracle_at"]["capped/interpolate"]))} | {share["capped"]} | '
                f'{_pct(_hmean(drs["oracle_at"]["best_of_k/interpolate"]))} | '
                f'{share["best_of_k"]} | {100 * drs["picks_cheapest_keeping_matches"]:.0f}% |')
    return '\n'.join(lines) + '\n'


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Runs the tool; returns what it wrote to ``oracle.json``."""
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    apply_flush_denormal(cfg.get('env_cfg'))  # before PyTorch's thread pool starts
    is_dld = cfg.model.get('type') == 'DLDDistiller'
    if is_dld and not args.force_dld_scale:
        raise SystemExit(f'scale_oracle.py: {args.config} is a DLDDistiller, whose DRS picks '
                         'the scale; pass --force-dld-scale to evaluate its student at each '
                         'scale')
    checkpoint = checkpoint_identity(args.checkpoint)
    known_gflops = checkpoint_scale_gflops(cfg, args.checkpoint) if is_dld else {}
    scales = sorted(args.scales, reverse=True)
    paths, counted = {}, {}
    for scale in scales:
        scale_cfg = (forced_dld_cfg(cfg, scale, args.config, known_gflops)
                     if args.force_dld_scale else scaled_spotter_cfg(cfg, scale, args.config))
        out_dir = scale_dir(args.work_dir, scale)
        provenance = scale_provenance(scale_cfg, args.config, checkpoint, scale,
                                      args.force_dld_scale)
        run_scale(scale_cfg, args.checkpoint, scale, out_dir, args.flops_images, provenance,
                  args.overwrite)
        paths[scale] = osp.join(out_dir, PER_IMAGE_FILE)
        if osp.isfile(osp.join(out_dir, FLOPS_FILE)):
            with open(osp.join(out_dir, FLOPS_FILE), encoding='utf-8') as f:
                counted[scale] = json.load(f)['per_image']

    table, sources = load_scale_table(paths, args.key, counted)
    drs = {path: drs_point(path, args.key, table.names) for path in args.drs}
    result = dict(config=args.config, checkpoint=args.checkpoint, key=args.key,
                  forced_dld_scale=args.force_dld_scale, scales=list(table.scales),
                  reference=table.scales[table.reference], num_images=table.num_images,
                  gflops_source={str(s): src for s, src in sources.items()},
                  **analyse(table, drs))
    os.makedirs(args.work_dir, exist_ok=True)
    with open(osp.join(args.work_dir, 'oracle.json'), 'w', encoding='utf-8') as f:
        json.dump(result, f, indent=1)
    markdown = format_markdown(result, args.key)
    with open(osp.join(args.work_dir, 'oracle.md'), 'w', encoding='utf-8') as f:
        f.write(markdown)
    print(markdown + f'\nwritten to {osp.join(args.work_dir, "oracle.json")} and oracle.md')
    return result


if __name__ == '__main__':
    main()
