"""The Text Perceptron configs (configs/text_perceptron/): they build, the students are the
teacher's architecture with the distiller settings of the Mask R-CNN configs they mirror, and the
small teacher reads the dynamic benchmark as the Mask R-CNN benchmark teacher does."""
import argparse
import glob
import os.path as osp

import pytest
from helpers import CONFIG_DIR, REPO_ROOT
from mmengine.config import Config, DictAction

from mmdld.models.distillers import DLDDistiller
from mmdld.models.text_perceptron import TextPerceptronSpotter
from mmdld.registry import MODELS

TP_DIR = osp.join(CONFIG_DIR, 'text_perceptron')
TEACHERS = {'dynamic': 'tp_r18w32_dynamic.py', 'totaltext': 'tp_r50_totaltext.py'}
STUDENTS = {  # config -> (teacher, gamma)
    'dld_tp_r18w32_dynamic.py': ('dynamic', 0.1),
    'dld_tp_r18w32_dynamic_gamma0.3.py': ('dynamic', 0.3),
    'dld_tp_r50_totaltext.py': ('totaltext', 0.1),
    'dld_tp_r50_totaltext_gamma0.3.py': ('totaltext', 0.3),
}
#: The Mask R-CNN configs that the Text Perceptron ones take their data and DLD settings from.
MASK_RCNN = {
    'dynamic': ('demo/spotter_r18w32_dynamic.py', 'demo/dld_r18w32_dynamic.py'),
    'totaltext': ('spotter/maskrcnn_r50_fpn_spotter_totaltext.py', 'dld/dld_r50_totaltext.py'),
}


def load(name: str) -> Config:
    return Config.fromfile(osp.join(CONFIG_DIR, name))


def tp(name: str) -> Config:
    return load(osp.join('text_perceptron', name))


def test_the_folder_holds_these_configs():
    found = {osp.relpath(p, TP_DIR) for p in glob.glob(osp.join(TP_DIR, '*.py'))}
    assert glob.glob(osp.join(TP_DIR, '*', '*.py')) == [osp.join(TP_DIR, '_base_', 'tp_r18w32.py')]
    assert found == set(TEACHERS.values()) | set(STUDENTS)


@pytest.mark.parametrize('benchmark', sorted(TEACHERS))
def test_teacher_is_text_perceptron_with_the_mask_rcnn_teachers_data_and_schedule(benchmark):
    cfg, mask_rcnn = tp(TEACHERS[benchmark]), load(MASK_RCNN[benchmark][0])
    assert cfg.model.type == 'TextPerceptronSpotter'
    assert cfg.randomness.seed is not None
    for key in ('train_dataloader', 'test_dataloader', 'test_evaluator', 'optim_wrapper'):
        assert cfg[key] == mask_rcnn[key], key
    if benchmark == 'dynamic':
        # Twice the Mask R-CNN teacher's schedule: at 2,500 iterations it read 65% of the GT words.
        assert cfg.train_cfg == dict(mask_rcnn.train_cfg,
                                     max_iters=2 * mask_rcnn.train_cfg.max_iters)
        warmup, steps = mask_rcnn.param_scheduler
        assert cfg.param_scheduler == [
            warmup, dict(steps, end=2 * steps.end, milestones=[2 * m for m in steps.milestones])]
    else:
        assert cfg.train_cfg == mask_rcnn.train_cfg
        assert cfg.param_scheduler == mask_rcnn.param_scheduler
    # The recogniser and the backbone are the Mask R-CNN spotter's; one stride-4 map is read.
    assert cfg.model.rec_head == mask_rcnn.model.roi_head.rec_head
    assert cfg.model.backbone == mask_rcnn.model.backbone
    assert cfg.model.backbone.out_indices[0] == 0 and cfg.model.featmap_stride == 4
    assert cfg.model.neck.num_outs == 4
    assert cfg.model.shape_transform.output_size == cfg.model.rec_head.roi_size
    assert (cfg.model.shape_transform.num_points_per_side ==
            cfg.model.det_head.num_points_per_side == 7)


