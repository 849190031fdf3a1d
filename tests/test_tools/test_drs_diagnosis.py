"""tools/analysis_tools/drs_diagnosis.py: per-image L_acc tables, summaries, offline selector
fits, and an end-to-end run on the tiny DLD config."""
import json
import math
import os.path as osp
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from helpers import CONFIG_DIR
from mmengine.config import Config

from mmdld.registry import MODELS

DLD_DEMO = osp.join(CONFIG_DIR, 'demo', 'dld_r18w32_demo.py')
DLD_TINY = osp.join(CONFIG_DIR, 'demo', 'dld_r18w32_demo_tiny.py')
SPOTTER_TINY = osp.join(CONFIG_DIR, 'demo', 'spotter_r18w32_demo_tiny.py')
pytestmark = pytest.mark.usefixtures('single_thread')
SCALES = (0.8, 0.5, 0.3)
COSTS = (0.8, 0.5, 0.3)


@pytest.fixture
def tool(load_tool):
    return load_tool('tools/analysis_tools/drs_diagnosis.py')


def test_per_scale_acc_is_the_mean_step_kl_of_each_image(tool):
    # Image 0: one instance, two steps (the second padding); image 1: no instance.
    teacher = torch.tensor([[[0.5, 0.5], [0.9, 0.1]]]).log()
    student = torch.tensor([[[[0.5, 0.5], [0.1, 0.9]]],
                            [[[0.8, 0.2], [0.1, 0.9]]]]).log()
    valid = torch.tensor([[1., 0.]])
    acc = tool.per_scale_acc(student, teacher, valid, torch.tensor([0]), 2)
    expected = 0.8 * math.log(1.6) + 0.2 * math.log(0.4)
    assert acc.flatten().tolist() == pytest.approx([0.0, expected, 0.0, 0.0], abs=1e-6)


def record(tool, regime, acc, logits, height):
    return tool.ImageRecord(img_path=f'{regime}.jpg', regime=regime, min_height=height,
                            num_words=1, acc=list(acc), logits=list(logits))


def test_summary_argmin_drs_agreement_and_correlation(tool):
    # gamma 0.1: objective = acc + (0.08, 0.05, 0.03).
    records = [
        record(tool, 'large', (0.00, 0.01, 0.02), (0, 1, 2), 30.),   # argmin 0.3 (0.05)
        record(tool, 'large', (0.00, 0.00, 0.10), (0, 1, 0), 25.),   # argmin 0.5 (0.05)
        record(tool, 'small', (0.10, 0.30, 0.60), (1, 0, 0), 8.),    # argmin 0.8 (0.18)
        record(tool, 'small', (0.10, 0.30, 0.60), (0, 1, 0), 9.),    # argmin 0.8, DRS 0.5
    ]
    summary = tool.summarise(records, SCALES, COSTS, 0.1)
    assert summary['by_regime']['large']['argmin'] == {'0.8': 0, '0.5': 1, '0.3': 1}
    assert summary['by_regime']['small']['argmin'] == {'0.8': 2, '0.5': 0, '0.3': 0}
    assert summary['by_regime']['small']['drs'] == {'0.8': 1, '0.5': 1, '0.3': 0}
    assert summary['by_regime']['small']['median_acc'] == [0.1, 0.3, 0.6]
    assert summary['agreement'] == 0.75
    assert summary['objective']['oracle'] == pytest.approx((0.05 + 0.05 + 0.18 + 0.18) / 4)
    assert summary['objective']['drs'] == pytest.approx((0.05 + 0.05 + 0.18 + 0.35) / 4)
    # Fixed 0.8: (0.08 + 0.08 + 0.18 + 0.18) / 4 = 0.13, the best fixed scale.
    assert summary['objective']['best_fixed'] == pytest.approx(0.13)
    assert summary['objective']['best_fixed_scale'] == 0.8
    assert summary['logit_spread']['median'] == 1.0 and summary['logit_spread']['max'] == 2.0
    # Heights 30, 25, 8, 9 against argmin scales 0.3, 0.5, 0.8, 0.8: ranks fully reversed
    # except the tie.
    assert summary['spearman_argmin_height'] == pytest.approx(-0.9486833, abs=1e-6)
    text = tool.format_summary(summary, 'toy')
    assert '| large (2), median | 0.000 | 0.005 | 0.060 |' in text
    assert '| small | 2 | - | - |' in text


def test_share_of_scales_counts_scales_with_ten_percent(tool):
    assert tool.share_of_scales([0] * 18 + [1] * 2, 3) == 2
    assert tool.share_of_scales([0] * 19 + [1], 3) == 1


