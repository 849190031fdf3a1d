"""DLD around a second, minimal spotter that implements only the spotter protocol.

The spotter below is written for this test alone (a two-conv feature network, box crops
pooled to the RoI size, a one-layer recogniser): if ``DLDDistiller`` trains and runs it, the
distiller depends on nothing but ``DistillableSpotter``.
"""
from typing import Dict, List, Sequence, Tuple

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.structures import DetDataSample
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper
from mmengine.structures import InstanceData

from mmdld.models.distillers import DLDDistiller
from mmdld.models.rec_heads.sequence_search import beam_search, greedy_search
from mmdld.models.spotters import (BeamResult, DistillableSpotter, GTRecognition,
                                   RecognitionSpec)
from mmdld.registry import MODELS

CHARS = 'abc'
END, PAD = len(CHARS), len(CHARS) + 1  # END is also START; padding is not a class
NUM_CLASSES = len(CHARS) + 1
ROI_SIZE = (2, 4)
SCALES = (0.75, 0.5)


class TinyFeatures(nn.Module):
    """Conv-BN-ReLU twice at stride 1: one feature level, foldable by the scale passes."""

    def __init__(self, channels: int = 8) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(3, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels),
            nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels), nn.ReLU())

    def forward(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        return (self.layers(inputs), )


class TinyProtocolSpotter(BaseModel, DistillableSpotter):
    """Objectness map over the features + a recogniser on average-pooled GT box crops."""

    def __init__(self, channels: int = 8, data_preprocessor=None) -> None:
        super().__init__(data_preprocessor=data_preprocessor)
        self.features = TinyFeatures(channels)
        self.objectness = nn.Conv2d(channels, 1, 1)
        self.encoder = nn.Linear(channels * ROI_SIZE[0], 16)
        self.embed = nn.Embedding(NUM_CLASSES, 16)
        self.classifier = nn.Linear(16, NUM_CLASSES)

    # ------------------------------------------------------------ the protocol
    @property
    def recognition_spec(self) -> RecognitionSpec:
        return RecognitionSpec(dictionary=tuple(CHARS) + ('<END>', '<PAD>'), max_seq_len=4,
                               num_classes=NUM_CLASSES, roi_size=ROI_SIZE,
                               roi_channels=self.objectness.in_channels)

    def extract_feat(self, inputs):
        return self.features(inputs)

    def feature_network(self):
        return self.features

    def loss_and_gt_recognition(self, inputs, data_samples):
        feats = self.extract_feat(inputs)
        target = torch.zeros_like(feats[0][:, :1])
        for i, sample in enumerate(data_samples):
            for x1, y1, x2, y2 in self._boxes(sample.gt_instances, target.shape[-2:]):
                target[i, 0, y1:y2, x1:x2] = 1.
        loss_obj = F.binary_cross_entropy_with_logits(self.objectness(feats[0]), target)
        return dict(loss_obj=loss_obj), self.gt_recognition(
            feats, [s.gt_instances for s in data_samples])

    def recognition_loss(self, rec: GTRecognition) -> Dict[str, torch.Tensor]:
        if len(rec) == 0:
            return dict(loss_rec=sum(p.sum() for p in self.parameters()) * 0.)
        log_probs = self.step_log_probs(rec.context, rec.targets)
        return dict(loss_rec=F.nll_loss(log_probs[rec.valid], rec.targets[rec.valid]))

    def gt_recognition(self, feats, batch_gt_instances):
        roi_feats, num_per_img = self.gt_roi_feats(feats, batch_gt_instances)
        texts = [t for gt in batch_gt_instances for t in gt.texts]
        rows = [[CHARS.index(c) for c in t[:4]] + [END] for t in texts]
        length = max((len(r) for r in rows), default=1)
        targets = torch.full((len(rows), length), PAD, dtype=torch.long)
        for i, row in enumerate(rows):
            targets[i, :len(row)] = torch.tensor(row)
        return GTRecognition(roi_feats=roi_feats, context=self.encode_context(roi_feats),
                             targets=targets, valid=targets != PAD, num_per_img=num_per_img)

    def gt_roi_feats(self, feats, batch_gt_instances):
        crops, num_per_img = [], []
        for i, gt in enumerate(batch_gt_instances):
            boxes = self._boxes(gt, feats[0].shape[-2:])
            num_per_img.append(len(boxes))
            crops.extend(
                F.adaptive_avg_pool2d(feats[0][i:i + 1, :, y1:y2, x1:x2], ROI_SIZE)
                for x1, y1, x2, y2 in boxes)
        if not crops:
            return feats[0].new_zeros(0, feats[0].size(1), *ROI_SIZE), num_per_img
        return torch.cat(crops), num_per_img

    def encode_context(self, roi_feats):
        n, c, h, w = roi_feats.shape
        return self.encoder(roi_feats.permute(0, 3, 1, 2).reshape(n, w, c * h))

    def step_log_probs(self, context, targets):
        prev = torch.cat([targets.new_full((targets.size(0), 1), END), targets[:, :-1]], 1)
        return self._step(context.mean(1)[:, None], prev.clamp(max=END))

    def beam_search(self, context, beam_width, topk):
        summary = context.mean(1).repeat_interleave(beam_width, 0)
        out = beam_search(self._step_fn, summary, context.size(0), beam_width, topk, END, END,
                          PAD, 5, context.device)
        return BeamResult(indices=out['indices'], lengths=out['lengths'],
                          log_probs=out['log_probs'])

    def sequence_log_prob(self, context, indices, valid):
        log_probs = self.step_log_probs(context, indices)
        picked = log_probs.gather(-1, indices.masked_fill(~valid, 0)[..., None])[..., 0]
        return (picked * valid).sum(1)

    # ------------------------------------------------------------ inference
    def predict(self, inputs, data_samples, rescale=True):
        feats = self.extract_feat(inputs)
        for i, sample in enumerate(data_samples):
            h, w = sample.img_shape
            box = InstanceData(bboxes=torch.tensor([[0., 0., w, h]]))
            roi_feats, _ = self.gt_roi_feats((feats[0][i:i + 1], ), [box])
            out = greedy_search(self._step_fn, self.encode_context(roi_feats).mean(1), 1, END,
                                END, PAD, 5, inputs.device)
            texts = [''.join(CHARS[k] for k in row if k < END) for row in out['indices'].tolist()]
            bboxes = box.bboxes
            if rescale:
                sx, sy = sample.scale_factor
                bboxes = bboxes / bboxes.new_tensor([sx, sy, sx, sy])
            sample.pred_instances = InstanceData(bboxes=bboxes, scores=torch.ones(1),
                                                 texts=texts)
        return data_samples

    def _forward(self, inputs, data_samples=None):
        return self.objectness(self.extract_feat(inputs)[0])

    def forward(self, inputs, data_samples=None, mode='tensor'):
        if mode == 'loss':
            losses, rec = self.loss_and_gt_recognition(inputs, data_samples)
            return dict(losses, **self.recognition_loss(rec))
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        return self._forward(inputs, data_samples)

    # ------------------------------------------------------------ helpers
    def _step(self, summary, prev):
        return self.classifier(torch.tanh(summary + self.embed(prev))).log_softmax(-1)

    def _step_fn(self, prev, state):
        return self._step(state, prev.clamp(max=END)), state

    @staticmethod
    def _boxes(gt: InstanceData, shape: Sequence[int]) -> List[Tuple[int, int, int, int]]:
        """Integer boxes of at least one feature pixel inside the map."""
        height, width = int(shape[0]), int(shape[1])
        boxes = []
        for x1, y1, x2, y2 in gt.bboxes.tolist() if len(gt) else []:
            x1, y1 = min(int(x1), width - 1), min(int(y1), height - 1)
            boxes.append((x1, y1, max(x1 + 1, min(round(x2), width)),
                          max(y1 + 1, min(round(y2), height))))
        return boxes


@pytest.fixture
def tiny_spotter_type():
    """Registers the spotter for the duration of one test only."""
    MODELS.register_module(name='TinyProtocolSpotter', module=TinyProtocolSpotter)
    yield 'TinyProtocolSpotter'
    MODELS._module_dict.pop('TinyProtocolSpotter')


def sample(boxes, texts, shape=(32, 48), seed=0):
    data_sample = DetDataSample(metainfo=dict(img_shape=shape, ori_shape=shape,
                                              scale_factor=(1., 1.), img_id=seed))
    data_sample.gt_instances = InstanceData(
        bboxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        labels=torch.zeros(len(boxes), dtype=torch.long), texts=list(texts))
    img = torch.randint(0, 256, (3, *shape), dtype=torch.uint8,
                        generator=torch.Generator().manual_seed(seed))
    return img, data_sample


def batch():
    items = [sample([[4, 4, 30, 14], [6, 18, 40, 28]], ['abc', 'ca'], seed=1),
             sample([[2, 2, 20, 12]], ['b'], shape=(24, 40), seed=2)]
    return dict(inputs=[i for i, _ in items], data_samples=[s for _, s in items])


def build(spotter_type, **kwargs):
    torch.manual_seed(0)
    preprocessor = dict(type='mmdet.DetDataPreprocessor', mean=[127.5] * 3, std=[64.] * 3,
                        pad_size_divisor=8)
    spotter = dict(type=spotter_type, data_preprocessor=preprocessor)
    cfg = dict(type='DLDDistiller', student=spotter, teacher=spotter,
               selector=dict(type='DynamicResolutionSelector', scales=SCALES,
                             input_size=(16, 16), channels=(4, 8)))
    return MODELS.build(dict(cfg, **kwargs))


def _grads(loss, params):
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return [g for g in grads if g is not None and bool(g.abs().sum() > 0)]


def test_dld_trains_and_predicts_a_spotter_that_only_implements_the_protocol(
        tiny_spotter_type):
    model = build(tiny_spotter_type)
    assert isinstance(model, DLDDistiller) and model.roi_align is None
    assert not model.costs_ready  # measured by forward, before the first step
    model.train()
    data = model.data_preprocessor(batch(), True)
    losses = model(**data, mode='loss')

    assert model.costs_ready and len(model.scale_costs) == len(SCALES)
    assert 0 < model.scale_costs[1] < model.scale_costs[0] < 1
    for key in ('loss_obj', 'loss_rec', 'loss_skd_roi', 'loss_skd_con', 'loss_skd_seq',
                'loss_drs_acc', 'loss_drs_flops'):
        assert torch.isfinite(losses[key]), key
    assert losses['loss_skd_seq'] > 0  # -log p of the teacher's beam
    # The student starts as the teacher, but reads the images at a lower resolution.
    assert losses['loss_skd_roi'] > 0
    # The k scale passes ran on the folded copy of the spotter's feature network.
    assert model.scale_pass.extractor is not None
    assert len(model.scale_pass.extractor.folded_pairs) == 2

    drs = losses['loss_drs_acc'] + losses['loss_drs_flops']
    student_total = sum(v for k, v in losses.items()
                        if k.startswith('loss') and not k.startswith('loss_drs'))
    selector_params = list(model.selector.parameters())
    student_params = list(model.student.parameters())
    # Eq. 4: L_DRS trains the DRS only; the student's losses train the student only.
    assert _grads(drs, selector_params) and not _grads(drs, student_params)
    assert len(_grads(student_total, student_params)) == len(student_params)
    assert not _grads(student_total, selector_params)
    model.zero_grad()
    (drs + student_total).backward()
    assert all(p.grad is None for p in model.teacher.parameters())
    assert not any(p.requires_grad for p in model.teacher.parameters())

    # MMEngine's training step (preprocess, loss, backward, optimizer step) moves the student
    # and the DRS, never the teacher.
    before = {name: [p.detach().clone() for p in part.parameters()]
              for name, part in (('student', model.student), ('selector', model.selector),
                                 ('teacher', model.teacher))}
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    log_vars = model.train_step(batch(), optim)
    assert torch.isfinite(log_vars['loss'])
    for name, part in (('student', model.student), ('selector', model.selector),
                       ('teacher', model.teacher)):
        moved = [not torch.equal(a, b) for a, b in zip(before[name], part.parameters())]
        assert any(moved) == (name != 'teacher'), name

    model.eval()
    data = model.data_preprocessor(batch(), False)
    with torch.no_grad():
        results = model(**data, mode='predict')
    for result in results:
        assert result.dld_scale in SCALES
        assert result.dld_gflops == pytest.approx(
            model.gflops_at(SCALES.index(result.dld_scale)))
        h, w = result.img_shape
        # The student ran at the chosen scale; its box comes back in the original frame.
        assert result.pred_instances.bboxes[0].tolist() == pytest.approx([0, 0, w, h], abs=1)
        assert all(set(t) <= set(CHARS) for t in result.pred_instances.texts)


def test_a_model_without_the_protocol_is_refused(tiny_spotter_type):
    with pytest.raises(TypeError, match='must implement the spotter protocol'):
        build(tiny_spotter_type, student=dict(type='mmdet.DetDataPreprocessor'))
