"""End-to-end gradient path: the small spotter overfits a few images and reads their words."""
import json
import os.path as osp
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
import torch
from helpers import CONFIG_DIR, REPO_ROOT
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.optim import build_optim_wrapper

from mmdld.registry import MODELS

SMALL = osp.join(CONFIG_DIR, 'spotter', 'maskrcnn_r18_fpn_spotter_synthetic_small.py')

#: (background BGR, [(word, x, y, font scale)]) per image; big, well separated words.
IMAGES = [
    ((215, 225, 235), [('SPOT', 12, 52, 1.5), ('TEXT', 96, 118, 1.5)]),
    ((190, 230, 200), [('LOW', 40, 80, 1.9)]),
    ((235, 205, 190), [('DLD', 20, 60, 1.6), ('RES', 130, 120, 1.3)]),
]
HEIGHT, WIDTH = 144, 224
FONT = cv2.FONT_HERSHEY_DUPLEX


def write_images(root: str) -> None:
    """Draw the words and write an MMOCR textspotting JSON for them."""
    data_list = []
    for i, (colour, words) in enumerate(IMAGES):
        img = np.empty((HEIGHT, WIDTH, 3), np.uint8)
        img[:] = colour
        instances = []
        for word, x, y, scale in words:
            (w, h), base = cv2.getTextSize(word, FONT, scale, 3)
            cv2.putText(img, word, (x, y), FONT, scale, (30, 30, 30), 3, cv2.LINE_AA)
            x1, y1, x2, y2 = x - 3, y - h - 3, x + w + 3, y + base + 2
            instances.append(dict(polygon=[x1, y1, x2, y1, x2, y2, x1, y2],
                                  bbox=[x1, y1, x2, y2], bbox_label=0, ignore=False,
                                  text=word))
        name = f'img_{i}.png'
        cv2.imwrite(osp.join(root, name), img)
        data_list.append(dict(img_path=name, height=HEIGHT, width=WIDTH, instances=instances))
    with open(osp.join(root, 'ann.json'), 'w') as f:
        json.dump(dict(metainfo=dict(dataset_type='TextSpottingDataset',
                                     task_name='textspotting',
                                     category=[dict(id=0, name='text')]),
                       data_list=data_list), f)


def write_config(root: str) -> str:
    """The small config made cheap for the test, with a test pipeline at the images' own scale
    (short side 144)."""
    path = osp.join(root, 'overfit_config.py')
    with open(path, 'w') as f:
        f.write(f"""_base_ = [{SMALL!r}]
# A quarter of ResNet-18's FLOPs, as configs/demo/spotter_r18w32_demo.py runs it; few
# proposals and samples, as the images hold one or two words each.
model = dict(
    backbone=dict(base_channels=32),
    neck=dict(in_channels=[32, 64, 128, 256]),
    train_cfg=dict(
        rpn=dict(sampler=dict(num=64)),
        rpn_proposal=dict(nms_pre=300, max_per_img=100),
        rcnn=dict(sampler=dict(num=64))))
test_dataloader = dict(dataset=dict(pipeline=[
    dict(type='mmocr.LoadImageFromFile'),
    dict(type='mmocr.Resize', scale=(1000, {HEIGHT}), keep_ratio=True),
    dict(type='mmocr.LoadOCRAnnotations', with_polygon=True, with_bbox=True, with_label=True,
         with_text=True),
    dict(type='PackSpottingInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]))
""")
    return path


def load_samples(root: str, pipeline: list) -> list:
    """The images through ``pipeline``, packed once."""
    pipeline = Compose(pipeline)
    with open(osp.join(root, 'ann.json')) as f:
        records = json.load(f)['data_list']
    return [
        pipeline(dict(r, img_path=osp.join(root, r['img_path']), img_id=i, sample_idx=i))
        for i, r in enumerate(records)
    ]


#: Training without augmentation: the test is about the gradient path, not generalisation.
TRAIN_PIPELINE = [
    dict(type='mmocr.LoadImageFromFile'),
    dict(type='mmocr.LoadOCRAnnotations', with_polygon=True, with_bbox=True, with_label=True,
         with_text=True),
    dict(type='FilterSpottingInstances', dictionary=dict(type='mmocr.Dictionary')),
    dict(type='PolygonsToMasks'),
    dict(type='PackSpottingInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0., min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0., min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.mark.slow
def test_small_spotter_overfits_and_reads_the_words(tmp_path):
    """80 iterations of the small config (at the demo's half backbone width, fused AdamW) on
    three images of one or two big words, about 2 minutes on 2 free CPU cores; then the
    detections above 0.5 must be exactly the words, on their boxes, and ``demo/image_demo.py``
    must draw and print them from the saved checkpoint. (The words are read correctly from
    about iteration 45 on.)"""
    torch.manual_seed(0)
    np.random.seed(0)
    root = str(tmp_path)
    write_images(root)
    cfg = Config.fromfile(write_config(root))
    model = MODELS.build(cfg.model)
    model.init_weights()
    optim = build_optim_wrapper(
        model, dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=2e-3,
                                                        weight_decay=1e-4, fused=True),
                    clip_grad=dict(max_norm=10)))
    batch = pseudo_collate(load_samples(root, TRAIN_PIPELINE))

    start = time.time()
    model.train()
    for it in range(80):
        if it == 60:
            for group in optim.param_groups:
                group['lr'] = 2e-4
        log = model.train_step(batch, optim)
    loss_rec = log['loss_rec']
    assert float(loss_rec.detach() if torch.is_tensor(loss_rec) else loss_rec) < 0.1, log

    model.eval()
    tests = load_samples(root, cfg.test_dataloader.dataset.pipeline)
    with torch.no_grad():
        results = model.test_step(pseudo_collate(tests))
    for (colour, words), result in zip(IMAGES, results):
        pred = result.pred_instances
        keep = (pred.scores > 0.5).tolist()
        read = sorted(t for t, k in zip(pred.texts, keep) if k)
        assert read == sorted(w for w, *_ in words), (read, words)
        gt = result.gt_instances
        for text, box in zip(gt.texts, gt.bboxes.numpy()):
            hits = [box_iou(box, b) for t, b, k in zip(pred.texts, pred.bboxes.numpy(), keep)
                    if k and t == text]
            assert hits and max(hits) > 0.6, (text, hits)
    print(f'overfit in {time.time() - start:.0f} s')

    ckpt = osp.join(root, 'overfit.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), ckpt)
    out_dir = osp.join(root, 'vis')
    proc = subprocess.run(
        [sys.executable, osp.join(REPO_ROOT, 'demo', 'image_demo.py'), osp.join(root, 'img_0.png'),
         osp.join(root, 'overfit_config.py'), ckpt, '--out-dir', out_dir],
        capture_output=True, text=True, timeout=300, cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'size mismatch' not in proc.stderr + proc.stdout
    lines = [line.split('\t') for line in proc.stdout.splitlines() if '\t' in line]
    assert sorted(line[1] for line in lines) == ['SPOT', 'TEXT'], proc.stdout[-3000:]
    drawn = cv2.imread(osp.join(out_dir, 'img_0.png'))
    # The image with its polygons filled, beside the words on a white canvas.
    assert drawn.shape == (HEIGHT, 2 * WIDTH, 3)
