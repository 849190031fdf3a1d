"""Inference speed: teacher at full resolution vs DLD student, same images, several sizes.

    python tools/analysis_tools/benchmark_inference.py \\
        configs/demo/spotter_r18w32_demo.py work_dirs/demo/teacher/iter_2500.pth \\
        configs/demo/dld_r18w32_demo.py work_dirs/demo/student/iter_100.pth \\
        --sizes 320 480 640 --num-images 16 --batch-size 4 \\
        --out work_dirs/demo/speed.json --update-doc docs/benchmarks.md

Both models run in one process on the same packed batches; for each input size (the
teacher's full-resolution short side) it reports wall time per image (median of
``--repeat`` passes, ``test_step`` with preprocessing, data loading excluded), GFLOPs per
image of the whole test step, and the teacher / DLD ratios of both. The DLD student batches
images by the scale its DRS picks (one resized student pass per scale present in a batch).
Recognition of the GT boxes (the "Rec" column of the evaluations) is switched off for both.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from mmdld.apis.report import git_commit, machine_description  # noqa: E402
from mmdld.apis.speed import compare, format_rows, replace_section  # noqa: E402

SECTION = 'Inference speed'


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
            json.dump(dict(rows=rows, command=command, commit=git_commit(REPO),
                           machine=machine_description()), f, indent=2)
    if args.update_doc:
        body = '\n\n'.join([
            'Teacher at full resolution vs the DLD student (DRS + student), measured side by '
            'side in one run on the same images (`mmdld/apis/speed.py`). Wall-time ratio = '
            'teacher ms per image / DLD ms per image; FLOPs ratio likewise (whole test step, '
            'traced on the first images of each size). The DLD student groups the images of '
            f'each batch (batch size {args.batch_size}) by the scale its DRS picks and runs '
            'one resized pass per group.',
            f'```\n{command}\n```',
            table,
            f'{rows[0]["num_images"]} images per size, median of {args.repeat} passes; commit '
            f'`{git_commit(REPO)}`; {machine_description()}; '
            f'{time.strftime("%Y-%m-%d %H:%M %Z")}.',
        ])
        replace_section(args.update_doc, SECTION, body)
    return rows


if __name__ == '__main__':
    main()
