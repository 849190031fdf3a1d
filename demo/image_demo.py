"""Spot the text of images with a trained spotter or DLD model; draw and save the words.

    python demo/image_demo.py INPUTS CONFIG [CHECKPOINT] [--out-dir vis/] [--device cpu]
        [--batch-size 1] [--score-thr 0.5] [--no-vis] [--no-pred] [--print-result]

INPUTS is an image, a folder of images or a quoted glob (``'imgs/*.jpg'``). For each image it
writes ``OUT_DIR/<image name>`` (the image with filled polygons beside the words written in
their boxes) and ``OUT_DIR/<image stem>.json`` (polygons, boxes, scores and texts; a DLD
model's chosen scale and GFLOPs), and prints one line per word at or above the score
threshold (score, text, polygon), then per image how many of its detections that is, e.g.
``img.jpg: 0 of 7 detections above --score-thr 0.5`` (a hint follows when none is drawn).
"""
import argparse
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence

from mmdld.apis import SpottingInferencer, list_images


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


def count_line(name: str, scores: Sequence[float], score_thr: float) -> str:
    """``'img.jpg: 2 of 7 detections above --score-thr 0.5'``, with a hint when none passes.

    Args:
        name (str): The image's name.
        scores (Sequence[float]): Detection scores of all its predictions.
        score_thr (float): The threshold (a score equal to it is drawn).

    Returns:
        str: The line to print.
    """
    kept = sum(1 for score in scores if score >= score_thr)
    line = f'{name}: {kept} of {len(scores)} detections above --score-thr {score_thr:g}'
    if kept == 0 and scores:
        line += (f' (nothing drawn; the best score is {max(scores):.2f}: lower --score-thr '
                 'to see more)')
    elif not scores:
        line += ' (the model found no text)'
    return line


def print_predictions(images: Sequence[Any], predictions: Sequence[Dict[str, Any]],
                      score_thr: float) -> None:
    """Prints the words at or above ``score_thr`` of each image, then its count line."""
    for i, (image, pred) in enumerate(zip(images, predictions)):
        for poly, text, score in zip(pred['polygons'], pred['texts'], pred['scores']):
            if score >= score_thr:
                print(f'{score:.2f}\t{text}\t' + ' '.join(f'{v:.0f}' for v in poly))
        name = osp.basename(image) if isinstance(image, str) else f'image {i}'
        print(count_line(name, pred['scores'], score_thr))


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
    # The inferencer lists the inputs in this order too (mmdld.apis.list_images).
    print_predictions(list_images(args.inputs), results['predictions'], args.score_thr)
    if not (args.no_vis and args.no_pred):
        print(f'{len(results["predictions"])} image(s) written to {args.out_dir}')


if __name__ == '__main__':
    main()
