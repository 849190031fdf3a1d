"""How well a MANGO checkpoint's character attentions find the characters, on training batches.

Example::

    python tools/analysis_tools/mango_char_attention.py \\
        configs/mango/mango_r18w32_dynamic.py ~/.cache/mmdld/runs/mango/iter_1000.pth \\
        --batches 8 --out attention.json

For every GT word of the first ``--batches`` batches of the config's ``train_dataloader`` it
reads the word at its centre cell (as distillation and the recognition loss do) and compares, per
character position ``l``, the centroid of the ``l``-th character attention with the word's
pseudo character centre (``mmdld.models.mango.char_targets.char_centres``: equal steps along
its centre line), in units of the word's character spacing. It prints, per position, the
median centroid error and the character accuracy of the greedy reading, and the word accuracy:
a recogniser that reads every word as its prior shows errors of several spacings; one whose
attentions follow the characters, errors well below one.
"""
import argparse
import json
import os.path as osp
import sys
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.config import DictAction

from mmdld.models.mango.char_targets import char_centres
from mmdld.models.utils.text_geometry import image_to_feature

MAX_REPORTED_POSITIONS = 8


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parses the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='a MANGO spotter config (its train_dataloader is read)')
    parser.add_argument('checkpoint', help='the checkpoint to measure')
    parser.add_argument('--batches', type=int, default=8,
                        help='training batches to measure (default: 8)')
    parser.add_argument('--out', default=None, help='write the per-word records here (JSON)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default=None,
                        help='config overrides, key=value (as tools/train.py)')
    return parser.parse_args(argv)


@torch.no_grad()
def word_records(spotter: torch.nn.Module, data: Dict[str, Any]) -> List[Dict[str, Any]]:
    """One record per GT word of a pre-processed batch: its text, the greedy reading at its
    centre cell, and per character the attention centroid's error in character spacings.

    Args:
        spotter (MANGOSpotter): In eval mode.
        data (dict): ``inputs`` and ``data_samples`` after the data preprocessor.
    """
    feat = spotter.extract_feat(data['inputs'])[0]
    maps = spotter.det_head(feat)
    gts = [s.gt_instances for s in data['data_samples']]
    attention: Dict[str, Any] = {}
    rec = spotter._gt_recognition(feat, maps, gts, 'centre', attention=attention)
    texts = spotter.rec_head.greedy_decode(rec.context)['texts']
    probs = attention['log_attention'].exp()  # [N, L, H, W]
    height, width = probs.shape[-2:]
    ys = torch.arange(height, dtype=probs.dtype)
    xs = torch.arange(width, dtype=probs.dtype)
    centroid_x = (probs.sum(2) * xs).sum(-1)  # [N, L]
    centroid_y = (probs.sum(3) * ys).sum(-1)
    stride = spotter.featmap_stride
    records = []
    for k, (polygon, text, read) in enumerate(zip(attention['polygons'], attention['texts'],
                                                  texts)):
        num = min(len(text), probs.size(1))
        centres = image_to_feature(char_centres(polygon, len(text)), stride)[:num]
        spacing = (float(np.linalg.norm(centres[-1] - centres[0])) / max(num - 1, 1)
                   if num > 1 else 1.)
        errors = np.hypot(centroid_x[k, :num].numpy() - centres[:, 0],
                          centroid_y[k, :num].numpy() - centres[:, 1]) / max(spacing, 1e-6)
        records.append(dict(text=text, read=read, spacing_px=spacing * stride,
                            centroid_error=[round(float(e), 3) for e in errors],
                            char_correct=[bool(i < len(read) and read[i] == c)
                                          for i, c in enumerate(text[:num])]))
    return records


def summarise(records: Sequence[Dict[str, Any]],
              positions: int = MAX_REPORTED_POSITIONS) -> Dict[str, Any]:
    """Word accuracy, and per position ``l < positions`` the words that have one, the median
    centroid error (character spacings) and the character accuracy."""
    rows = []
    for pos in range(positions):
        errors = [r['centroid_error'][pos] for r in records if len(r['centroid_error']) > pos]
        correct = [r['char_correct'][pos] for r in records if len(r['char_correct']) > pos]
        if not errors:
            break
        rows.append(dict(position=pos, words=len(errors),
                         median_error=float(np.median(errors)),
                         char_accuracy=float(np.mean(correct))))
    words = len(records)
    return dict(words=words,
                word_accuracy=(sum(r['read'] == r['text'] for r in records) / words
                               if words else float('nan')),
                positions=rows)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    from mmengine.config import Config
    from mmengine.runner import Runner, load_checkpoint

    from mmdld.registry import MODELS
    from mmdld.utils import apply_flush_denormal, register_all_modules

    register_all_modules()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    apply_flush_denormal(cfg.get('env_cfg'))
    if cfg.model.get('type') != 'MANGOSpotter':
        print(f'{args.config}: model.type is {cfg.model.get("type")!r}, not MANGOSpotter',
              file=sys.stderr)
        return 2
    if not osp.isfile(args.checkpoint):
        print(f'{args.checkpoint}: no such checkpoint', file=sys.stderr)
        return 2
    spotter = MODELS.build(cfg.model)
    load_checkpoint(spotter, args.checkpoint, map_location='cpu')
    spotter.eval()
    loader_cfg = dict(cfg.train_dataloader, num_workers=0, persistent_workers=False)
    loader = Runner.build_dataloader(loader_cfg, seed=0)
    records = []
    for i, batch in enumerate(loader):
        if i >= args.batches:
            break
        records.extend(word_records(spotter, spotter.data_preprocessor(batch, False)))
    summary = summarise(records)
    print(f"{summary['words']} words, word accuracy {summary['word_accuracy']:.3f}")
    print('position  words  median centroid error (char spacings)  char accuracy')
    for row in summary['positions']:
        print(f"{row['position']:8d}  {row['words']:5d}  {row['median_error']:38.2f}  "
              f"{row['char_accuracy']:13.3f}")
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(summary=summary, words=records), f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
