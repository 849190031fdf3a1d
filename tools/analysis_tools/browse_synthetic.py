"""Draw a grid of synthetic images with their annotated polygons and words.

Example (the picture in docs/synthetic_data.md)::

    python tools/analysis_tools/browse_synthetic.py --out docs/imgs/synthetic_samples.jpg

By default the images are rendered in memory from ``--seed``; with ``--data-root`` they are read
from a generated data set (its JSON and JPEG files), which shows exactly what a model is fed.
Legible words are outlined in green with their text, don't-care instances (``###``) in red.
"""
import argparse
import json
import os
import sys
from typing import List, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Grid of annotated synthetic images.')
    parser.add_argument('--out', default='docs/imgs/synthetic_samples.jpg', help='output image')
    parser.add_argument('--data-root', default=None,
                        help='read a generated data set instead of rendering in memory')
    parser.add_argument('--split', default='test', choices=['train', 'test'])
    parser.add_argument('--seed', type=int, default=0, help='seed when rendering in memory')
    parser.add_argument('--img-size', type=int, default=640, help='when rendering in memory')
    parser.add_argument('--start', type=int, default=0, help='first image index')
    parser.add_argument('--num', type=int, default=12, help='images in the grid')
    parser.add_argument('--cols', type=int, default=4, help='grid columns')
    parser.add_argument('--tile', type=int, default=480, help='tile size in pixels')
    return parser.parse_args(argv)


def load_samples(args) -> List[Tuple[str, np.ndarray, list]]:
    """(caption, RGB image, instance dicts) for each image of the grid."""
    samples = []
    if args.data_root:
        ann_path = os.path.join(args.data_root, f'textspotting_{args.split}.json')
        with open(ann_path, encoding='utf-8') as f:
            records = json.load(f)['data_list'][args.start:args.start + args.num]
        for rec in records:
            with Image.open(os.path.join(args.data_root, rec['img_path'])) as img:
                image = np.asarray(img.convert('RGB'))
            caption = f"{rec['img_path']} {rec.get('regime', '')}"
            samples.append((caption, image, rec['instances']))
        return samples
    from mmdld.datasets.synthesis import render_sample
    for index in range(args.start, args.start + args.num):
        sample = render_sample(args.seed, args.split, index, args.img_size)
        caption = f'{args.split}/{index:06d} {sample.regime}'
        samples.append((caption, sample.image, [i.to_json() for i in sample.instances]))
    return samples


def draw_tile(caption: str, image: np.ndarray, instances: list, tile: int,
              font: ImageFont.FreeTypeFont) -> Image.Image:
    """Scale an image into a ``tile`` square and draw its annotations."""
    h, w = image.shape[:2]
    scale = tile / max(h, w)
    img = Image.fromarray(image).resize((round(w * scale), round(h * scale)), Image.BILINEAR)
    canvas = Image.new('RGB', (tile, tile), (32, 32, 32))
    canvas.paste(img, (0, 0))
    draw = ImageDraw.Draw(canvas)
    for inst in instances:
        pts = [(x * scale, y * scale) for x, y in zip(inst['polygon'][0::2], inst['polygon'][1::2])]
        colour = (255, 40, 40) if inst['ignore'] else (40, 255, 40)
        draw.line(pts + pts[:1], fill=colour, width=2)
        x0, y0 = min(p[0] for p in pts), min(p[1] for p in pts)
        label_box = draw.textbbox((x0, y0), inst['text'], font=font, anchor='lb')
        draw.rectangle(label_box, fill=(0, 0, 0))
        draw.text((x0, y0), inst['text'], font=font, fill=colour, anchor='lb')
    n_care = sum(not i['ignore'] for i in instances)
    text = f'{caption}  {w}x{h}  {n_care} words, {len(instances) - n_care} ###'
    draw.rectangle(draw.textbbox((4, tile - 4), text, font=font, anchor='lb'), fill=(0, 0, 0))
    draw.text((4, tile - 4), text, font=font, fill=(255, 255, 255), anchor='lb')
    return canvas


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmdld.datasets.synthesis import list_fonts
    font = ImageFont.truetype(list_fonts()[0], 12)
    samples = load_samples(args)
    if not samples:
        print('no image to draw', file=sys.stderr)
        return 1
    rows = (len(samples) + args.cols - 1) // args.cols
    grid = Image.new('RGB', (args.cols * args.tile, rows * args.tile), (0, 0, 0))
    for k, (caption, image, instances) in enumerate(samples):
        tile = draw_tile(caption, image, instances, args.tile, font)
        grid.paste(tile, ((k % args.cols) * args.tile, (k // args.cols) * args.tile))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    grid.save(args.out, quality=85)
    print(f'wrote {args.out} ({len(samples)} images)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
