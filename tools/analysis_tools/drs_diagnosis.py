"""Why a DLD model's Dynamic Resolution Selector chooses what it chooses (paper §3.3, eq. 2-6).

Four subcommands (``docs/drs_diagnosis.md`` has the findings and the commands)::

    # per image: L_acc at each scale (one-hot h), the T_i, the argmin of L_acc + gamma T_i,
    # the trained DRS's softmax p and argmax, the regime and the smallest word height
    python tools/analysis_tools/drs_diagnosis.py table configs/demo/dld_r18w32_demo.py \\
        work_dirs/demo/student/iter_100.pth --split test --out work_dirs/drs_diag \\
        --cfg-options model.teacher_ckpt=work_dirs/demo/teacher/iter_2500.pth

    # with the student fixed: the step distributions of --train-images training and all test
    # images cached once, then freshly initialised selectors trained alone on eq. 4 (the real
    # straight-through Gumbel sample of DynamicResolutionSelector.sample and the real DRSLoss)
    python tools/analysis_tools/drs_diagnosis.py fit configs/demo/dld_r18w32_demo.py \\
        work_dirs/demo/student/iter_100.pth --out work_dirs/drs_diag \\
        --cfg-options model.teacher_ckpt=work_dirs/demo/teacher/iter_2500.pth

    # a DLD test run's chosen scales per regime, Spearman with the smallest word height
    python tools/analysis_tools/drs_diagnosis.py choices work_dirs/eval/per_image.json \
        work_dirs/drs_diag/drs_table_test.json

    # can a fresh DRS see text size at all? its first two logits trained with cross-entropy
    # to tell one text regime from the rest (supervised probe; no checkpoint)
    python tools/analysis_tools/drs_diagnosis.py probe configs/demo/dld_r18w32_dynamic.py \
        --train-images 3000 --steps 3000 --out work_dirs/drs_diag/probe.json \
        --cfg-options "model.selector.input_size=(256,256)"

Every number comes from the distiller's own parts: the teacher's ``FrozenTeacher`` call, the
``ScalePassProbe`` of the ``k`` no-grad passes (eval mode, as in training), the cost table's
``T_i`` and ``DRSAccuracyLoss``/``DRSLoss``. The images go through the training pipeline's
loading and filtering steps and one deterministic resize to the test resolution (the training
pipeline's ``RandomResize`` at ratio 1.0; the test pipeline leaves the GT in the original frame),
one image per batch. Images without a legible word have ``L_acc = 0`` at every scale (the loss
ignores them), so their argmin is the cheapest scale.
"""
import argparse
import copy
import json
import os
import os.path as osp
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmengine.runner import Runner, load_checkpoint
from torch import Tensor

from mmdld.datasets.text_sizes import REGIME_ORDER
from mmdld.evaluation.functional.text_size import image_text_sizes, spearman
from mmdld.models.losses.drs_loss import AccuracyInputs, DRSAccuracyLoss, DRSLoss
from mmdld.registry import MODELS

TABLE_FILE = 'drs_table_{split}.json'
CACHE_FILE = 'drs_cache_{split}.pt'
FIT_FILE = 'drs_fit.json'
ESTIMATORS = ('gumbel', 'expected', 'argmin')
NORMS = ('bn', 'bn-frozen', 'gn')


# ------------------------------------------------------------------------ pure computations
def per_scale_acc(student_log_probs: Tensor, teacher_log_probs: Tensor, valid: Tensor,
                  img_inds: Tensor, num_imgs: int) -> Tensor:
    """``[num_imgs, k]``: L_acc of each image with a one-hot ``h`` at each scale.

    Exactly ``DRSAccuracyLoss`` (eq. 2, the KL averaged over the image's valid steps) called per
    image and per scale; images without a valid step get 0 (the loss leaves them out).

    Args:
        student_log_probs (Tensor): ``[k, N, L, C]``, the scale passes' distributions.
        teacher_log_probs (Tensor): ``[N, L, C]``.
        valid (Tensor): ``[N, L]`` valid steps.
        img_inds (Tensor): ``[N]`` image of each instance, in ``[0, num_imgs)``.
        num_imgs (int): Images of the batch.
    """
    loss = DRSAccuracyLoss()
    k = student_log_probs.size(0)
    out = torch.zeros(num_imgs, k)
    for img in range(num_imgs):
        sel = (img_inds == img).nonzero().flatten()
        if sel.numel() == 0 or not bool((valid[sel] != 0).any()):
            continue
        for j in range(k):
            h = torch.zeros(sel.numel(), k)
            h[:, j] = 1
            out[img, j] = float(loss(h, AccuracyInputs(
                student_log_probs[:, sel], teacher_log_probs[sel], valid[sel])))
    return out


def objective(acc: np.ndarray, costs: Sequence[float], gamma: float) -> np.ndarray:
    """``[n, k]`` value of L_DRS = L_acc + gamma * T_i (eq. 4) for a one-hot choice."""
    return np.asarray(acc, dtype=float) + gamma * np.asarray(costs, dtype=float)[None]


