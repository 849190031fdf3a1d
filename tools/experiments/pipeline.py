"""The steps the demo and the reproduction chain: train, test, FLOPs, FPS, scale costs, Vanilla
configs.

Each step is a run of one of the repository's tools (``tools/train.py``, ``tools/test.py``,
``tools/analysis_tools/get_flops.py``, ``benchmark_fps.py``, ``measure_scale_costs.py``) in a
subprocess, so that each has
the clean process state and the MMEngine logs of a normal run; this module only builds their
command lines, declares the files that mark them done and reads the results back.
"""
import copy
import json
import os
import os.path as osp
import pickle
from collections import Counter
from typing import Any, Dict, List, Optional, Sequence

from mmengine.config import Config

from mmdld.apis import find_resize
from mmdld.evaluation.functional import PER_IMAGE_FILE
from .report import load_row
from .stages import StageRunner, python_cmd

#: Test-stage override of DLD models: no full-image masks in the dumped predictions (the
#: metric reads the polygons), which keeps ``predictions.pkl`` small.
NO_MASKS = {'model.student.test_cfg.rcnn.return_masks': False}

TOOLS = dict(
    train='tools/train.py',
    test='tools/test.py',
    flops='tools/analysis_tools/get_flops.py',
    fps='tools/analysis_tools/benchmark_fps.py',
    scale_costs='tools/analysis_tools/measure_scale_costs.py',
    scale_oracle='tools/analysis_tools/scale_oracle.py',
)


def cfg_options(options: Dict[str, Any]) -> List[str]:
    """``--cfg-options`` arguments (``key=value``) for MMEngine's ``DictAction``.

    Values are written so that ``DictAction`` parses them back to the same type: strings
    as they are, booleans as ``True``/``False``, numbers with ``repr``.
    """
    if not options:
        return []
    args = ['--cfg-options']
    for key, value in options.items():
        args.append(f'{key}={value}')
    return args


def final_checkpoint(work_dir: str, config: str) -> str:
    """The checkpoint an iteration-based training run of ``config`` ends with.

    Raises:
        ValueError: If the config's ``train_cfg`` is not iteration-based (``max_iters``).
    """
    cfg = Config.fromfile(config)
    max_iters = cfg.get('train_cfg', {}).get('max_iters')
    if max_iters is None:
        raise ValueError(f'{config}: `train_cfg.max_iters` is missing; the demo and the '
                         'reproduction train iteration-based schedules')
    return osp.join(work_dir, f'iter_{int(max_iters)}.pth')


def train(runner: StageRunner, name: str, config: str, work_dir: str,
          options: Optional[Dict[str, Any]] = None) -> str:
    """Trains ``config`` into ``work_dir`` (resuming an interrupted run); returns the checkpoint.

    The stage is done when the final checkpoint exists. A run stopped midway resumes from its
    latest checkpoint (``--resume``, MMEngine's ``last_checkpoint``).
    """
    ckpt = final_checkpoint(work_dir, config)
    args = [config, '--work-dir', work_dir]
    if osp.isfile(osp.join(work_dir, 'last_checkpoint')):
        args.append('--resume')
    # The run's output (its config dump first) goes to a file; the runner shows its progress.
    runner.run(name, [ckpt], cmd=python_cmd(TOOLS['train'], *args, *cfg_options(options or {})),
               log_file=osp.join(work_dir, 'train.log'))
    return ckpt


def evaluation_stages(name: str, fps_images: int) -> List[str]:
    """The names of the stages :func:`evaluate` runs for model ``name`` (for a plan)."""
    return [f'{name}/test', f'{name}/flops'] + ([f'{name}/fps'] if fps_images > 0 else [])