def test_dynamic_teacher_reads_the_benchmark():
    cfg = tp(TEACHERS['dynamic'])
    for loader in ('train_dataloader', 'test_dataloader'):
        dataset = cfg[loader].dataset
        assert dataset.type == 'SyntheticSpottingDataset'
        assert dataset.data_root == 'data/synthetic_dynamic'
        synth = dataset.synth_cfg
        assert (synth.img_size, synth.num_train, synth.num_test) == (512, 3000, 1500)
    resize = [t for t in cfg.test_dataloader.dataset.pipeline if t.type == 'mmocr.Resize']
    assert [tuple(t.scale) for t in resize] == [(2048, 512)]
    assert cfg.test_evaluator.data_root == 'data/synthetic_dynamic'
    # The recogniser reads only the words the evaluator keeps.
    assert cfg.model.test_cfg.score_thr == cfg.test_evaluator.score_thr == 0.5


def test_totaltext_teacher_is_the_paper_setup():
    cfg = tp(TEACHERS['totaltext'])
    assert cfg.model.backbone.depth == 50
    assert cfg.model.backbone.init_cfg == dict(
        type='Pretrained',
        checkpoint='https://download.pytorch.org/models/resnet50-0676ba61.pth')
    assert cfg.train_dataloader.dataset.data_root == 'data/totaltext'
    assert cfg.test_dataloader.dataset.pipeline[1].scale == (3584, 896)
    assert cfg.model.rec_head.in_channels == cfg.model.det_head.in_channels == 256


@pytest.mark.parametrize('name', sorted(STUDENTS))
def test_student_is_the_teacher_with_the_mask_rcnn_dld_settings(name):
    benchmark, gamma = STUDENTS[name]
    cfg, teacher = tp(name), tp(TEACHERS[benchmark])
    mask_rcnn_dld = load(MASK_RCNN[benchmark][1])
    model = cfg.model.to_dict()
    assert model.pop('student') == teacher.model.to_dict()
    teacher_cfg = model.pop('teacher')
    assert (teacher_cfg == f'configs/text_perceptron/{TEACHERS[benchmark]}'
            if isinstance(teacher_cfg, str) else teacher_cfg == teacher.model.to_dict())
    assert model.pop('drs_loss')['gamma'] == gamma
    expected = mask_rcnn_dld.model.to_dict()
    for key in ('student', 'teacher', 'drs_loss'):
        expected.pop(key)
    assert model == expected
    for key in ('train_dataloader', 'test_dataloader', 'test_evaluator', 'train_cfg',
                'optim_wrapper', 'param_scheduler', 'custom_hooks'):
        assert cfg[key] == mask_rcnn_dld[key], key


@pytest.mark.slow
@pytest.mark.parametrize('name', sorted(STUDENTS))
def test_configs_build(name, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)  # the teacher config path is relative to the repository
    benchmark, _ = STUDENTS[name]
    teacher = MODELS.build(tp(TEACHERS[benchmark]).model)
    assert isinstance(teacher, TextPerceptronSpotter)
    model = MODELS.build(tp(name).model)
    assert isinstance(model, DLDDistiller) and isinstance(model.student, TextPerceptronSpotter)
    # Same architecture: the student starts as the teacher, no connector for L_roi.
    assert model.roi_align is None
    assert model.student.state_dict().keys() == teacher.state_dict().keys()


@pytest.mark.parametrize('short_side, benchmark', [(256, 'dynamic'), (448, 'totaltext')])
def test_vanilla_is_the_teacher_with_a_smaller_test_resize(short_side, benchmark):
    # The documented Vanilla command: tools/test.py CONFIG CKPT --cfg-options <this>.
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(
        ['--cfg-options', f'test_dataloader.dataset.pipeline.1.scale=({4 * short_side},'
         f'{short_side})'])
    cfg = tp(TEACHERS[benchmark])
    cfg.merge_from_dict(args.cfg_options)
    pipeline = cfg.test_dataloader.dataset.pipeline
    assert [t.type for t in pipeline] == ['mmdld.LoadImageFromFile', 'mmocr.Resize',
                                          'mmocr.LoadOCRAnnotations', 'PackSpottingInputs']
    assert pipeline[1].scale == (4 * short_side, short_side)
    assert pipeline[1].keep_ratio
