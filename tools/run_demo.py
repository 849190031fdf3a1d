"""The main job of the README (`make demo`): synthetic data -> teacher -> DLD student -> report.

    python tools/run_demo.py                   # the 30-minute CPU demo (work_dirs/demo/)
    python tools/run_demo.py --budget tiny     # every stage on 2 images, in a minute or two

Stages, each skipped when its outputs exist (so a second run resumes instead of redoing):

1. data: the synthetic benchmark of the demo configs, generated if missing;
2. teacher: ``tools/train.py configs/demo/spotter_r18w32_demo.py``;
3. student: ``tools/train.py configs/demo/dld_r18w32_demo.py`` (DLD, gamma 0.1) distilled from
   that teacher;
4. evaluation of the teacher, the student, and the Vanilla baseline (the teacher tested at the
   fixed S-N equal to the student's average scale x the base size): ``tools/test.py``,
   ``get_flops.py``, ``benchmark_fps.py``;
5. a picture of the student's output on a test image;
6. the report: a table printed and written to ``<work-dir>/report.md`` (+ ``report.json``),
   teacher first, with the wall time of each stage.

``MMDLD_DEMO_BUDGET=tiny make demo`` selects the tiny budget too. See docs/getting_started.md
and docs/report.md.
"""
import argparse
import os
import os.path as osp
import sys
from typing import Dict

# `experiments.demo` (torch, MMDetection, MMOCR) is imported in `main`, after the first line is
# printed: the imports take seconds, and a silent start looks like a hang.

#: The configs name their data and each other relative to the repository root.
REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

BUDGETS: Dict[str, dict] = dict(
    demo=dict(teacher='configs/demo/spotter_r18w32_demo.py',
              student='configs/demo/dld_r18w32_demo.py',
              work_dir='work_dirs/demo', cost_images=5, fps_images=10),
    tiny=dict(teacher='configs/demo/spotter_r18w32_demo_tiny.py',
              student='configs/demo/dld_r18w32_demo_tiny.py',
              work_dir='work_dirs/demo_tiny', cost_images=1, fps_images=2),
)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Synthetic data -> teacher -> DLD student -> evaluation -> report')
    parser.add_argument('--budget', choices=sorted(BUDGETS),
                        default=os.environ.get('MMDLD_DEMO_BUDGET', 'demo'),
                        help='demo: the 30-minute CPU run; tiny: every stage on a few images '
                        '(default: $MMDLD_DEMO_BUDGET or demo)')
    parser.add_argument('--work-dir', help='output folder (default: work_dirs/demo, or '
                        'work_dirs/demo_tiny for --budget tiny)')
    parser.add_argument('--cost-images', type=int,
                        help='test images for the FLOPs count (default: per budget)')
    parser.add_argument('--fps-images', type=int,
                        help='test images timed for images/s (default: per budget)')
    args = parser.parse_args(argv)
    if args.budget not in BUDGETS:
        parser.error(f'--budget: unknown budget {args.budget!r} (from MMDLD_DEMO_BUDGET?); '
                     f'choose from {sorted(BUDGETS)}')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    print(f'[demo 0m00s] budget {args.budget!r}: loading PyTorch and the OpenMMLab packages',
          flush=True)
    from experiments.demo import DEMO_ESTIMATES, run_demo
    budget = dict(BUDGETS[args.budget])
    if args.budget == 'demo':
        # The tiny budget's stages take seconds: no estimate needed for its ETA.
        budget['estimates'] = DEMO_ESTIMATES
    for key in ('cost_images', 'fps_images'):
        if getattr(args, key) is not None:
            budget[key] = getattr(args, key)
    if args.work_dir is not None:
        budget['work_dir'] = osp.abspath(args.work_dir)
    run_demo(budget=args.budget, root=REPO, **budget)
    return 0


if __name__ == '__main__':
    sys.exit(main())
