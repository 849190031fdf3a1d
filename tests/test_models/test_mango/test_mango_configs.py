"""The MANGO configs (configs/mango/): they build, the teachers read the data of the Mask R-CNN
(and Text Perceptron) teachers of their benchmark, the students are the teacher's architecture
with the distiller settings of the Mask R-CNN configs they mirror, and every one matches at IoU
0.1 as the paper reports MANGO."""
import glob
import inspect
import os.path as osp

import pytest
import torch
import yaml
from helpers import CONFIG_DIR, REPO_ROOT, batch, packed_sample, rect
from mmengine.config import Config
from mmengine.runner.checkpoint import CheckpointLoader

from mmdld.evaluation import E2ESpottingMetric
from mmdld.models.distillers import DLDDistiller
from mmdld.models.mango import MANGOSpotter
from mmdld.registry import MODELS

MANGO_DIR = osp.join(CONFIG_DIR, 'mango')
TEACHERS = {'dynamic': 'mango_r18w32_dynamic.py', 'totaltext': 'mango_r50_totaltext.py'}
STUDENTS = {  # config -> (teacher, gamma)
    'dld_mango_r18w32_dynamic.py': ('dynamic', 0.1),
    'dld_mango_r18w32_dynamic_gamma0.3.py': ('dynamic', 0.3),
    'dld_mango_r50_totaltext.py': ('totaltext', 0.1),
    'dld_mango_r50_totaltext_gamma0.3.py': ('totaltext', 0.3),
}
#: The Mask R-CNN configs that the MANGO ones take their data and DLD settings from.
MASK_RCNN = {
    'dynamic': ('demo/spotter_r18w32_dynamic.py', 'demo/dld_r18w32_dynamic.py'),
    'totaltext': ('spotter/maskrcnn_r50_fpn_spotter_totaltext.py', 'dld/dld_r50_totaltext.py'),
}
#: The evaluator's own threshold where a config does not set one.
METRIC_SCORE_THR = inspect.signature(E2ESpottingMetric).parameters['score_thr'].default


def load(name: str) -> Config:
    return Config.fromfile(osp.join(CONFIG_DIR, name))


def mango(name: str) -> Config:
    return load(osp.join('mango', name))


def refuse_checkpoints(monkeypatch) -> None:
    """Makes any checkpoint read (file or URL, e.g. an ``init_cfg`` download) fail the test."""

    def refuse(cls, filename, *args, **kwargs):
        pytest.fail(f'a checkpoint was read: {filename}')

    monkeypatch.setattr(CheckpointLoader, 'load_checkpoint', classmethod(refuse))


def test_the_folder_holds_these_configs_and_its_metafile_lists_them():
    found = {osp.basename(p) for p in glob.glob(osp.join(MANGO_DIR, '*.py'))}
    assert found == set(TEACHERS.values()) | set(STUDENTS)
    assert sorted(glob.glob(osp.join(MANGO_DIR, '*', '*.py'))) == [
        osp.join(MANGO_DIR, '_base_', name) for name in ('mango_r18w32.py', 'mango_training.py')]
    with open(osp.join(MANGO_DIR, 'metafile.yml'), encoding='utf-8') as f:
        meta = yaml.safe_load(f)
    assert sorted(m['Config'] for m in meta['Models']) == sorted(
        f'configs/mango/{name}' for name in found)
    assert {m['Name'] for m in meta['Models']} == {osp.splitext(name)[0] for name in found}
    assert all(m['Weights'] is None for m in meta['Models'])
    data = {m['Name']: m['Metadata']['Training Data'] for m in meta['Models']}
    assert {name for name, what in data.items() if what == 'Total-Text'} == {
        'mango_r50_totaltext', 'dld_mango_r50_totaltext', 'dld_mango_r50_totaltext_gamma0.3'}
    assert osp.isfile(osp.join(REPO_ROOT, meta['Collections'][0]['README']))


