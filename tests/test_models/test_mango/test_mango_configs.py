"""The MANGO configs (configs/mango/): they build, the teacher reads the dynamic benchmark as the
Mask R-CNN and Text Perceptron teachers do, and the students are the teacher's architecture with
the distiller settings of the Mask R-CNN configs they mirror."""
import glob
import os.path as osp

import pytest
import yaml
from helpers import CONFIG_DIR, REPO_ROOT
from mmengine.config import Config

from mmdld.models.distillers import DLDDistiller
from mmdld.models.mango import MANGOSpotter
from mmdld.registry import MODELS

MANGO_DIR = osp.join(CONFIG_DIR, 'mango')
TEACHER = 'mango_r18w32_dynamic.py'
STUDENTS = {'dld_mango_r18w32_dynamic.py': 0.1, 'dld_mango_r18w32_dynamic_gamma0.3.py': 0.3}
MASK_RCNN = ('demo/spotter_r18w32_dynamic.py', 'demo/dld_r18w32_dynamic.py')


def load(name: str) -> Config:
    return Config.fromfile(osp.join(CONFIG_DIR, name))


def test_the_folder_holds_these_configs_and_its_metafile_lists_them():
    found = {osp.basename(p) for p in glob.glob(osp.join(MANGO_DIR, '*.py'))}
    assert found == {TEACHER} | set(STUDENTS)
    assert glob.glob(osp.join(MANGO_DIR, '*', '*.py')) == [
        osp.join(MANGO_DIR, '_base_', 'mango_r18w32.py')]
    with open(osp.join(MANGO_DIR, 'metafile.yml'), encoding='utf-8') as f:
        meta = yaml.safe_load(f)
    assert sorted(m['Config'] for m in meta['Models']) == sorted(
        f'configs/mango/{name}' for name in found)
    assert all(m['Weights'] is None for m in meta['Models'])
    assert osp.isfile(osp.join(REPO_ROOT, meta['Collections'][0]['README']))


def test_teacher_is_mango_with_the_mask_rcnn_teachers_data_and_schedule():
    cfg, mask_rcnn = load(f'mango/{TEACHER}'), load(MASK_RCNN[0])
    assert cfg.model.type == 'MANGOSpotter' and cfg.randomness.seed is not None
    for key in ('train_dataloader', 'test_dataloader', 'train_cfg', 'optim_wrapper',
                'param_scheduler'):
        assert cfg[key] == mask_rcnn[key], key
    # The evaluator's, but matching at IoU 0.1 as the paper reports MANGO.
    assert cfg.test_evaluator == dict(mask_rcnn.test_evaluator, iou_thr=0.1)
    assert cfg.model.backbone == mask_rcnn.model.backbone
    assert cfg.model.backbone.out_indices[0] == 0 and cfg.model.featmap_stride == 4
    rec, head = cfg.model.rec_head, cfg.model.det_head
    assert rec.max_seq_len == mask_rcnn.model.roi_head.rec_head.max_seq_len
    assert rec.dictionary == mask_rcnn.model.roi_head.rec_head.dictionary
    assert head.num_positions == rec.max_seq_len + 1
    assert head.in_channels == rec.in_channels == cfg.model.neck.out_channels
    # The recogniser reads only the words the evaluator keeps.
    assert cfg.model.test_cfg.score_thr == cfg.test_evaluator.score_thr == 0.5


@pytest.mark.parametrize('name', sorted(STUDENTS))
def test_student_is_the_teacher_with_the_mask_rcnn_dld_settings(name):
    cfg, teacher, mask_rcnn_dld = load(f'mango/{name}'), load(f'mango/{TEACHER}'), load(
        MASK_RCNN[1])
    model = cfg.model.to_dict()
    assert model.pop('student') == teacher.model.to_dict()
    assert model.pop('teacher') == f'configs/mango/{TEACHER}'
    assert model.pop('drs_loss')['gamma'] == STUDENTS[name]
    expected = mask_rcnn_dld.model.to_dict()
    for key in ('student', 'teacher', 'drs_loss'):
        expected.pop(key)
    assert model == expected
    for key in ('train_dataloader', 'test_dataloader', 'train_cfg', 'optim_wrapper',
                'param_scheduler', 'custom_hooks'):
        assert cfg[key] == mask_rcnn_dld[key], key
    assert cfg.test_evaluator == dict(mask_rcnn_dld.test_evaluator, iou_thr=0.1)


def test_configs_build(monkeypatch):
    monkeypatch.chdir(REPO_ROOT)  # the teacher config path is relative to the repository
    teacher = MODELS.build(load(f'mango/{TEACHER}').model)
    assert isinstance(teacher, MANGOSpotter)
    model = MODELS.build(load('mango/dld_mango_r18w32_dynamic.py').model)
    assert isinstance(model, DLDDistiller) and isinstance(model.student, MANGOSpotter)
    # Same architecture: the student starts as the teacher, no connector for L_roi.
    assert model.roi_align is None
    assert model.student.state_dict().keys() == teacher.state_dict().keys()
