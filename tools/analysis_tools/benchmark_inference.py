"""Inference speed: teacher at full resolution vs DLD student, same images, several sizes.

    python tools/analysis_tools/benchmark_inference.py \\
        configs/demo/spotter_r18w32_demo.py work_dirs/demo/teacher/iter_2500.pth \\
        configs/demo/dld_r18w32_demo.py work_dirs/demo/student/iter_100.pth \\
        --sizes 320 480 640 --num-images 16 --batch-size 4 \\
        --out work_dirs/demo/speed.json --update-doc docs/benchmarks.md

``benchmark_fps.py`` times one model at a time, one image per batch, at the config's own
resolution. This tool asks how much of DLD's FLOPs saving becomes wall-time saving, and how
that changes with the image size: both models run in one process on the same packed batches,
and for each input size (the teacher's full-resolution short side) it reports wall time per
image (median of ``--repeat`` passes, ``test_step`` with preprocessing, data loading
excluded), GFLOPs per image of the whole test step, and the teacher / DLD ratios of both. The
DLD student groups the images of a batch by the scale its DRS picks (one resized student pass
per group, no per-image Python loop). Recognition of the GT boxes (the "Rec" column of the
evaluations) is switched off for both.
"""
import argparse
import copy
import json
import os
import os.path as osp
import statistics
import sys
import time
from collections import Counter
from typing import Any, Dict, List, Optional, Sequence

import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate

from mmdld.apis import find_resize, get_test_pipeline_cfg, init_spotter
from mmdld.evaluation.cost import count_inference_flops
from mmdld.registry import DATASETS
from mmdld.utils import git_commit, machine_description

SECTION = 'Inference speed'
#: Any folder of the repository: where its commit is read.
HERE = osp.dirname(osp.abspath(__file__))


def resized_pipeline(cfg: Config, short_side: int) -> List[dict]:
    """The config's test pipeline with its ``Resize`` set to short side ``short_side``.

    The long-side limit keeps the config's aspect ratio bound (e.g. ``(1280, 320)`` at 480
    becomes ``(1920, 480)``).

    Raises:
        ValueError: If the test pipeline has no ``Resize`` with a ``(long, short)`` scale.
    """
    pipeline = get_test_pipeline_cfg(cfg)
    resize = find_resize(pipeline)
    if isinstance(resize['scale'], (int, float)):
        raise ValueError('the Resize of the test pipeline needs a (long, short) scale')
    long_side, short = resize['scale']
    resize['scale'] = (int(round(long_side * short_side / short)), int(short_side))
    return pipeline


def load_samples(cfg: Config, short_side: int, num_images: int) -> List[dict]:
    """The first ``num_images`` test images of ``cfg``, packed at ``short_side``."""
    dataset_cfg = copy.deepcopy(cfg.test_dataloader.dataset)
    dataset_cfg['pipeline'] = resized_pipeline(cfg, short_side)
    dataset = DATASETS.build(dataset_cfg)
    if len(dataset) == 0:
        raise ValueError('the test split is empty')
    return [dataset[i % len(dataset)] for i in range(num_images)]


def time_model(model: torch.nn.Module, batches: Sequence[dict], warmup: int = 1,
               repeat: int = 3) -> Dict[str, Any]:
    """Wall time of ``model.test_step`` over ``batches`` (preprocessing included).

    Args:
        model: The model in eval mode.
        batches: Collated batches (``pseudo_collate``).
        warmup: Batches run before the timing.
        repeat: Timed passes over all batches; the median is reported.

    Returns:
        dict: ``ms_per_image`` (median over the passes), ``runs_ms`` (all passes),
        ``scales`` (Counter of ``dld_scale`` per image, DLD models only).
    """
    num_images = sum(len(b['inputs']) for b in batches)
    scales: Counter = Counter()
    with torch.no_grad():
        for batch in batches[:warmup]:
            model.test_step(batch)
        runs = []
        for r in range(repeat):
            start = time.perf_counter()
            for batch in batches:
                results = model.test_step(batch)
                if r == 0:
                    scales.update(round(float(s.metainfo['dld_scale']), 4) for s in results
                                  if 'dld_scale' in s.metainfo)
            runs.append(1000 * (time.perf_counter() - start) / num_images)
    return dict(ms_per_image=statistics.median(runs), runs_ms=runs, scales=dict(scales))