def evaluate(runner: StageRunner,
             name: str,
             config: str,
             checkpoint: str,
             out_dir: str,
             options: Optional[Dict[str, Any]] = None,
             cost_images: int = 10,
             fps_images: int = 20,
             dump_predictions: bool = False,
             test_options: Optional[Dict[str, Any]] = None) -> Dict[str, str]:
    """Tests a checkpoint on the config's test split, then counts FLOPs and times inference.

    Three stages: ``<name>/test`` (``tools/test.py`` with the metric's ``outfile_dir``, which
    writes ``metrics/spotting_results.json`` and the per-image records
    ``metrics/per_image.json``),
    ``<name>/flops`` (``get_flops.py`` on ``cost_images`` test images) and ``<name>/fps``
    (``benchmark_fps.py`` on ``fps_images`` images, 2 of them warm-up).

    Args:
        runner (StageRunner): Runs (or skips) the stages.
        name (str): The model's name, used for stage names.
        config (str): Test config.
        checkpoint (str): Weights.
        out_dir (str): Where the results go (``metrics/spotting_results.json``,
            ``flops.json``, ``fps.json``, ``test.log``...).
        options (dict, optional): Config overrides for all three tools.
        cost_images (int): Test images for the FLOPs count (0: all).
        fps_images (int): Test images for the speed measurement (0: not measured, the
            ``fps`` path is then None).
        dump_predictions (bool): Also write the predictions (``predictions.pkl``), e.g. for
            the histogram of DLD's chosen scales.
        test_options (dict, optional): Overrides for the test stage only (e.g. no full-image
            masks in the dumped predictions), so that FLOPs and speed are measured with the
            same settings for every model.

    Returns:
        dict: Paths ``metrics``, ``per_image``, ``flops``, ``fps`` (and ``predictions``).
    """
    options = dict(options or {})
    paths = dict(metrics=osp.join(out_dir, 'metrics', 'spotting_results.json'),
                 per_image=osp.join(out_dir, 'metrics', PER_IMAGE_FILE),
                 flops=osp.join(out_dir, 'flops.json'), fps=osp.join(out_dir, 'fps.json'))
    test_opts = dict(options, **(test_options or {}))
    test_opts['test_evaluator.outfile_dir'] = osp.join(out_dir, 'metrics')
    # The records are an output: a test run from before they existed is run again.
    outputs = [paths['metrics'], paths['per_image']]
    test_args = [config, checkpoint, '--work-dir', osp.join(out_dir, 'work_dir')]
    if dump_predictions:
        paths['predictions'] = osp.join(out_dir, 'predictions.pkl')
        outputs.append(paths['predictions'])
        test_args += ['--out', paths['predictions']]
    runner.run(f'{name}/test', outputs,
               cmd=python_cmd(TOOLS['test'], *test_args, *cfg_options(test_opts)),
               log_file=osp.join(out_dir, 'test.log'))
    runner.run(f'{name}/flops', [paths['flops']],
               cmd=python_cmd(TOOLS['flops'], config, checkpoint, '--num-images',
                              str(cost_images), '--out', paths['flops'],
                              *cfg_options(options)),
               log_file=osp.join(out_dir, 'flops.log'))
    if fps_images <= 0:
        paths['fps'] = None
        return paths
    runner.run(f'{name}/fps', [paths['fps']],
               cmd=python_cmd(TOOLS['fps'], config, checkpoint, '--max-iter', str(fps_images),
                              '--num-warmup', str(min(2, max(fps_images - 1, 0))),
                              '--log-interval', '0', '--out', paths['fps'],
                              *cfg_options(options)),
               log_file=osp.join(out_dir, 'fps.log'))
    return paths


def row_from(name: str, paths: Dict[str, str], scale: Optional[float] = None,
             **extra: Any) -> Dict[str, Any]:
    """The report row of a model evaluated by :func:`evaluate` (with the E2E None interval
    from its per-image records)."""
    return load_row(name, paths['metrics'], paths.get('flops'), paths.get('fps'), scale=scale,
                    per_image_json=paths.get('per_image'), **extra)


def measure_scale_costs(runner: StageRunner, config: str, checkpoint: str, out: str,
                        num_images: int, scales: Sequence[float]) -> str:
    """The stage ``scale_costs``: ``T_i`` of ``config`` at ``scales`` with ``checkpoint``'s
    weights, by ``measure_scale_costs.py`` on ``num_images`` test images; skipped when ``out``
    exists.

    A DLD config's ``model.student`` is measured (with the teacher's checkpoint: the student
    has its architecture) and its DRS too, so that the file holds every cost a DRS student
    needs (``selector_gflops`` included) and none is measured on a training batch.

    Returns:
        str: ``out``, for ``model.scale_costs_file``.
    """
    if num_images < 1:
        raise ValueError(f'scale costs: --num-images must be >= 1, got {num_images}')
    runner.run('scale_costs', [out],
               cmd=python_cmd(TOOLS['scale_costs'], config, '--checkpoint', checkpoint,
                              '--num-images', str(num_images), '--split', 'test',
                              '--scales', *(f'{s:g}' for s in scales), '--out', out),
               log_file=osp.join(osp.dirname(out), 'scale_costs.log'))
    return out