def test_diagnosis_pipeline_fixes_the_random_resize(tool):
    cfg = Config.fromfile(DLD_DEMO)
    steps = tool.diagnosis_pipeline(cfg)
    assert [s['type'] for s in steps] == [
        'mmdld.LoadImageFromFile', 'mmocr.LoadOCRAnnotations', 'FilterSpottingInstances',
        'mmocr.Resize', 'PolygonsToMasks', 'PackSpottingInputs']
    assert steps[3] == dict(type='mmocr.Resize', scale=(1280, 320), keep_ratio=True)


def test_demo_tau_schedule_and_lr_schedule(tool):
    setting = tool.FitSetting(steps=100)
    assert tool.temperature(setting, 0) == 5.0
    assert tool.temperature(setting, 3) == pytest.approx(5.0 * 0.965)
    assert tool.temperature(tool.FitSetting(steps=600), 23) == pytest.approx(5.0 * 0.965)
    assert tool.temperature(tool.FitSetting(tau='1'), 50) == 1.0
    assert tool.lr_factor(0, 100) == pytest.approx(0.1)
    assert tool.lr_factor(20, 100) == 1.0 and tool.lr_factor(80, 100) == pytest.approx(0.1)


def test_parse_setting_and_its_error(tool):
    setting = tool.parse_setting('losses:5e-3:demo:100', 2)
    assert (setting.mixture, setting.lr, setting.tau, setting.steps, setting.seed) == (
        'losses', 5e-3, 'demo', 100, 2)
    setting = tool.parse_setting('distributions:1e-3:1:600:8:expected', 0)
    assert (setting.batch, setting.estimator) == (8, 'expected')
    message = ("--settings: expected MIXTURE:LR:TAU:STEPS[:BATCH[:ESTIMATOR[:NORM]]] with "
               "MIXTURE in ('distributions', 'losses'), ESTIMATOR in ('gumbel', 'expected', "
               "'argmin') and NORM in ('bn', 'bn-frozen', 'gn'), got {!r}")
    assert tool.parse_setting('losses:1:1:1:2:gumbel:gn', 0).norm == 'gn'
    for bad in ('mean:1:1:1', 'losses:1:1:1:2:sampled', 'losses:1:1:1:2:gumbel:ln'):
        with pytest.raises(ValueError) as info:
            tool.parse_setting(bad, 0)
        assert str(info.value) == message.format(bad)


def synthetic_caches(tool, num, gen):
    """Coarse-textured images read well at every scale, fine-textured ones only at 0.8.

    With the demo's BatchNorm in training mode and batches of 2 the toy selector ends at one
    scale (3 seeds of 3, docs/drs_diagnosis.md), so the fit below keeps BatchNorm in eval mode.
    """
    caches, records = [], []
    stripes = torch.arange(16).remainder(2).float() * 2 - 1
    for i in range(num):
        bright = i % 2 == 0
        fine = stripes.view(1, 1, 16).expand(3, 16, 16)
        coarse = stripes.repeat_interleave(4)[:16].view(1, 16, 1).expand(3, 16, 16)
        image = (coarse if bright else fine).clone()
        image += 0.1 * torch.randn(3, 16, 16, generator=gen)
        teacher = torch.tensor([[0.9, 0.05, 0.05]]).log()
        good, bad = teacher[0], torch.tensor([0.05, 0.9, 0.05]).log()
        rows = [good, bad, bad] if not bright else [good, good, good]
        caches.append(tool.ImageCache(image, torch.stack(rows).unsqueeze(1), teacher))
        acc = [0.0, 0.0, 0.0] if bright else [0.0, 2.5, 2.5]
        records.append(tool.ImageRecord(f'{i}.jpg', 'large' if bright else 'small',
                                        20. if bright else 8., 1, acc, [0., 0., 0.]))
    return caches, records


def test_fit_learns_an_image_dependent_argmin(tool):
    gen = torch.Generator().manual_seed(0)
    train, _ = synthetic_caches(tool, 16, gen)
    test, test_records = synthetic_caches(tool, 8, gen)
    selector_cfg = dict(type='DynamicResolutionSelector', scales=SCALES, channels=(8, 16),
                        input_size=(16, 16))
    setting = tool.FitSetting(mixture='losses', lr=5e-3, tau='1', steps=100, batch=2,
                              norm='bn-frozen')
    selector = tool.fit_selector(selector_cfg, COSTS, 0.1, train, setting)
    result = tool.evaluate_selector(selector, test, test_records, COSTS, 0.1)
    # The argmin: 0.3 for bright, 0.8 for dark images.
    assert result['agreement'] == 1.0
    assert result['hist'] == {'0.8': 4, '0.5': 0, '0.3': 4}
    assert result['objective'] == pytest.approx(result['oracle'])
    assert result['spearman'] == pytest.approx(-1.0)