def gflops_per_image(model: torch.nn.Module, samples: Sequence[dict]) -> float:
    """Average GFLOPs of the whole test step, one image at a time (``mmdld.evaluation.cost``)."""
    total = 0
    for i, sample in enumerate(samples):
        total += count_inference_flops(
            model, pseudo_collate([sample]), warmup=i == 0)['flops']
    return total / max(1, len(samples)) / 1e9


def build_model(config: str, checkpoint: Optional[str], options: Dict[str, Any]):
    """A model in eval mode on the CPU and its config."""
    model = init_spotter(config, checkpoint, 'cpu', options)
    return model, model.cfg


def compare(teacher: str, teacher_ckpt: Optional[str], student: str,
            student_ckpt: Optional[str], sizes: Sequence[int], num_images: int = 16,
            batch_size: int = 4, repeat: int = 3, flops_images: int = 2,
            teacher_options: Optional[Dict[str, Any]] = None,
            student_options: Optional[Dict[str, Any]] = None,
            log=print) -> List[Dict[str, Any]]:
    """Times and counts both models on the same images at each input size.

    Args:
        teacher, teacher_ckpt: The teacher's config and weights (full resolution).
        student, student_ckpt: The DLD model's config and weights (DRS + student).
        sizes: Input short sides (the teacher's full resolution at each row).
        num_images: Test images per size (the same for both models).
        batch_size: Images per ``test_step``.
        repeat: Timed passes (median).
        flops_images: Images whose FLOPs are counted (tracing is slow).
        teacher_options, student_options: Config overrides.
        log: Progress messages.

    Returns:
        list[dict]: Per size: ``short_side``, ``teacher_ms``, ``student_ms``, ``time_ratio``
        (teacher / student), ``teacher_gflops``, ``student_gflops``, ``flops_ratio``,
        ``student_avg_scale``, ``student_scales``.
    """
    t_model, t_cfg = build_model(teacher, teacher_ckpt, teacher_options or {})
    s_model, _ = build_model(student, student_ckpt, student_options or {})
    rows = []
    for size in sizes:
        samples = load_samples(t_cfg, size, num_images)
        batches = [pseudo_collate(samples[i:i + batch_size])
                   for i in range(0, len(samples), batch_size)]
        # The DLD model measures its per-scale costs on its first batch: do it before timing.
        with torch.no_grad():
            s_model.test_step(batches[0])
        t = time_model(t_model, batches, repeat=repeat)
        s = time_model(s_model, batches, repeat=repeat)
        t_flops = gflops_per_image(t_model, samples[:flops_images])
        s_flops = gflops_per_image(s_model, samples[:flops_images])
        scales = s['scales']
        avg_scale = (sum(k * v for k, v in scales.items()) / sum(scales.values())
                     if scales else None)
        row = dict(short_side=size, num_images=len(samples), batch_size=batch_size,
                   teacher_ms=t['ms_per_image'], student_ms=s['ms_per_image'],
                   time_ratio=t['ms_per_image'] / s['ms_per_image'],
                   teacher_gflops=t_flops, student_gflops=s_flops,
                   flops_ratio=t_flops / s_flops if s_flops else None,
                   student_avg_scale=avg_scale,
                   student_scales={str(k): v for k, v in sorted(scales.items(), reverse=True)},
                   teacher_runs_ms=t['runs_ms'], student_runs_ms=s['runs_ms'])
        log(f'S-{size}: teacher {row["teacher_ms"]:.0f} ms/img, DLD {row["student_ms"]:.0f} '
            f'ms/img (x{row["time_ratio"]:.2f}); GFLOPs {t_flops:.2f} vs {s_flops:.2f} '
            f'(x{row["flops_ratio"] or 0:.2f}); DLD scales {row["student_scales"]}')
        rows.append(row)
    return rows


