"""Spot the text of one image with a trained spotter and draw the polygons and words.

    python demo/image_demo.py IMAGE CONFIG CHECKPOINT [--out-dir vis/] [--device cpu]
        [--score-thr 0.5]

Writes ``OUT_DIR/<image name>`` (the image with filled polygons beside the words written in
their boxes) and prints one line per word: score, text, polygon.
"""
import argparse
import os
import os.path as osp
from typing import List

import mmcv
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint

from mmdld.registry import MODELS, VISUALIZERS

#: Annotation loaders are dropped from the test pipeline: a demo image has no labels.
_ANNOTATION_LOADERS = ('LoadOCRAnnotations', 'LoadAnnotations')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Text spotting demo on one image')
    parser.add_argument('img', help='image file')
    parser.add_argument('config', help='spotter config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out-dir', default='vis', help='folder for the drawn image')
    parser.add_argument('--device', default='cpu', help='device, e.g. cpu or cuda:0')
    parser.add_argument('--score-thr', type=float, default=0.5,
                        help='detection score below which words are not drawn')
    return parser.parse_args()


def inference_pipeline(cfg) -> List[dict]:
    """The config's test pipeline without its annotation loaders."""
    pipeline = cfg.test_dataloader.dataset.pipeline
    return [t for t in pipeline if not str(t['type']).split('.')[-1] in _ANNOTATION_LOADERS]


def init_model(config: str, checkpoint: str, device: str) -> torch.nn.Module:
    """Builds any mmdld model (spotter or DLD distiller) from its config and checkpoint.

    MMDetection's ``init_detector`` assumes a ``model.backbone`` key, which a DLD distiller's
    config (teacher/student/selector) does not have. Building without ``init_weights`` never
    downloads the ImageNet weights of ``init_cfg``; the checkpoint provides every weight.
    """
    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmdld'))
    model = MODELS.build(cfg.model)
    load_checkpoint(model, checkpoint, map_location='cpu')
    model.cfg = cfg
    return model.to(device).eval()


def main() -> None:
    args = parse_args()
    if not osp.isfile(args.img):
        raise FileNotFoundError(f'image not found: {args.img}')
    model = init_model(args.config, args.checkpoint, args.device)
    cfg = model.cfg
    pipeline = Compose(inference_pipeline(cfg))
    data = pipeline(dict(img_path=args.img, img_id=0))
    batch = dict(inputs=[data['inputs']], data_samples=[data['data_samples']])
    with torch.no_grad():
        result = model.test_step(batch)[0]

    visualizer = VISUALIZERS.build(dict(type='SpottingLocalVisualizer', name='demo'))
    image = mmcv.imread(args.img, channel_order='rgb')
    os.makedirs(args.out_dir, exist_ok=True)
    out_file = osp.join(args.out_dir, osp.basename(args.img))
    visualizer.add_datasample(
        osp.basename(args.img), image, data_sample=result, draw_gt=False,
        pred_score_thr=args.score_thr, out_file=out_file)

    pred = result.pred_instances
    for i in range(len(pred)):
        score = float(pred.scores[i])
        if score < args.score_thr:
            continue
        poly = ' '.join(f'{v:.0f}' for v in pred.polygons[i])
        print(f'{score:.2f}\t{pred.texts[i]}\t{poly}')
    print(f'drawn: {out_file}')


if __name__ == '__main__':
    main()