@pytest.mark.parametrize('benchmark', sorted(TEACHERS))
def test_teacher_is_mango_with_the_mask_rcnn_teachers_data_and_schedule(benchmark):
    cfg, mask_rcnn = mango(TEACHERS[benchmark]), load(MASK_RCNN[benchmark][0])
    assert cfg.model.type == 'MANGOSpotter' and cfg.randomness.seed is not None
    for key in ('train_dataloader', 'test_dataloader', 'optim_wrapper'):
        assert cfg[key] == mask_rcnn[key], key
    if benchmark == 'dynamic':
        # Text Perceptron's small teacher's schedule: twice the Mask R-CNN teacher's.
        tp = load('text_perceptron/tp_r18w32_dynamic.py')
        assert (cfg.train_cfg, cfg.param_scheduler) == (tp.train_cfg, tp.param_scheduler)
        assert cfg.train_cfg.max_iters == 2 * mask_rcnn.train_cfg.max_iters
    else:
        assert (cfg.train_cfg, cfg.param_scheduler) == (mask_rcnn.train_cfg,
                                                        mask_rcnn.param_scheduler)
    # The evaluator's, but matching at IoU 0.1 as the paper reports MANGO.
    assert cfg.test_evaluator == dict(mask_rcnn.test_evaluator, iou_thr=0.1)
    assert cfg.model.backbone == mask_rcnn.model.backbone
    assert cfg.model.backbone.out_indices[0] == 0 and cfg.model.featmap_stride == 4
    rec, head = cfg.model.rec_head, cfg.model.det_head
    assert rec.max_seq_len == mask_rcnn.model.roi_head.rec_head.max_seq_len
    assert rec.dictionary == mask_rcnn.model.roi_head.rec_head.dictionary
    # The decoder spells every word the datasets' filter keeps.
    [word_filter] = [t for t in cfg.train_dataloader.dataset.pipeline
                     if t.type == 'FilterSpottingInstances']
    assert word_filter.max_seq_len == rec.max_seq_len
    assert head.num_positions == rec.max_seq_len + 1
    assert head.in_channels == rec.in_channels == cfg.model.neck.out_channels
    # The recogniser reads only the words the evaluator keeps.
    assert (cfg.model.test_cfg.score_thr ==
            cfg.test_evaluator.get('score_thr', METRIC_SCORE_THR))


def test_dynamic_teacher_reads_only_the_words_the_evaluator_keeps():
    cfg = mango(TEACHERS['dynamic'])
    assert cfg.model.test_cfg.score_thr == cfg.test_evaluator.score_thr == 0.5


def test_totaltext_teacher_is_the_paper_setup_with_the_authors_sizes():
    cfg = mango(TEACHERS['totaltext'])
    model = cfg.model
    assert model.backbone.depth == 50
    assert model.backbone.init_cfg == dict(
        type='Pretrained',
        checkpoint='https://download.pytorch.org/models/resnet50-0676ba61.pth')
    assert cfg.train_dataloader.dataset.data_root == 'data/totaltext'
    assert cfg.test_dataloader.dataset.pipeline[1].scale == (3584, 896)
    assert cfg.test_evaluator.iou_thr == 0.1 and cfg.model.test_cfg.score_thr == 0.0
    # The authors' Total-Text sizes: S = 40 on one stride-4 level, four FPN outputs,
    # 256-channel towers with GN(32) and 256-channel kernels; L = 32 characters + END.
    head = model.det_head
    assert model.neck.num_outs == 4 and model.neck.out_channels == 256
    assert (head.num_grid, head.feat_channels, head.kernel_channels, head.num_convs,
            head.num_recog_convs) == (40, 256, 256, 4, 4)
    assert head.norm_cfg == dict(type='GN', num_groups=32, requires_grad=True)
    assert (head.num_positions, model.rec_head.lstm_hidden) == (33, 256)
    assert model.sigma == 0.2 and model.test_cfg.mask_thr == 0.5
    # Its words come from the centre-line branch (the paper's polygons for curved text); the
    # small dynamic-benchmark spotter has none.
    assert model.centreline_head.type == 'MANGOCentrelineHead'
    assert model.test_cfg.instances == 'centreline'
    assert 'centreline_head' not in mango(TEACHERS['dynamic']).model
    # The character attentions' position prior is the small configs' (no character-box
    # pre-training there); the Total-Text head is the authors'.
    assert not head.get('char_position_prior', False)
    small = mango(TEACHERS['dynamic']).model
    assert small.det_head.char_position_prior and small.char_attention_loss_weight == 1.0
    assert small.det_head.num_recog_convs == 2