def histogram(indices: Iterable[int], scales: Sequence[float]) -> Dict[str, int]:
    """Count of each scale (every scale listed, zeros included), keyed ``'0.8'``..."""
    counts = Counter(int(i) for i in indices)
    return {f'{s:g}': counts.get(j, 0) for j, s in enumerate(scales)}


def share_of_scales(indices: Sequence[int], k: int, min_share: float = 0.1) -> int:
    """How many of the ``k`` scales are chosen for at least ``min_share`` of the images."""
    counts = np.bincount(np.asarray(indices, dtype=int), minlength=k)
    return int((counts >= min_share * max(len(indices), 1)).sum())


@dataclass
class ImageRecord:
    """One image of the table (one row of ``drs_table_<split>.json``)."""
    img_path: str
    regime: Optional[str]
    min_height: Optional[float]
    num_words: int
    acc: List[float]
    logits: List[float]
    extra: Dict[str, Any] = field(default_factory=dict)


def summarise(records: Sequence[ImageRecord], scales: Sequence[float], costs: Sequence[float],
              gamma: float) -> Dict[str, Any]:
    """Per-regime medians of L_acc, argmin and DRS histograms, agreement, logit spread."""
    acc = np.array([r.acc for r in records], dtype=float)
    logits = np.array([r.logits for r in records], dtype=float)
    obj = objective(acc, costs, gamma)
    argmin, drs = obj.argmin(1), logits.argmax(1)
    regimes = [r.regime or 'unknown' for r in records]
    by_regime = {}
    for regime in [g for g in (*REGIME_ORDER, 'unknown') if g in regimes]:
        rows = [i for i, g in enumerate(regimes) if g == regime]
        by_regime[regime] = dict(
            images=len(rows), median_acc=np.median(acc[rows], 0).round(4).tolist(),
            argmin=histogram(argmin[rows], scales), drs=histogram(drs[rows], scales))
    spread = logits.max(1) - logits.min(1)
    heights = [(r.min_height, scales[a], scales[d]) for r, a, d in zip(records, argmin, drs)
               if r.min_height is not None]
    fixed = obj.mean(0)
    return dict(
        gamma=gamma, scales=list(scales), costs=list(costs), images=len(records),
        by_regime=by_regime, argmin=histogram(argmin, scales), drs=histogram(drs, scales),
        agreement=float((argmin == drs).mean()),
        objective=dict(oracle=float(obj.min(1).mean()),
                       drs=float(obj[np.arange(len(drs)), drs].mean()),
                       best_fixed=float(fixed.min()), best_fixed_scale=scales[int(fixed.argmin())]),
        logit_spread=dict(median=float(np.median(spread)), max=float(spread.max()),
                          mean_logits=logits.mean(0).round(4).tolist(),
                          std_over_images=logits.std(0).round(4).tolist()),
        spearman_argmin_height=_spearman([h for h, _, _ in heights], [a for _, a, _ in heights]),
        spearman_drs_height=_spearman([h for h, _, _ in heights], [d for _, _, d in heights]))


def _spearman(x: Sequence[float], y: Sequence[float]) -> Optional[float]:
    if len(x) < 3 or len(set(y)) < 2 or len(set(x)) < 2:
        return None
    return float(spearman(x, y))


def format_summary(summary: Dict[str, Any], title: str) -> str:
    """The summary as the Markdown tables of ``docs/drs_diagnosis.md``."""
    scales = [f'{s:g}' for s in summary['scales']]
    lines = [f'### {title}', '', 'T_i: ' + ', '.join(f'{c:.3f}' for c in summary['costs'])
             + f' (gamma {summary["gamma"]:g})', '',
             '| regime (images) | L_acc at ' + ' | '.join(scales) + ' |',
             '| --- |' + ' --- |' * len(scales)]
    for regime, row in summary['by_regime'].items():
        lines.append(f'| {regime} ({row["images"]}), median | '
                     + ' | '.join(f'{v:.3f}' for v in row['median_acc']) + ' |')
    for key, name in (('argmin', 'argmin of L_acc + gamma T'), ('drs', 'DRS argmax')):
        lines += ['', f'{name}:', '', '| regime | ' + ' | '.join(scales) + ' |',
                  '| --- |' + ' --- |' * len(scales)]
        for regime, row in summary['by_regime'].items():
            lines.append(f'| {regime} | ' + ' | '.join(str(v or '-') for v in row[key].values())
                         + ' |')
    o, s = summary['objective'], summary['logit_spread']
    lines += ['', f'agreement DRS/argmin {summary["agreement"]:.2f}; mean L_acc + gamma T: '
              f'oracle {o["oracle"]:.4f}, DRS {o["drs"]:.4f}, best fixed '
              f'{o["best_fixed"]:.4f} (scale {o["best_fixed_scale"]:g})',
              f'DRS logits: max - min per image median {s["median"]:.4f} (max {s["max"]:.4f}); '
              f'mean {s["mean_logits"]}, std over images {s["std_over_images"]}',
              f'Spearman(min word height, scale): argmin {summary["spearman_argmin_height"]}, '
              f'DRS {summary["spearman_drs_height"]}']
    return '\n'.join(lines)