def format_rows(rows: Sequence[Dict[str, Any]]) -> str:
    """A Markdown table of :func:`compare`'s rows."""
    lines = ['| input (short side) | teacher ms/img | DLD ms/img | wall-time ratio | '
             'teacher GFLOPs | DLD GFLOPs | FLOPs ratio | DLD avg scale |',
             '|---:|---:|---:|---:|---:|---:|---:|---:|']
    for r in rows:
        scale = '-' if r['student_avg_scale'] is None else f'{r["student_avg_scale"]:.3f}'
        ratio = '-' if r['flops_ratio'] is None else f'{r["flops_ratio"]:.2f}x'
        lines.append(f'| S-{r["short_side"]} | {r["teacher_ms"]:.0f} | {r["student_ms"]:.0f} | '
                     f'{r["time_ratio"]:.2f}x | {r["teacher_gflops"]:.2f} | '
                     f'{r["student_gflops"]:.2f} | {ratio} | {scale} |')
    return '\n'.join(lines)


def replace_section(path: str, heading: str, body: str) -> None:
    """Replaces (or appends) the ``## heading`` section of a Markdown file, keeping the rest.

    The section runs from its heading to the next ``## `` heading or the end of the file;
    other sections (written by other tools or people) are left as they are.
    """
    text = ''
    if osp.isfile(path):
        with open(path, encoding='utf-8') as f:
            text = f.read()
    lines = text.splitlines()
    marker = f'## {heading}'
    section = [marker, '', body.rstrip(), '']
    if marker in lines:
        start = lines.index(marker)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith('## ')),
                   len(lines))
        lines = lines[:start] + section + lines[end:]
    else:
        if not lines:
            lines = ['# Benchmarks', '']
        elif lines[-1].strip():
            lines.append('')
        lines += section
    with open(path, 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines).rstrip() + '\n')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Teacher vs DLD student: wall time and FLOPs')
    parser.add_argument('teacher', help='teacher config')
    parser.add_argument('teacher_ckpt', help='teacher checkpoint')
    parser.add_argument('student', help='DLD config')
    parser.add_argument('student_ckpt', help='DLD checkpoint')
    parser.add_argument('--sizes', type=int, nargs='+', default=[320, 480, 640],
                        help='input short sides (teacher full resolution)')
    parser.add_argument('--num-images', type=int, default=16)
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--repeat', type=int, default=3, help='timed passes (median)')
    parser.add_argument('--flops-images', type=int, default=2,
                        help='images whose FLOPs are counted per size')
    parser.add_argument('--out', help='write the rows as JSON')
    parser.add_argument('--update-doc', metavar='MD',
                        help=f'replace the "## {SECTION}" section of this Markdown file')
    return parser.parse_args(argv)


def main(argv=None) -> list:
    args = parse_args(argv)
    for name in ('num_images', 'batch_size', 'repeat', 'flops_images'):
        if getattr(args, name) < 1:
            raise SystemExit(f'benchmark_inference.py: --{name.replace("_", "-")} must be >= 1')
    off = {'model.test_cfg.rcnn.rec_on_gt': False}
    rows = compare(args.teacher, args.teacher_ckpt, args.student, args.student_ckpt,
                   args.sizes, args.num_images, args.batch_size, args.repeat,
                   args.flops_images, teacher_options=off,
                   student_options={'model.student.test_cfg.rcnn.rec_on_gt': False})
    table = format_rows(rows)
    print(table)
    command = 'python tools/analysis_tools/benchmark_inference.py ' + ' '.join(
        sys.argv[1:] if argv is None else argv)
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w', encoding='utf-8') as f:
            json.dump(dict(rows=rows, command=command, commit=git_commit(HERE),
                           machine=machine_description()), f, indent=2)
    if args.update_doc:
        body = '\n\n'.join([
            'Teacher at full resolution vs the DLD student (DRS + student), measured side by '
            'side in one run on the same images. Wall-time ratio = '
            'teacher ms per image / DLD ms per image; FLOPs ratio likewise (whole test step, '
            'traced on the first images of each size). The DLD student groups the images of '
            f'each batch (batch size {args.batch_size}) by the scale its DRS picks and runs '
            'one resized pass per group.',
            f'```\n{command}\n```',
            table,
            f'{rows[0]["num_images"]} images per size, median of {args.repeat} passes; commit '
            f'`{git_commit(HERE)}`; {machine_description()}; '
            f'{time.strftime("%Y-%m-%d %H:%M %Z")}.',
        ])
        replace_section(args.update_doc, SECTION, body)
    return rows


if __name__ == '__main__':
    main()
