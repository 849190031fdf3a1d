"""The dynamic-resolution benchmark's configs: its teacher and its DLD student agree.

The student cannot inherit the teacher's config (both would bring the demo's bases twice), so it
repeats the teacher's resolution and test-time settings; these tests keep the two in step.
"""
import os.path as osp

import pytest
from helpers import CONFIG_DIR
from mmengine.config import Config

TEACHER = osp.join(CONFIG_DIR, 'demo', 'spotter_r18w32_dynamic.py')
STUDENT = osp.join(CONFIG_DIR, 'demo', 'dld_r18w32_dynamic.py')


@pytest.fixture(scope='module')
def configs():
    return Config.fromfile(TEACHER), Config.fromfile(STUDENT)


def test_student_is_the_teacher_architecture_with_its_test_settings(configs):
    teacher, student = configs
    assert student.model.type == 'DLDDistiller'
    assert student.model.teacher == 'configs/demo/spotter_r18w32_dynamic.py'
    assert student.model.student.to_dict() == teacher.model.to_dict()


@pytest.mark.parametrize('loader', ['train_dataloader', 'test_dataloader'])
def test_student_reads_the_teachers_data_as_the_teacher_does(configs, loader):
    teacher, student = configs
    assert student[loader].dataset.to_dict() == teacher[loader].dataset.to_dict()
    assert student.test_evaluator.to_dict() == teacher.test_evaluator.to_dict()


def test_benchmark_is_s512_with_1500_test_images(configs):
    teacher, _ = configs
    synth = teacher.test_dataloader.dataset.synth_cfg
    assert (synth.img_size, synth.num_test, synth.num_train) == (512, 1500, 3000)
    resizes = [t for t in teacher.test_dataloader.dataset.pipeline if t.type == 'mmocr.Resize']
    assert [tuple(t.scale) for t in resizes] == [(2048, 512)]
    jitter = [t for t in teacher.train_dataloader.dataset.pipeline if t.type == 'RandomResize']
    assert [tuple(t.scale) for t in jitter] == [(2048, 512)]


def test_heads_run_only_on_reported_detections(configs):
    teacher, _ = configs
    # The spotter's test score threshold is the evaluator's: the heads' cost follows the
    # reported detections, and the results are those of a lower threshold.
    assert teacher.model.test_cfg.rcnn.score_thr == teacher.test_evaluator.score_thr == 0.5
    assert teacher.model.test_cfg.rpn.max_per_img == 50
