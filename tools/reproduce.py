"""The paper's comparison on the synthetic benchmark; writes docs/results.md.

    python tools/reproduce.py                  # --budget full: GPU recommended (see the docs)
    python tools/reproduce.py --budget demo    # the demo's data and schedule (CPU, ~30 min: 19 of them the teacher)
    python tools/reproduce.py --budget tiny    # every model on 2 images: checks the pipeline
    python tools/reproduce.py --budget dynamic # the dynamic-resolution benchmark (GPU recommended)
    python tools/reproduce.py --budget tp_dynamic  # the same with Text Perceptron (Table 8)
    python tools/reproduce.py --budget mango_dynamic  # and with MANGO (Table 8)
    python tools/reproduce.py --budget demo --student-iters 600 \
        --work-dir work_dirs/reproduce_demo_students600   # the demo's teacher, longer students
    python tools/reproduce.py --budget demo --student-iters 600 --dld-gammas 1 3 \
        --work-dir work_dirs/reproduce_demo_students600   # and DLD at more FLOPs weights

Vanilla multi-scale at several S-N, SKD-only, DRS-only (gamma 0.1, 0.3) and DLD (gamma 0.1,
0.3), all from one teacher, whose per-scale costs T_i (measured after its training) every
student gets. The results page has the table with 95% bootstrap intervals, the claim check
with paired intervals, the plot of E2E hmean against GFLOPs (Vanilla curve, the Vanilla scale
oracle and the distilled points), each DRS model against the oracle, and the scales chosen by
the DRS (per text regime). Every stage is skipped when its outputs exist, so an interrupted run
resumes. See docs/results.md.
"""
import argparse
import os.path as osp
import sys

from experiments.demo import DEMO_ESTIMATES
from experiments.reproduce import VANILLA_SCALES, VARIANTS, run_reproduction

#: The configs name their data and each other relative to the repository root.
REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

BUDGETS = dict(
    full=dict(teacher='configs/demo/spotter_r18w32_reproduce.py',
              student='configs/demo/dld_r18w32_reproduce.py',
              work_dir='work_dirs/reproduce', cost_images=50, fps_images=50,
              scale_cost_images=50, vanilla_scales=VANILLA_SCALES),
    # The `make demo` teacher and students (easier text, 2,500 + 100 iterations); a teacher
    # already trained by `make demo` is reused when copied to work_dirs/reproduce_demo/teacher.
    demo=dict(teacher='configs/demo/spotter_r18w32_demo.py',
              student='configs/demo/dld_r18w32_demo.py',
              work_dir='work_dirs/reproduce_demo', cost_images=10, fps_images=20,
              scale_cost_images=10, vanilla_scales=VANILLA_SCALES, estimates=DEMO_ESTIMATES),
    tiny=dict(teacher='configs/demo/spotter_r18w32_demo_tiny.py',
              student='configs/demo/dld_r18w32_demo_tiny.py',
              work_dir='work_dirs/reproduce_tiny', cost_images=1, fps_images=0,
              scale_cost_images=1, vanilla_scales=(1.0, 0.5)),
    # The dynamic-resolution benchmark: 512 px images whose large words stay readable at a
    # third of the resolution, and a teacher whose test step's cost falls with the scale.
    dynamic=dict(teacher='configs/demo/spotter_r18w32_dynamic.py',
                 student='configs/demo/dld_r18w32_dynamic.py',
                 work_dir='work_dirs/reproduce_dynamic', cost_images=50, fps_images=20,
                 scale_cost_images=50, vanilla_scales=VANILLA_SCALES),
    # Text Perceptron (paper Table 8) on the same benchmark: its test config has no `rcnn`
    # part, hence no mask switch for the students' tests.
    tp_dynamic=dict(teacher='configs/text_perceptron/tp_r18w32_dynamic.py',
                    student='configs/text_perceptron/dld_tp_r18w32_dynamic.py',
                    work_dir='work_dirs/reproduce_tp_dynamic', cost_images=50, fps_images=20,
                    scale_cost_images=50, vanilla_scales=VANILLA_SCALES, test_options={}),
    # MANGO (paper Table 8), likewise; its configs match words at IoU 0.1 as the paper does.
    mango_dynamic=dict(teacher='configs/mango/mango_r18w32_dynamic.py',
                       student='configs/mango/dld_mango_r18w32_dynamic.py',
                       work_dir='work_dirs/reproduce_mango_dynamic', cost_images=50,
                       fps_images=20, scale_cost_images=50, vanilla_scales=VANILLA_SCALES,
                       test_options={}),
)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Vanilla / SKD-only / DRS-only / DLD on the '
                                     'synthetic benchmark -> docs/results.md')
    parser.add_argument('--budget', choices=sorted(BUDGETS), default='full')
    parser.add_argument('--work-dir', help='checkpoints and evaluations (default per budget)')
    parser.add_argument('--out', help='the results page (default: docs/results.md)')
    parser.add_argument('--variants', nargs='*', choices=list(VARIANTS), metavar='NAME',
                        help=f'distilled models to run (default all: {list(VARIANTS)}); '
                        'none named: the teacher, its costs and its Vanilla curve and oracle '
                        'only')
    parser.add_argument('--cost-images', type=int, help='test images for the FLOPs count')
    parser.add_argument('--fps-images', type=int, help='test images timed (0: skip)')
    parser.add_argument('--scale-cost-images', type=int,
                        help='test images of the per-scale cost measurement (T_i) after the '
                        'teacher')
    parser.add_argument('--student-iters', type=int,
                        help='train every student this many iterations (default: the '
                        "budget's student config); the learning-rate steps and the Gumbel "
                        'temperature decay are stretched to match')
    parser.add_argument('--dld-gammas', nargs='+', type=float, default=[], metavar='GAMMA',
                        help='more DLD students, one per FLOPs weight gamma (the sweep of '
                        'the paper\'s Table 6), e.g. 1 3')
    parser.add_argument('--no-student-oracle', action='store_true',
                        help='skip the DLD (gamma 0.1) student forced to each candidate scale '
                        '(its own scale oracle: one test run per scale); the page then omits '
                        'that section')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    budget = dict(BUDGETS[args.budget])
    for key in ('cost_images', 'fps_images', 'scale_cost_images'):
        if getattr(args, key) is not None:
            budget[key] = getattr(args, key)
    if args.work_dir is not None:
        budget['work_dir'] = osp.abspath(args.work_dir)
    out = osp.join(REPO, 'docs', 'results.md') if args.out is None else osp.abspath(args.out)
    run_reproduction(args.budget, out_md=out, variants=args.variants,
                     student_iters=args.student_iters, dld_gammas=args.dld_gammas, root=REPO,
                     student_oracle=not args.no_student_oracle, **budget)
    return 0


if __name__ == '__main__':
    sys.exit(main())