# ------------------------------------------------------------------------ model and data
def load_config(config: str, cfg_options: Optional[dict]) -> Config:
    """The config with ``--cfg-options`` merged and the default scope set."""
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if cfg.model.get('type') != 'DLDDistiller' or not cfg.model.get('selector'):
        raise ValueError(f'{config}: drs_diagnosis needs a DLDDistiller config with a '
                         f'`model.selector`, got model.type {cfg.model.get("type")!r}')
    init_default_scope(cfg.get('default_scope', 'mmdld'))
    return cfg


def build_model(cfg: Config, checkpoint: str) -> torch.nn.Module:
    """The DLD model of ``cfg`` with ``checkpoint`` loaded, in eval mode."""
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'drs_diagnosis: checkpoint {checkpoint!r} does not exist')
    model = MODELS.build(cfg.model)
    state = torch.load(checkpoint, map_location='cpu', weights_only=False).get('state_dict', {})
    # A checkpoint from before the cost buffers: the costs are then measured on the first
    # image, as training measures them on its first batch (or given with --cfg-options).
    missing = [k for k in model.state_dict() if k not in state and not k.startswith('cost_table.')]
    if missing:
        raise KeyError(f'drs_diagnosis: {checkpoint} lacks {len(missing)} weights of the model of '
                       f'the config, e.g. {missing[:3]}')
    load_checkpoint(model, checkpoint, map_location='cpu', strict=False)
    if not any(k.startswith('cost_table.') for k in state):
        print(f'{checkpoint} holds no scale costs: measured on the first image')
    return model.eval()


def diagnosis_pipeline(cfg: Config) -> List[dict]:
    """The training pipeline with its random resize fixed at ratio 1.0 (GT in the input frame,
    the test resolution, no randomness)."""
    steps = []
    for step in copy.deepcopy(cfg.train_dataloader.dataset.pipeline):
        if step['type'] == 'RandomResize':
            step = dict(type=step.get('resize_type', 'Resize'), scale=step['scale'],
                        keep_ratio=step.get('keep_ratio', True))
        elif step['type'] in ('RandomApply', 'RandomChoice', 'PhotoMetricDistortion',
                              'mmocr.RandomRotate', 'mmocr.RandomCrop', 'RandomFlip'):
            continue
        steps.append(step)
    return steps


def build_loader(cfg: Config, split: str, pipeline: Optional[List[dict]] = None):
    """One image per batch, in dataset order, with ``pipeline`` (default
    :func:`diagnosis_pipeline`)."""
    base = cfg.train_dataloader if split == 'train' else cfg.test_dataloader
    dataset = copy.deepcopy(base.dataset)
    train_dataset = cfg.train_dataloader.dataset
    if split == 'test':  # the test set's file with the training set's loading steps
        dataset = dict(copy.deepcopy(train_dataset), ann_file=dataset.get(
            'ann_file', 'textspotting_test.json'), data_root=dataset.get(
                'data_root', train_dataset.get('data_root')))
        dataset.pop('test_mode', None)
    dataset['pipeline'] = diagnosis_pipeline(cfg) if pipeline is None else pipeline
    dataset['filter_cfg'] = None
    return Runner.build_dataloader(dict(
        batch_size=1, num_workers=0, persistent_workers=False, dataset=dataset,
        sampler=dict(type='DefaultSampler', shuffle=False)))


def regimes_of(loader) -> Dict[str, str]:
    """``img_path -> regime`` from the dataset's annotation file (absent: empty)."""
    dataset = loader.dataset
    path = dataset.ann_file
    if not osp.isfile(path):
        return {}
    with open(path, encoding='utf-8') as f:
        data = json.load(f)
    root = dataset.data_root or ''
    return {osp.join(root, d['img_path']): d['regime'] for d in data.get('data_list', [])
            if 'regime' in d}


@dataclass
class ImageCache:
    """What a selector fit needs of one image, with the student fixed."""
    selector_input: Tensor          # [3, h, w] the DRS's fixed-size copy
    student_steps: Tensor           # [k, S, C] log-probs at each scale, valid steps only
    teacher_steps: Tensor           # [S, C]
    acc: Optional[List[float]] = None   # [k] L_acc per scale (one-hot h)


