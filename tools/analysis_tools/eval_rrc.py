"""Evaluate a text-spotting submission in the ICDAR Robust Reading (RRC) file formats.

Example::

    python tools/analysis_tools/eval_rrc.py gt.zip work_dirs/x/rrc/submission.zip \\
        --lexicon strong='data/icdar2015/lexicons/strong/{img_stem}.txt' \\
        --lexicon weak=data/icdar2015/lexicons/weak.txt --out results.json

    # detection results without transcriptions, as the RRC detection script reads them
    python tools/analysis_tools/eval_rrc.py gt.zip det_results.zip --det-only

GT: a folder or zip of ``gt_<image stem>.txt`` (or Total-Text's ``poly_gt_<image stem>.txt``)
files (ICDAR quads ``x1,y1,...,x4,y4,text`` or Total-Text polygons ``x1,y1,...,xn,yn,####text``;
``###`` marks don't-care). Submission: the same with ``res_`` files, e.g. as dumped by
``E2ESpottingMetric(outfile_dir=...)`` during ``mim test``, or with ``--det-only`` detections
``x1,y1,...,xn,yn[,confidence]``. Prints the same tables as the online metric, with the counts
(matched, care GT and detections, don't-care GT, detections dropped on them), and gives the same
numbers on the same predictions.
"""
import argparse
import json
import sys
import warnings
from typing import Dict, List, Optional

from mmdld.evaluation.functional import evaluate_rrc, format_tables, paper_results


def parse_lexicon(item: str) -> tuple:
    """``NAME=PATH`` -> ``(NAME, PATH)``."""
    name, sep, path = item.partition('=')
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f'--lexicon expects NAME=PATH, got {item!r}')
    return name, path


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='RRC end-to-end / word-spotting / detection evaluation of a submission')
    parser.add_argument('gt', help='folder or zip of gt_<image>.txt files')
    parser.add_argument('submission', help='folder or zip of res_<image>.txt files')
    parser.add_argument(
        '--lexicon', action='append', type=parse_lexicon, default=[], metavar='NAME=PATH',
        help='a lexicon setting (strong, weak, generic, full, ...); "{img_stem}" in PATH is '
        'replaced by each image name (per-image strong lexicons). Repeat for several settings.')
    parser.add_argument('--lexicon-format', choices=['auto', 'words', 'pairs'], default='auto',
                        help='word per line, or ICDAR pair lists "KEY word"')
    parser.add_argument('--max-lexicon-dist', type=int, default=None,
                        help='keep a predicted word farther than this from every lexicon word')
    parser.add_argument('--lexicon-min-length', type=int, default=3,
                        help='keep predicted words shorter than this as they are')
    parser.add_argument('--iou-thr', type=float, default=0.5,
                        help='IoU a match must exceed (0.1 for one-stage spotters)')
    parser.add_argument('--dont-care-area-thr', type=float, default=0.5,
                        help="drop predictions lying more than this on a don't-care GT")
    parser.add_argument('--no-word-spotting', action='store_true',
                        help='skip the word-spotting evaluation')
    coords = parser.add_mutually_exclusive_group()
    coords.add_argument('--num-coords', type=int, default=None,
                        help='coordinates per line when fixed (8 for ICDAR quads whose texts '
                        'may look like comma-separated numbers)')
    coords.add_argument('--ltrb', action='store_true',
                        help='lines are xmin,ymin,xmax,ymax,text boxes (ICDAR 2013)')
    parser.add_argument(
        '--det-only', action='store_true',
        help='the submission holds detections without transcriptions: every field is a '
        'coordinate, an odd last one (or one past --num-coords) a confidence in [0, 1] that '
        'orders the matching; only detection is reported')
    parser.add_argument('--out', help='write the metrics (paper names, raw keys and counts) as '
                        'JSON')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> Dict[str, float]:
    args = parse_args(argv)
    lexicons = dict(args.lexicon)
    if len(lexicons) != len(args.lexicon):
        sys.exit('eval_rrc.py: a lexicon name is given twice')
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            metrics = evaluate_rrc(
                args.gt,
                args.submission,
                lexicons=lexicons,
                lexicon_format=args.lexicon_format,
                iou_thr=args.iou_thr,
                dont_care_area_thr=args.dont_care_area_thr,
                word_spotting=not args.no_word_spotting,
                max_lexicon_dist=args.max_lexicon_dist,
                lexicon_min_length=args.lexicon_min_length,
                num_coords=args.num_coords,
                ltrb=args.ltrb,
                det_only=args.det_only)
    except (FileNotFoundError, ValueError) as err:
        sys.exit(f'eval_rrc.py: {err}')
    for warning in caught:
        if issubclass(warning.category, UserWarning):
            print(f'eval_rrc.py: warning: {warning.message}', file=sys.stderr)
        else:  # a library's warning: shown as Python would have shown it
            warnings.showwarning(warning.message, warning.category, warning.filename,
                                 warning.lineno)
    print(format_tables(metrics))
    if args.out:
        with open(args.out, 'w', encoding='utf-8') as f:
            json.dump(dict(paper_results(metrics), metrics=metrics, iou_thr=args.iou_thr,
                           det_only=args.det_only), f, indent=2)
        print(f'results written to {args.out}')
    return metrics


if __name__ == '__main__':
    main()