def student_scale_oracle(runner: StageRunner, name: str, config: str, checkpoint: str,
                         out_dir: str, scales: Sequence[float], drs_records: str,
                         options: Optional[Dict[str, Any]] = None) -> str:
    """The stage ``<name>/oracle``: a DLD student forced to each candidate scale.

    ``scale_oracle.py --force-dld-scale`` tests the student SKD-only at every scale of
    ``scales`` on the test split (``<out_dir>/scale_<s>/``) and builds its scale oracle, with
    the student's own DRS run (``drs_records``, its ``per_image.json``) compared with it: the
    DRS's choices against the best choices of the same student's scales. The forced student
    keeps the DRS model's per-scale GFLOPs (its ``scale_costs_file``), so both share one axis.

    Returns:
        str: ``<out_dir>/oracle.json`` (``oracle.md`` beside it).
    """
    out = osp.join(out_dir, 'oracle.json')
    runner.run(f'{name}/oracle', [out, osp.join(out_dir, 'oracle.md')],
               cmd=python_cmd(TOOLS['scale_oracle'], config, checkpoint, '--force-dld-scale',
                              '--scales', *(f'{s:g}' for s in scales), '--work-dir', out_dir,
                              '--drs', drs_records, *cfg_options(options or {})),
               log_file=osp.join(out_dir, 'oracle.log'))
    return out


def fixed_scale_costs_file(costs_file: str, scale: float, out: str) -> Optional[str]:
    """A cost file for a fixed-scale (SKD-only) model: the entries of ``scale`` only.

    A DLD model's ``scale_costs_file`` must hold exactly its scales, and an SKD-only model has
    one; without a file it would measure its costs on its first training batch.

    Args:
        costs_file (str): ``measure_scale_costs.py --out`` at the candidate scales.
        scale (float): The fixed scale.
        out (str): Where the one-scale file goes (written again each time: it is derived).

    Returns:
        str or None: ``out``, or None when ``scale`` was not measured (the model then
        measures its own costs).
    """
    with open(costs_file, encoding='utf-8') as f:
        data = json.load(f)
    matches = [i for i, s in enumerate(data['scales']) if abs(float(s) - scale) < 1e-6]
    if not matches:
        return None
    (index, ) = matches
    subset = dict(data, scales=[float(scale)],
                  scale_costs=[data['scale_costs'][index]],
                  scale_gflops=[data['scale_gflops'][index]],
                  derived_from=costs_file)
    # No DRS at a fixed scale: its GFLOPs would be added to every image's.
    subset.pop('selector_gflops', None)
    subset.pop('selector_share', None)
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with open(out, 'w', encoding='utf-8') as f:
        json.dump(subset, f, indent=2)
    return out


def scaled_test_config(config: str, scale: float, out_path: str) -> str:
    """Writes a copy of ``config`` whose test images are resized to ``scale`` x its base size.

    This is the "Vanilla multi-scale" model of the paper tested at S-N with N = scale x base
    (e.g. the teacher's S-320 at 0.5 becomes S-160): the ``Resize`` of the test pipeline gets
    its ``scale`` multiplied. Predictions are still reported in the original image frame.

    Args:
        config (str): A spotter config with a ``Resize`` in its test pipeline.
        scale (float): Factor in (0, 1].
        out_path (str): Where the new config is written.

    Returns:
        str: ``out_path``.

    Raises:
        ValueError: If ``scale`` is out of range or the test pipeline has no ``Resize``.
    """
    if not 0 < scale <= 1:
        raise ValueError(f'scaled_test_config: scale must be in (0, 1], got {scale}')
    cfg = Config.fromfile(config)
    loader = copy.deepcopy(cfg.test_dataloader)
    resize = find_resize(loader['dataset'].get('pipeline') or [],
                         f'{config} test_dataloader.dataset.pipeline')
    size = resize['scale']
    resize['scale'] = (max(1, int(round(size * scale))) if isinstance(size, int) else
                       tuple(max(1, int(round(s * scale))) for s in size))
    cfg.test_dataloader = loader
    os.makedirs(osp.dirname(osp.abspath(out_path)), exist_ok=True)
    cfg.dump(out_path)
    return out_path


def scale_histogram(predictions_pkl: str) -> Dict[float, int]:
    """How many test images a DLD model ran at each scale (``dld_scale`` of each prediction).

    Args:
        predictions_pkl (str): The ``--out`` dump of ``tools/test.py`` (MMEngine's
            ``DumpResults``: one dict per image).

    Raises:
        KeyError: If the dump has no ``dld_scale`` (not a DLD model), naming the file.
    """
    with open(predictions_pkl, 'rb') as f:
        results = pickle.load(f)
    scales = []
    for i, result in enumerate(results):
        if 'dld_scale' not in result:
            raise KeyError(f'{predictions_pkl}: prediction {i} has no `dld_scale`; only DLD '
                           'models choose a scale per image')
        scales.append(round(float(result['dld_scale']), 4))
    return dict(sorted(Counter(scales).items(), reverse=True))


__all__: Sequence[str] = ('NO_MASKS', 'TOOLS', 'cfg_options', 'final_checkpoint', 'train',
                          'student_scale_oracle',
                          'evaluation_stages', 'evaluate', 'row_from', 'measure_scale_costs',
                          'fixed_scale_costs_file', 'scaled_test_config', 'scale_histogram')