@pytest.mark.parametrize('name', sorted(STUDENTS))
def test_student_is_the_teacher_with_the_mask_rcnn_dld_settings(name):
    benchmark, gamma = STUDENTS[name]
    cfg, teacher = mango(name), mango(TEACHERS[benchmark])
    mask_rcnn_dld = load(MASK_RCNN[benchmark][1])
    model = cfg.model.to_dict()
    assert model.pop('student') == teacher.model.to_dict()
    teacher_cfg = model.pop('teacher')
    assert (teacher_cfg == f'configs/mango/{TEACHERS[benchmark]}'
            if isinstance(teacher_cfg, str) else teacher_cfg == teacher.model.to_dict())
    assert model.pop('drs_loss')['gamma'] == gamma
    expected = mask_rcnn_dld.model.to_dict()
    for key in ('student', 'teacher', 'drs_loss'):
        expected.pop(key)
    assert model == expected
    for key in ('train_dataloader', 'test_dataloader', 'train_cfg', 'optim_wrapper',
                'param_scheduler', 'custom_hooks'):
        assert cfg[key] == mask_rcnn_dld[key], key
    assert cfg.test_evaluator == dict(mask_rcnn_dld.test_evaluator, iou_thr=0.1)


@pytest.mark.parametrize('benchmark', sorted(TEACHERS))
def test_configs_build(benchmark, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)  # the teacher config path is relative to the repository
    # Building never initialises: the ImageNet weights named by the R-50 init_cfg are not read.
    refuse_checkpoints(monkeypatch)
    teacher = MODELS.build(mango(TEACHERS[benchmark]).model)
    assert isinstance(teacher, MANGOSpotter)
    [student] = [n for n, (b, gamma) in STUDENTS.items() if b == benchmark and gamma == 0.1]
    model = MODELS.build(mango(student).model)
    assert isinstance(model, DLDDistiller) and isinstance(model.student, MANGOSpotter)
    # Same architecture: the student starts as the teacher, no connector for L_roi.
    assert model.roi_align is None
    assert model.student.state_dict().keys() == teacher.state_dict().keys()


def test_totaltext_teacher_trains_from_a_random_init(monkeypatch):
    refuse_checkpoints(monkeypatch)
    cfg = mango(TEACHERS['totaltext'])
    cfg.model.backbone.init_cfg = None  # random init instead of the ImageNet weights
    torch.manual_seed(0)
    spotter = MODELS.build(cfg.model)
    spotter.init_weights()
    data = spotter.data_preprocessor(
        batch(packed_sample([rect(20, 40, 110, 70), rect(120, 80, 180, 110)], ['Text', 'ab'],
                            seed=1)), True)
    losses = spotter(**data, mode='loss')
    assert set(losses) == {'loss_cate', 'loss_mask', 'loss_rec', 'loss_centreline'}
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    # The 40 x 40 grid and the 33 positions of the config reach the head's outputs.
    feats = spotter.extract_feat(data['inputs'])
    maps = spotter.det_head(feats[0])
    assert maps.cate_logits.shape == (1, 40 * 40)
    assert maps.cma_kernels.shape == (1, 40 * 40, 33, 256)
    assert maps.mask_feats.shape == (1, 256, *feats[0].shape[-2:])