@torch.no_grad()
def collect(model, loader, num_images: int) -> Tuple[List[ImageRecord], List[ImageCache]]:
    """Runs the teacher, the ``k`` scale passes and the DRS on the first ``num_images``."""
    regimes = regimes_of(loader)
    records, caches = [], []
    start = time.time()
    for n, batch in enumerate(loader):
        if n >= num_images:
            break
        if n and n % 25 == 0:
            print(f'{n} images, {time.time() - start:.0f} s', flush=True)
        data = model.data_preprocessor(batch, False)
        inputs, samples = data['inputs'], data['data_samples']
        model.prepare_costs(inputs, samples)
        teacher = model._teacher(inputs, [s.gt_instances for s in samples], True,
                                 model.teacher_beam_width, None)
        rec = teacher.rec
        shapes = [s.metainfo['img_shape'][:2] for s in samples]
        logits = model.selector(inputs, shapes)[0]
        sel_input = model.selector.resize_inputs(inputs, shapes)[0]
        k = len(model.scales)
        if rec.targets.size(0):
            student = model.scale_pass(model.student, inputs, samples, model.scales,
                                       rec.targets, model._resize)
            img_inds = torch.zeros(rec.targets.size(0), dtype=torch.long)
            acc = per_scale_acc(student, teacher.step_log_probs, rec.valid, img_inds, 1)[0]
            mask = rec.valid != 0
            student_steps = student[:, mask]
            teacher_steps = teacher.step_log_probs[mask]
        else:
            acc = torch.zeros(k)
            num_classes = model.student.recognition_spec.num_classes
            student_steps = torch.zeros(k, 0, num_classes)
            teacher_steps = torch.zeros(0, num_classes)
        gt = samples[0].gt_instances
        texts = list(gt.texts) if 'texts' in gt else []
        polygons = list(gt.polygons) if 'polygons' in gt else []
        sizes = image_text_sizes(polygons, texts, scale=1.0) if polygons else {}
        path = samples[0].metainfo['img_path']
        records.append(ImageRecord(
            img_path=path, regime=regimes.get(path), min_height=sizes.get('min'),
            num_words=int(rec.targets.size(0)), acc=acc.tolist(), logits=logits.tolist()))
        caches.append(ImageCache(sel_input.clone(), student_steps.clone(), teacher_steps.clone(),
                                 acc.tolist()))
    return records, caches


# ------------------------------------------------------------------------ offline selector fit
@dataclass
class FitSetting:
    """One offline selector fit."""
    mixture: str = 'distributions'
    lr: float = 5e-4
    tau: str = 'demo'               # 'demo': 5 * 0.965 ** (it // max(1, steps // 50)); or a number
    steps: int = 100
    batch: int = 2
    seed: int = 0
    #: 'gumbel': eq. 4 on the straight-through Gumbel sample (the method); diagnostics only:
    #: 'expected': eq. 4 on h = softmax(logits) with mixture 'losses' (the exact expected
    #: loss, no sampling); 'argmin': cross-entropy to the per-image argmin (supervised).
    estimator: str = 'gumbel'
    #: The selector's normalisation: 'bn' (the demo's BatchNorm, batch statistics in
    #: training), 'bn-frozen' (BatchNorm kept in eval mode: its initial statistics, i.e. no
    #: batch dependence) or 'gn' (GroupNorm, 8 groups: per-image statistics).
    norm: str = 'bn'

    @property
    def name(self) -> str:
        extra = ('' if self.estimator == 'gumbel' else f'/{self.estimator}') + (
            '' if self.norm == 'bn' else f'/{self.norm}')
        return (f'{self.mixture}/lr{self.lr:g}/tau-{self.tau}/{self.steps}it/b{self.batch}'
                f'{extra}/seed{self.seed}')