def test_bn_frozen_keeps_batchnorm_in_eval_mode(tool):
    selector = MODELS.build(dict(type='DynamicResolutionSelector', channels=(8, 16)))
    tool.set_train_mode(selector, 'bn-frozen')
    norms = [m for m in selector.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert selector.training and norms and not any(m.training for m in norms)
    tool.set_train_mode(selector, 'bn')
    assert all(m.training for m in norms)


def test_refuses_a_config_without_selector(tool):
    with pytest.raises(ValueError, match=r'spotter_r18w32_demo_tiny.py: drs_diagnosis needs a '
                       r"DLDDistiller config with a `model.selector`, got model.type "
                       r"'MaskRCNNSpotter'"):
        tool.load_config(SPOTTER_TINY, None)


@pytest.mark.slow
def test_table_end_to_end_on_the_tiny_config(tool, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the tiny data are generated under ./data
    cfg = Config.fromfile(DLD_TINY)
    cfg.model.teacher = SPOTTER_TINY
    checkpoint = str(tmp_path / 'dld.pth')
    torch.save(dict(state_dict=MODELS.build(cfg.model).state_dict(), meta={}), checkpoint)
    options = [f'model.teacher={SPOTTER_TINY}', 'model.scale_costs=[0.6,0.5,0.4,0.3,0.2,0.1]',
               'model.scale_gflops=[6,5,4,3,2,1]', 'model.selector_gflops=0.01']
    summary = tool.main(['table', DLD_TINY, checkpoint, '--split', 'train', '--num-images', '2',
                         '--out', 'diag', '--cfg-options', *options])
    with open(osp.join('diag', 'drs_table_train.json')) as f:
        images = json.load(f)['images']
    assert len(images) == 2 and summary['images'] == 2
    assert summary['costs'] == [0.6, 0.5, 0.4, 0.3, 0.2, 0.1]
    for image in images:
        assert len(image['acc']) == len(image['logits']) == 6
        assert np.all(np.isfinite(image['acc'])) and min(image['acc']) >= 0
        assert image['regime'] in ('large', 'mixed', 'small', 'empty')
    assert osp.isfile(osp.join('diag', 'drs_cache_train.pt'))


def test_choices_of_a_test_run_per_regime(tool):
    table = dict(summary=dict(scales=[0.8, 0.5, 0.3]), images=[
        dict(img_path='data/imgs/test/a.jpg', regime='large', min_height=30.),
        dict(img_path='data/imgs/test/b.jpg', regime='small', min_height=8.),
        dict(img_path='data/imgs/test/c.jpg', regime='large', min_height=20.)])
    run = dict(images=[dict(img_path='imgs/test/a.jpg', scale=0.3),
                       dict(img_path='imgs/test/b.jpg', scale=0.8),
                       dict(img_path='imgs/test/c.jpg', scale=0.5)])
    result = tool.test_run_choices(run, table)
    assert result['hist'] == {'0.8': 1, '0.5': 1, '0.3': 1}
    assert result['by_regime'] == {'large': {'0.8': 0, '0.5': 1, '0.3': 1},
                                   'small': {'0.8': 1, '0.5': 0, '0.3': 0}}
    assert result['mean_scale'] == pytest.approx(1.6 / 3)
    assert result['spearman'] == pytest.approx(-1.0)
    run['images'].append(dict(img_path='imgs/test/d.jpg', scale=0.8))
    with pytest.raises(KeyError, match='image d.jpg of the test run is not in the table'):
        tool.test_run_choices(run, table)


def shaded_images(bright, gen):
    """``[n, 3, 16, 16]``: mean +1 for the bright images (1), -1 for the dark ones, noise 0.5."""
    shade = bright.float().mul(2).sub(1).view(-1, 1, 1, 1)
    return shade + 0.5 * torch.randn(len(bright), 3, 16, 16, generator=gen)


def test_probe_learns_brightness_and_not_shuffled_labels(tool):
    gen = torch.Generator().manual_seed(0)
    train_bright = torch.tensor([i % 2 for i in range(32)])
    test_bright = torch.tensor([int(i % 4 == 0) for i in range(64)])  # 16 bright of 64
    train, test = shaded_images(train_bright, gen), shaded_images(test_bright, gen)
    assert tool.majority_rate(test_bright) == 0.75
    selector_cfg = dict(type='DynamicResolutionSelector', scales=SCALES, channels=(8, 16),
                        input_size=(16, 16))
    selector = tool.train_probe(selector_cfg, train, train_bright, 60, 16, 2e-3, 0)
    assert tool.probe_accuracy(selector, train, train_bright) == 1.0
    assert tool.probe_accuracy(selector, test, test_bright) == 1.0
    # Shuffled labels: a quarter of each shade positive in both sets, so the image says
    # nothing about the label. The probe still memorises its 32 training images, but its
    # held-out answers cannot beat always answering the majority class.
    train_shuffled = torch.tensor([(i // 2) % 2 for i in range(32)])
    test_shuffled = torch.tensor([int((i // 4) % 4 == 0) for i in range(64)])
    for labels, bright in ((train_shuffled, train_bright), (test_shuffled, test_bright)):
        assert labels[bright == 1].float().mean() == labels[bright == 0].float().mean()
    assert tool.majority_rate(test_shuffled) == 0.75
    selector = tool.train_probe(selector_cfg, train, train_shuffled, 60, 16, 2e-3, 0)
    assert tool.probe_accuracy(selector, train, train_shuffled) == 1.0
    assert tool.probe_accuracy(selector, test, test_shuffled) < 0.75


def test_probe_labels_from_the_annotation_regimes(tool, tmp_path):
    records = [dict(img_path='imgs/a.jpg', regime='large'),
               dict(img_path='imgs/b.jpg', regime='mixed'),
               dict(img_path='imgs/c.jpg', regime='empty'),
               dict(img_path='imgs/d.jpg', regime='large'),
               dict(img_path='imgs/e.jpg')]
    ann_file = tmp_path / 'ann.json'
    ann_file.write_text(json.dumps(dict(data_list=records)))
    loader = SimpleNamespace(dataset=SimpleNamespace(ann_file=str(ann_file), data_root='data'))
    regimes = tool.regimes_of(loader)
    paths = [f'data/imgs/{n}.jpg' for n in 'abcd']
    assert tool.regime_labels(paths, regimes, 'large').tolist() == [1, 0, 0, 1]
    assert tool.regime_labels(paths, regimes, 'empty').tolist() == [0, 0, 1, 0]
    assert tool.majority_rate(tool.regime_labels(paths[:3], regimes, 'large')) == pytest.approx(
        2 / 3)
    with pytest.raises(ValueError, match=r'probe: image data/imgs/e.jpg has no `regime` in its '
                       'annotation file'):
        tool.regime_labels(paths + ['data/imgs/e.jpg'], regimes, 'large')


def test_probe_end_to_end_on_the_tiny_config(tool, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the tiny data are generated under ./data
    result = tool.main(['probe', DLD_TINY, '--train-images', '0', '--test-images', '2',
                        '--steps', '2', '--batch-size', '2', '--seed', '3',
                        '--out', 'diag/probe.json',
                        '--cfg-options', 'model.selector.input_size=(32,32)'])
    with open(osp.join('diag', 'probe.json')) as f:
        written = json.load(f)
    assert written == json.loads(json.dumps(result))
    assert set(written) == {'settings', 'train_accuracy', 'test_accuracy', 'test_majority_rate',
                            'images', 'seconds'}
    assert written['settings'] == dict(
        config=DLD_TINY, cfg_options={'model.selector.input_size': [32, 32]},
        input_size=[32, 32], train_images=0, test_images=2, steps=2, batch_size=2, lr=2e-3,
        seed=3, positive_regime='large')
    counts = {}
    for split in ('train', 'test'):
        with open(osp.join('data', 'synthetic_demo_tiny', f'textspotting_{split}.json')) as f:
            regimes = [d['regime'] for d in json.load(f)['data_list']]
        large = regimes.count('large')
        counts[split] = {'large': large, 'not large': len(regimes) - large}
    # All 4 training images (--train-images 0), both test images.
    assert written['images'] == counts and sum(counts['train'].values()) == 4
    test_large = counts['test']['large'] / 2
    assert written['test_majority_rate'] == max(test_large, 1 - test_large)
    for key in ('train_accuracy', 'test_accuracy'):
        assert written[key] in ((0.0, 0.25, 0.5, 0.75, 1.0) if key[:5] == 'train'
                                else (0.0, 0.5, 1.0))
