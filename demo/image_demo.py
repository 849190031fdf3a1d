"""Spot the text of images with a trained spotter or DLD model; draw and save the words.

    python demo/image_demo.py INPUTS CONFIG [CHECKPOINT] [--out-dir vis/] [--device cpu]
        [--batch-size 1] [--score-thr 0.5] [--no-vis] [--no-pred] [--print-result]

INPUTS is an image, a folder of images or a quoted glob (``'imgs/*.jpg'``). For each image it
writes ``OUT_DIR/<image name>`` (the image with filled polygons beside the words written in
their boxes) and ``OUT_DIR/<image stem>.json`` (polygons, boxes, scores and texts; a DLD
model's chosen scale and GFLOPs), and prints one line per word above the score threshold:
score, text, polygon.
"""
import argparse
from typing import List, Optional

from mmdld.apis import SpottingInferencer


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Text spotting demo')
    parser.add_argument('inputs', help='an image file, a folder of images or a glob')
    parser.add_argument('config', help='config file of a spotter or a DLD model')
    parser.add_argument('checkpoint', nargs='?', default=None,
                        help='checkpoint file (random weights when omitted)')
    parser.add_argument('--out-dir', default='vis', help='folder for drawings and predictions')
    parser.add_argument('--device', default='cpu', help='device, e.g. cpu or cuda:0')
    parser.add_argument('--batch-size', type=int, default=1, help='images per forward pass')
    parser.add_argument('--score-thr', type=float, default=0.5,
                        help='detection score below which words are neither drawn nor printed')
    parser.add_argument('--no-vis', action='store_true', help='do not write the drawings')
    parser.add_argument('--no-pred', action='store_true',
                        help='do not write the JSON predictions')
    parser.add_argument('--print-result', action='store_true',
                        help='print each prediction as JSON')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    inferencer = SpottingInferencer(args.config, args.checkpoint, device=args.device)
    results = inferencer(
        args.inputs,
        batch_size=args.batch_size,
        img_out_dir='' if args.no_vis else args.out_dir,
        pred_out_dir='' if args.no_pred else args.out_dir,
        pred_score_thr=args.score_thr,
        print_result=args.print_result)
    for pred in results['predictions']:
        for poly, text, score in zip(pred['polygons'], pred['texts'], pred['scores']):
            if score >= args.score_thr:
                print(f'{score:.2f}\t{text}\t' + ' '.join(f'{v:.0f}' for v in poly))
    if not (args.no_vis and args.no_pred):
        print(f'{len(results["predictions"])} image(s) written to {args.out_dir}')


if __name__ == '__main__':
    main()