def temperature(setting: FitSetting, it: int) -> float:
    """The Gumbel temperature at iteration ``it`` (the demo's hook schedule or a constant)."""
    if setting.tau == 'demo':
        return 5.0 * 0.965**(it // max(1, setting.steps // 50))
    return float(setting.tau)


def lr_factor(it: int, steps: int) -> float:
    """The demo's schedule: linear warm-up from 0.1 over 20 iterations, x0.1 at 80%."""
    warm = 0.1 + 0.9 * min(it, 20) / 20
    return warm * (0.1 if it >= int(steps * 0.8) else 1.0)


def batch_inputs(caches: Sequence[ImageCache]) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Selector inputs ``[B, 3, h, w]`` and one-step-per-instance distributions for DRSLoss."""
    student = torch.cat([c.student_steps for c in caches], 1).unsqueeze(2)  # [k, S, 1, C]
    teacher = torch.cat([c.teacher_steps for c in caches], 0).unsqueeze(1)  # [S, 1, C]
    img_inds = torch.cat([torch.full((c.teacher_steps.size(0), ), i, dtype=torch.long)
                          for i, c in enumerate(caches)])
    return (torch.stack([c.selector_input for c in caches]), student, teacher, img_inds)


def fit_selector(selector_cfg: dict, costs: Sequence[float], gamma: float,
                 train: Sequence[ImageCache], setting: FitSetting,
                 weight_decay: float = 1e-4, max_norm: float = 10.0) -> torch.nn.Module:
    """Trains a fresh selector alone on eq. 4, as the distiller's step does it.

    The real ``DynamicResolutionSelector.sample`` (straight-through Gumbel, eq. 5-6) and
    ``DRSLoss``; AdamW with the demo's weight decay, gradient clipping and LR schedule.
    """
    torch.manual_seed(setting.seed)
    selector_cfg = copy.deepcopy(selector_cfg)
    if setting.norm == 'gn':
        selector_cfg['norm_cfg'] = dict(type='GN', num_groups=8)
    selector = MODELS.build(selector_cfg)
    selector.init_weights()
    set_train_mode(selector, setting.norm)
    loss_fn = DRSLoss(costs, gamma=gamma,
                      acc_loss=dict(type='DRSAccuracyLoss', mixture=setting.mixture))
    optim = torch.optim.AdamW(selector.parameters(), lr=setting.lr, weight_decay=weight_decay)
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(setting.seed))
    pos = 0
    for it in range(setting.steps):
        if pos + setting.batch > len(order):
            order = torch.randperm(len(train),
                                   generator=torch.Generator().manual_seed(setting.seed + it))
            pos = 0
        caches = [train[int(i)] for i in order[pos:pos + setting.batch]]
        pos += setting.batch
        for group in optim.param_groups:
            group['lr'] = setting.lr * lr_factor(it, setting.steps)
        inputs, student, teacher, img_inds = batch_inputs(caches)
        logits = selector(inputs)
        if setting.estimator == 'argmin':
            targets = torch.as_tensor([int(np.argmin(objective([c.acc], costs, gamma)))
                                       for c in caches])
            loss = torch.nn.functional.cross_entropy(logits, targets)
        else:
            if setting.estimator == 'expected':
                h = logits.softmax(-1)
            else:
                h, _ = selector.sample(logits, tau=temperature(setting, it))
            valid = torch.ones(teacher.shape[:2])
            losses = loss_fn(h, student, teacher, valid, img_inds)
            loss = losses['loss_drs_acc'] + losses['loss_drs_flops']
        optim.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(selector.parameters(), max_norm)
        optim.step()
    return selector.eval()


def set_train_mode(selector: torch.nn.Module, norm: str) -> None:
    """Training mode; with ``norm='bn-frozen'`` the BatchNorm layers stay in eval mode."""
    selector.train()
    if norm == 'bn-frozen':
        for module in selector.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.eval()


@torch.no_grad()
def evaluate_selector(selector, test: Sequence[ImageCache], records: Sequence[ImageRecord],
                      costs: Sequence[float], gamma: float) -> Dict[str, Any]:
    """Agreement with the per-image argmin, mean L_acc + gamma T, histogram, Spearman."""
    scales = selector.scales
    logits = selector(torch.stack([c.selector_input for c in test]))
    choice = logits.argmax(1).numpy()
    obj = objective([r.acc for r in records], costs, gamma)
    argmin = obj.argmin(1)
    heights = [(r.min_height, scales[c]) for r, c in zip(records, choice)
               if r.min_height is not None]
    return dict(agreement=float((choice == argmin).mean()),
                objective=float(obj[np.arange(len(choice)), choice].mean()),
                oracle=float(obj.min(1).mean()), best_fixed=float(obj.mean(0).min()),
                hist=histogram(choice, scales),
                scales_with_10pct=share_of_scales(choice, len(scales)),
                spearman=_spearman([h for h, _ in heights], [s for _, s in heights]),
                logit_spread=float(np.median((logits.max(1).values - logits.min(1).values))))


def default_grid(seeds: Sequence[int]) -> List[FitSetting]:
    """mixture x lr (5e-4, 5e-3) x tau (demo, 1) x steps (100, 600) x seeds."""
    return [FitSetting(m, lr, tau, steps, 2, seed)
            for m in ('distributions', 'losses') for lr in (5e-4, 5e-3)
            for tau in ('demo', '1') for steps in (100, 600) for seed in seeds]


# ------------------------------------------------------------------------ supervised probe
def regime_labels(img_paths: Sequence[str], regimes: Dict[str, str], positive: str) -> Tensor:
    """``[n]`` long: 1 for the images of regime ``positive``, 0 for every other image.

    Args:
        img_paths (Sequence[str]): The images, as the loader's ``img_path`` metainfo.
        regimes (dict): ``img_path -> regime`` (:func:`regimes_of`).
        positive (str): The regime of class 1.

    Raises:
        ValueError: If an image has no regime (naming it).
    """
    labels = []
    for path in img_paths:
        if path not in regimes:
            raise ValueError(f'drs_diagnosis probe: image {path} has no `regime` in its '
                             'annotation file (the probe\'s labels are the regimes of the '
                             'synthetic annotations, docs/synthetic_data.md)')
        labels.append(int(regimes[path] == positive))
    return torch.tensor(labels, dtype=torch.long)


def train_probe(selector_cfg: dict, inputs: Tensor, labels: Tensor, steps: int,
                batch_size: int, lr: float, seed: int) -> torch.nn.Module:
    """A fresh selector whose first two logits are trained as a binary classifier.

    Cross-entropy, Adam, batches drawn without replacement from seeded permutations (a
    remainder smaller than a batch starts the next permutation); BatchNorm in training mode,
    as the distiller trains the selector.

    Args:
        selector_cfg (dict): ``model.selector``.
        inputs (Tensor): ``[N, 3, h, w]`` selector inputs (``resize_inputs`` already applied).
        labels (Tensor): ``[N]`` in {0, 1}.
        steps (int): Optimiser steps.
        batch_size (int): Images per step (all of them when fewer).
        lr (float): Adam's learning rate.
        seed (int): Seeds the initial weights and the batches.

    Returns:
        torch.nn.Module: The selector, in eval mode.
    """
    torch.manual_seed(seed)
    selector = MODELS.build(copy.deepcopy(selector_cfg))
    selector.init_weights()
    selector.train()
    optim = torch.optim.Adam(selector.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    order, pos = torch.randperm(len(labels), generator=gen), 0
    for _ in range(steps):
        if pos + batch_size > len(order) and pos:
            order, pos = torch.randperm(len(labels), generator=gen), 0
        batch = order[pos:pos + batch_size]
        pos += batch_size
        loss = torch.nn.functional.cross_entropy(selector(inputs[batch])[:, :2], labels[batch])
        optim.zero_grad()
        loss.backward()
        optim.step()
    return selector.eval()


@torch.no_grad()
def probe_accuracy(selector: torch.nn.Module, inputs: Tensor, labels: Tensor,
                   batch_size: int = 64) -> float:
    """Share of ``labels`` that the argmax of the selector's first two logits gets right."""
    preds = torch.cat([selector(inputs[i:i + batch_size])[:, :2].argmax(1)
                       for i in range(0, len(labels), batch_size)])
    return float((preds == labels).double().mean())


def majority_rate(labels: Tensor) -> float:
    """Accuracy of always answering the more frequent class of ``labels``."""
    positive = float(labels.double().mean())
    return max(positive, 1.0 - positive)


@torch.no_grad()
def probe_inputs(cfg: Config, split: str, num: int) -> Tuple[Tensor, List[str], Dict[str, str]]:
    """Selector inputs of the first ``num`` images of ``split`` (0: all), their paths and the
    regimes of the split's annotation file.

    The images go through the config's test pipeline and the model's data preprocessor, one
    per batch; the DRS input is ``resize_inputs`` on each image's ``img_shape``, as
    ``DLDDistiller`` calls the selector.
    """
    loader = build_loader(cfg, split, copy.deepcopy(cfg.test_dataloader.dataset.pipeline))
    # DLDDistiller's preprocessor: model.data_preprocessor, else the student's.
    preprocessor = MODELS.build(cfg.model.get('data_preprocessor')
                                or cfg.model.student.data_preprocessor)
    selector = MODELS.build(copy.deepcopy(cfg.model.selector))  # its resize only
    inputs, paths = [], []
    for n, batch in enumerate(loader):
        if num and n >= num:
            break
        data = preprocessor(batch, False)
        samples = data['data_samples']
        inputs.append(selector.resize_inputs(data['inputs'],
                                             [s.metainfo['img_shape'][:2] for s in samples]))
        paths += [s.metainfo['img_path'] for s in samples]
    return torch.cat(inputs), paths, regimes_of(loader)


def run_probe(cfg: Config, args: argparse.Namespace) -> Dict[str, Any]:
    """The ``probe`` subcommand: settings, accuracies, majority rate, images per class."""
    start = time.time()
    data = {}
    for split, num in (('train', args.train_images), ('test', args.test_images)):
        inputs, paths, regimes = probe_inputs(cfg, split, num)
        data[split] = (inputs, regime_labels(paths, regimes, args.positive_regime))
        print(f'{split}: {len(paths)} images read ({time.time() - start:.0f} s)', flush=True)
    selector = train_probe(cfg.model.selector, *data['train'], args.steps, args.batch_size,
                           args.lr, args.seed)
    rest = f'not {args.positive_regime}'
    result = dict(
        settings=dict(config=args.config, cfg_options=args.cfg_options,
                      input_size=list(selector.input_size), train_images=args.train_images,
                      test_images=args.test_images, steps=args.steps,
                      batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                      positive_regime=args.positive_regime),
        train_accuracy=probe_accuracy(selector, *data['train']),
        test_accuracy=probe_accuracy(selector, *data['test']),
        test_majority_rate=majority_rate(data['test'][1]),
        images={split: {args.positive_regime: int(labels.sum()),
                        rest: int(len(labels) - labels.sum())}
                for split, (_, labels) in data.items()},
        seconds=round(time.time() - start, 1))
    print(f'probe {args.positive_regime} vs rest at {result["settings"]["input_size"]}: train '
          f'acc {result["train_accuracy"]:.3f}, test acc {result["test_accuracy"]:.3f} '
          f'(majority {result["test_majority_rate"]:.3f}), images {result["images"]}, '
          f'{result["seconds"]} s')
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=1)
    return result


