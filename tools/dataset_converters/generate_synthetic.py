"""Generate mmdld's synthetic text-spotting data set (MMOCR textspotting JSON + lexicons).

Example::

    python tools/dataset_converters/generate_synthetic.py data/synthetic \
        --num-train 1000 --num-test 200 --img-size 640 --seed 0

Writes ``textspotting_train.json``, ``textspotting_test.json``, ``imgs/{train,test}/*.jpg``,
``lexicons/`` and ``synth_cfg.json`` into the output folder; see ``docs/synthetic_data.md``.
The same arguments always give byte-identical files.
"""
import argparse
import json
import os
import sys


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Generate the synthetic text-spotting data set (no download needed).')
    parser.add_argument('out_dir', help='output folder, e.g. data/synthetic')
    parser.add_argument('--num-train', type=int, default=1000, help='training images')
    parser.add_argument('--num-test', type=int, default=200, help='test images')
    parser.add_argument('--img-size', type=int, default=640, help='long side of the images (px)')
    parser.add_argument('--seed', type=int, default=0, help='base seed')
    parser.add_argument('--workers', type=int, default=None,
                        help='processes (default: all cores, at most 8; 1 = no pool)')
    parser.add_argument(
        '--regime-probs', type=json.loads, default=None,
        help='JSON dict of text size regime probabilities, e.g. '
        '\'{"large": 0.5, "small": 0.5}\' (default: large 0.35, small 0.3, mixed 0.3, '
        'empty 0.05)')
    parser.add_argument('--vocab-size', type=int, default=None,
                        help='draw words from the N most frequent only (default: all 6000)')
    parser.add_argument('--text-mix', default='scene', choices=['scene', 'lowercase_words'],
                        help="'scene': mixed case, numbers, codes, punctuation (default); "
                        "'lowercase_words': lower-case dictionary words only")
    parser.add_argument('--shape-probs', type=json.loads, default=None,
                        help='JSON dict of word shape probabilities, e.g. '
                        '\'{"horizontal": 0.8, "rotated": 0.1, "curved": 0.1}\'')
    parser.add_argument('--words-per-image', type=json.loads, default=None,
                        help='JSON dict of per-regime word count ranges, e.g. '
                        '\'{"large": [3, 8], "mixed": [8, 14]}\'')
    parser.add_argument('--force', action='store_true',
                        help='write into an existing non-empty folder')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    # Imported here so that --help answers without loading the OpenMMLab stack.
    from mmdld.datasets.synthesis import generate_dataset

    if os.path.isdir(args.out_dir) and os.listdir(args.out_dir) and not args.force:
        print(f'{args.out_dir} is not empty; pass --force to overwrite its files',
              file=sys.stderr)
        return 1
    summary = generate_dataset(
        args.out_dir,
        num_train=args.num_train,
        num_test=args.num_test,
        img_size=args.img_size,
        seed=args.seed,
        workers=args.workers,
        regime_probs=args.regime_probs,
        vocab_size=args.vocab_size,
        text_mix=args.text_mix,
        shape_probs=args.shape_probs,
        words_per_image=args.words_per_image,
        log_fn=print)
    print(f"wrote {summary['num_images']['train']} train + {summary['num_images']['test']} "
          f"test images, {summary['num_instances']} instances "
          f"({summary['num_ignored']} don't-care; shapes {summary['shapes']}; regimes "
          f"{summary['regimes']}) to {args.out_dir} in {summary['seconds']:.1f} s")
    return 0


if __name__ == '__main__':
    sys.exit(main())