# ------------------------------------------------------------------------ test-run choices
def test_run_choices(per_image: Dict[str, Any], table: Dict[str, Any]) -> Dict[str, Any]:
    """The chosen scales of a test run (``per_image.json``) per regime, against the smallest
    word height of the same images (a ``drs_table_test.json``).

    Images are matched by the file name of ``img_path``; an image of the run missing from the
    table is an error naming it.
    """
    by_name = {osp.basename(r['img_path']): r for r in table['images']}
    scales = table['summary']['scales']
    rows = []
    for image in per_image['images']:
        name = osp.basename(image['img_path'])
        if name not in by_name:
            raise KeyError(f'drs_diagnosis choices: image {name} of the test run is not in the '
                           'table (run `table --split test` on the same test set)')
        if image.get('scale') is None:
            raise ValueError(f'drs_diagnosis choices: image {name} has no `scale` (not a DLD '
                             'run)')
        rows.append((by_name[name].get('regime') or 'unknown', by_name[name]['min_height'],
                     scales.index(min(scales, key=lambda s: abs(s - image['scale'])))))
    regimes = [g for g in (*REGIME_ORDER, 'unknown') if any(r == g for r, _, _ in rows)]
    pairs = [(h, scales[i]) for _, h, i in rows if h is not None]
    indices = [i for _, _, i in rows]
    return dict(
        images=len(rows), mean_scale=float(np.mean([scales[i] for i in indices])),
        hist=histogram(indices, scales),
        by_regime={g: histogram([i for r, _, i in rows if r == g], scales) for g in regimes},
        scales_with_10pct=share_of_scales(indices, len(scales)),
        spearman=_spearman([h for h, _ in pairs], [s for _, s in pairs]))


# ------------------------------------------------------------------------ command line
def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parses the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    for name in ('table', 'fit'):
        p = sub.add_parser(name)
        p.add_argument('config', help='DLD config (with a selector)')
        p.add_argument('checkpoint', help='DLD checkpoint (student, selector, costs)')
        p.add_argument('--gamma', type=float, default=None,
                       help='gamma of eq. 4 (default: the config\'s drs_loss.gamma)')
        p.add_argument('--out', default=None, help='output folder (JSON tables, caches)')
        p.add_argument('--threads', type=int, default=1, help='torch intra-op threads')
        p.add_argument('--cfg-options', nargs='+', action=DictAction,
                       help='override config settings, key=value')
    table = sub.choices['table']
    table.add_argument('--split', choices=['train', 'test'], default='test')
    table.add_argument('--num-images', type=int, default=50)
    fit = sub.choices['fit']
    fit.add_argument('--train-images', type=int, default=200)
    fit.add_argument('--test-images', type=int, default=50)
    fit.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    fit.add_argument('--fit-file', default=FIT_FILE, help='name of the results file in --out')
    fit.add_argument('--settings', nargs='+', default=None,
                     metavar='MIXTURE:LR:TAU:STEPS[:BATCH[:ESTIMATOR[:NORM]]]',
                     help='fits to run instead of the default grid, e.g. losses:5e-3:demo:100')
    choices = sub.add_parser('choices', help='a DLD test run\'s chosen scales per regime and '
                             'their Spearman correlation with the smallest word height')
    choices.add_argument('per_image', help='per_image.json of the test run')
    choices.add_argument('table', help='drs_table_test.json of `table --split test`')
    probe = sub.add_parser('probe', help='a fresh selector\'s first two logits trained with '
                           'cross-entropy to tell one text regime from the rest')
    probe.add_argument('config', help='DLD config (with a selector)')
    probe.add_argument('--train-images', type=int, default=300,
                       help='first training images (0: all)')
    probe.add_argument('--test-images', type=int, default=300, help='first test images')
    probe.add_argument('--steps', type=int, default=1500)
    probe.add_argument('--batch-size', type=int, default=16)
    probe.add_argument('--lr', type=float, default=2e-3, help='Adam\'s learning rate')
    probe.add_argument('--seed', type=int, default=0)
    probe.add_argument('--positive-regime', choices=REGIME_ORDER, default='large')
    probe.add_argument('--out', default=None, help='results JSON file')
    probe.add_argument('--threads', type=int, default=1, help='torch intra-op threads')
    probe.add_argument('--cfg-options', nargs='+', action=DictAction,
                       help='override config settings, key=value')
    args = parser.parse_args(argv)
    for key in ('num_images', 'train_images', 'test_images', 'steps', 'batch_size'):
        least = 0 if (args.command, key) == ('probe', 'train_images') else 1
        if getattr(args, key, 1) < least:
            parser.error(f'--{key.replace("_", "-")} must be >= {least}')
    return args


def parse_setting(text: str, seed: int) -> FitSetting:
    """``MIXTURE:LR:TAU:STEPS[:BATCH[:ESTIMATOR]]`` as a :class:`FitSetting`."""
    parts = text.split(':')
    if not 4 <= len(parts) <= 7 or parts[0] not in DRSAccuracyLoss.MIXTURES or (
            len(parts) >= 6 and parts[5] not in ESTIMATORS) or (
                len(parts) == 7 and parts[6] not in NORMS):
        raise ValueError(f'--settings: expected MIXTURE:LR:TAU:STEPS[:BATCH[:ESTIMATOR[:NORM]]] '
                         f'with MIXTURE in {DRSAccuracyLoss.MIXTURES}, ESTIMATOR in '
                         f'{ESTIMATORS} and NORM in {NORMS}, got {text!r}')
    batch = int(parts[4]) if len(parts) > 4 else 2
    estimator = parts[5] if len(parts) > 5 else 'gumbel'
    norm = parts[6] if len(parts) > 6 else 'bn'
    return FitSetting(parts[0], float(parts[1]), parts[2], int(parts[3]), batch, seed,
                      estimator, norm)


def cached_collect(model, cfg, split: str, num: int, out: Optional[str]
                   ) -> Tuple[List[ImageRecord], List[ImageCache]]:
    """:func:`collect`, reusing ``<out>/drs_cache_<split>.pt`` when it holds enough images."""
    path = osp.join(out, CACHE_FILE.format(split=split)) if out else None
    if path and osp.isfile(path):
        data = torch.load(path, weights_only=False)
        if len(data['records']) >= num:
            records = [r if isinstance(r, ImageRecord) else ImageRecord(**r)
                       for r in data['records'][:num]]
            caches = [c if isinstance(c, ImageCache) else ImageCache(**c)
                      for c in data['caches'][:num]]
            return records, caches
    start = time.time()
    records, caches = collect(model, build_loader(cfg, split), num)
    print(f'{split}: {len(records)} images collected in {time.time() - start:.0f} s')
    if path:
        # Plain dicts: the file loads wherever this module is imported from.
        torch.save(dict(records=[r.__dict__ for r in records],
                        caches=[c.__dict__ for c in caches]), path)
    return records, caches


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Runs a subcommand; returns its summary."""
    args = parse_args(argv)
    if args.command == 'choices':
        with open(args.per_image, encoding='utf-8') as f:
            per_image = json.load(f)
        with open(args.table, encoding='utf-8') as f:
            table = json.load(f)
        result = test_run_choices(per_image, table)
        print(json.dumps(result, indent=1))
        return result
    # Small tensors on a shared CPU: one selector step took 0.11 s on one thread and 1.46 s on
    # two under load (docs/drs_diagnosis.md).
    torch.set_num_threads(args.threads)
    cfg = load_config(args.config, args.cfg_options)
    if args.command == 'probe':
        return run_probe(cfg, args)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
    model = build_model(cfg, args.checkpoint)
    gamma = float(cfg.model.drs_loss.get('gamma', 0.1)) if args.gamma is None else args.gamma
    if args.command == 'table':
        records, _ = cached_collect(model, cfg, args.split, args.num_images, args.out)
        summary = summarise(records, model.scales, model.scale_costs, gamma)
        print(format_summary(summary, f'{args.split}, {len(records)} images'))
        if args.out:
            with open(osp.join(args.out, TABLE_FILE.format(split=args.split)), 'w') as f:
                json.dump(dict(summary=summary, images=[r.__dict__ for r in records]), f,
                          indent=1)
        return summary
    train_records, train = cached_collect(model, cfg, 'train', args.train_images, args.out)
    test_records, test = cached_collect(model, cfg, 'test', args.test_images, args.out)
    for cache, rec in zip(train, train_records):
        cache.acc = rec.acc
    costs = model.scale_costs
    settings = ([parse_setting(s, seed) for s in args.settings for seed in args.seeds]
                if args.settings else default_grid(args.seeds))
    results = []
    for setting in settings:
        start = time.time()
        selector = fit_selector(cfg.model.selector, costs, gamma, train, setting)
        result = dict(setting=setting.__dict__, name=setting.name,
                      **evaluate_selector(selector, test, test_records, costs, gamma),
                      train=evaluate_selector(selector, train, train_records, costs, gamma),
                      seconds=round(time.time() - start, 1))
        results.append(result)
        print(f'{setting.name:<44} agree {result["agreement"]:.2f} obj '
              f'{result["objective"]:.4f} (oracle {result["oracle"]:.4f}, fixed '
              f'{result["best_fixed"]:.4f}) >=10%: {result["scales_with_10pct"]} '
              f'rho {result["spearman"]} hist {list(result["hist"].values())} '
              f'train agree {result["train"]["agreement"]:.2f} ({result["seconds"]} s)',
              flush=True)
    summary = dict(gamma=gamma, costs=list(costs), results=results)
    if args.out:
        with open(osp.join(args.out, args.fit_file), 'w') as f:
            json.dump(summary, f, indent=1)
    return summary


if __name__ == '__main__':
    main()
