"""Tests of the synthetic text-spotting generator and SyntheticSpottingDataset."""
import filecmp
import json
import os
import os.path as osp

import numpy as np
import pytest
from helpers import CONFIG_DIR, TOOLS_DIR
from PIL import Image, ImageDraw

from mmdld.datasets import SyntheticSpottingDataset
from mmdld.datasets.synthesis import (CHAR_HEIGHTS, GLYPH_ALPHA_MIN, PRINTABLE_ASCII,
                                      WordSampler, ensure_dataset, generate_dataset,
                                      list_fonts, load_word_list, read_lexicon, render_sample,
                                      resolve_synth_cfg)
from mmdld.datasets.synthesis.fonts import cap_height_ratio
from mmdld.datasets.synthesis.text_render import Baseline, render_curved, render_straight
from mmdld.registry import DATASETS

SMALL_CFG = dict(num_train=6, num_test=5, img_size=256, seed=3)


@pytest.fixture(scope='module')
def small_set(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('synth') / 'set')
    summary = generate_dataset(out, workers=1, **SMALL_CFG)
    return out, summary


def _load(path):
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def _tree(root):
    files = []
    for dirpath, _, names in os.walk(root):
        files += [osp.relpath(osp.join(dirpath, n), root) for n in names]
    return sorted(files)


def _poly_mask(poly, shape):
    """Rasterise with PIL (independent of the generator's OpenCV rasteriser)."""
    img = Image.new('L', (shape[1], shape[0]), 0)
    ImageDraw.Draw(img).polygon([tuple(map(float, p)) for p in poly], fill=1, outline=1)
    return np.asarray(img).astype(bool)


def _signed_area(poly):
    x, y = poly[:, 0].astype(float), poly[:, 1].astype(float)
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


# --------------------------------------------------------------------------- words and fonts


def test_word_list_is_printable_ascii_and_large():
    words = load_word_list()
    assert len(words) == 6000
    assert len(set(words)) == len(words)
    assert set(''.join(words)) <= set(PRINTABLE_ASCII[1:])
    assert words[:3] == ('the', 'and', 'for')  # frequency order


def test_word_list_rejects_non_ascii(tmp_path):
    path = tmp_path / 'words.txt'
    path.write_text('# comment\ncafe\nnaïve\n', encoding='utf-8')
    with pytest.raises(ValueError, match=r'words.txt:3: word .naïve.'):
        load_word_list(str(path))


def test_word_sampler_mix():
    rng = np.random.default_rng(0)
    sampler = WordSampler()
    tokens = [sampler.sample(rng) for _ in range(3000)]
    joined = ''.join(tokens)
    assert set(joined) <= set(PRINTABLE_ASCII[1:])
    assert '###' not in tokens
    frac = lambda pred: np.mean([pred(t) for t in tokens])  # noqa: E731
    # Expected shares: dictionary words 0.8 (lower 0.5, Capitalised 0.3, UPPER 0.2; 10% with
    # punctuation), numbers 0.12, codes 0.08.
    assert frac(lambda t: t.isalpha() and t.islower()) == pytest.approx(0.8 * 0.5 * 0.9, abs=0.04)
    assert frac(lambda t: t.isalpha() and t[0].isupper() and t[1:].islower()) == pytest.approx(
        0.8 * 0.3 * 0.9, abs=0.04)
    assert frac(lambda t: t.isalpha() and t.isupper()) == pytest.approx(
        0.8 * 0.2 * 0.9, abs=0.04)
    # Digits: every number token, and ~60% of the codes (letters, digits, symbols).
    assert frac(lambda t: any(c.isdigit() for c in t)) == pytest.approx(
        0.12 + 0.08 * 0.6, abs=0.05)
    # Every printable character shows up somewhere (the recogniser's 94 non-space classes).
    assert len(set(joined)) >= 90


def test_fonts_cover_several_families():
    names = [osp.basename(p) for p in list_fonts()]
    assert {'DejaVuSans.ttf', 'DejaVuSerif.ttf', 'DejaVuSansMono.ttf'} <= set(names)
    assert any('Bold' in n for n in names) and any('Oblique' in n for n in names)
    for path in list_fonts():
        assert 0.55 < cap_height_ratio(path) < 0.85


# --------------------------------------------------------------------------- word rendering


@pytest.mark.parametrize('angle', [0.0, 30.0, -55.0])
def test_straight_word_polygon_is_tight_box(angle):
    from mmdld.datasets.synthesis.fonts import get_font
    font = get_font(list_fonts()[0], 40)
    patch = render_straight(font, 'Hello', angle=angle, margin=3)
    assert patch.polygon.shape == (4, 2)
    assert _signed_area(patch.polygon) > 0  # clockwise on screen from the top-left corner
    ink = patch.alpha >= GLYPH_ALPHA_MIN
    assert not np.any(ink & ~_poly_mask(patch.polygon, ink.shape))
    # Side lengths: width along the text ~ ink extent + 2 margins, height ~ text height.
    width = np.linalg.norm(patch.polygon[1] - patch.polygon[0])
    height = np.linalg.norm(patch.polygon[3] - patch.polygon[0])
    assert font.getlength('Hello') - 2 < width < font.getlength('Hello') + 10
    assert 28 < height < 40  # 'Hello' spans cap height (29 px) + margins, no descender
    if angle == 0:
        ys, xs = np.nonzero(ink)
        assert patch.polygon[:, 0].min() >= xs.min() - 4
        assert patch.polygon[:, 0].max() <= xs.max() + 4
        assert patch.polygon[:, 1].min() >= ys.min() - 4
        assert patch.polygon[:, 1].max() <= ys.max() + 4
    else:  # the box follows the text direction
        direction = patch.polygon[1] - patch.polygon[0]
        assert np.degrees(np.arctan2(-direction[1], direction[0])) == pytest.approx(angle, abs=2)


@pytest.mark.parametrize('kind', ['arc_up', 'arc_down', 'sine'])
def test_curved_word_polygon_has_2n_points_and_encloses_ink(kind):
    from mmdld.datasets.synthesis.fonts import get_font
    font = get_font(list_fonts()[1], 36)
    length = font.getlength('Curvature')
    if kind == 'sine':
        base = Baseline.sine(length, amplitude=12, wavelength=length, phase=0.3)
    else:
        base = Baseline.arc(length, (1 if kind == 'arc_down' else -1) / 150)
    patch = render_curved(font, 'Curvature', base, margin=3, n_points=7)
    assert patch.polygon.shape == (14, 2)
    ink = patch.alpha >= GLYPH_ALPHA_MIN
    assert not np.any(ink & ~_poly_mask(patch.polygon, ink.shape))
    top, bottom = patch.polygon[:7], patch.polygon[7:][::-1]
    assert np.all(np.diff(top[:, 0]) > 0)  # top edge left to right, bottom edge right to left
    assert np.all(np.diff(bottom[:, 0]) > 0)
    assert np.all(bottom[:, 1] > top[:, 1])
    # A curved word is not a rectangle: the edge midpoints leave the chord by many pixels.
    chord_mid = (top[0, 1] + top[-1, 1]) / 2
    assert abs(top[3, 1] - chord_mid) > 5
    # Tight: the ink fills a fair share of the polygon.
    assert ink.sum() > 0.2 * _poly_mask(patch.polygon, ink.shape).sum()


def test_curved_word_longer_than_baseline_is_an_error():
    from mmdld.datasets.synthesis.fonts import get_font
    font = get_font(list_fonts()[0], 30)
    with pytest.raises(ValueError, match='does not fit'):
        render_curved(font, 'extraordinarily', Baseline.arc(40, 0.001))


# --------------------------------------------------------------------------- whole images


def test_render_sample_deterministic_and_seed_dependent():
    a = render_sample(5, 'train', 7, img_size=320)
    b = render_sample(5, 'train', 7, img_size=320)
    c = render_sample(6, 'train', 7, img_size=320)
    d = render_sample(5, 'test', 7, img_size=320)
    assert np.array_equal(a.image, b.image)
    assert [i.to_json() for i in a.instances] == [i.to_json() for i in b.instances]
    assert not np.array_equal(a.image, c.image) or a.image.shape != c.image.shape
    assert a.image.shape != d.image.shape or not np.array_equal(a.image, d.image)


def test_polygons_inside_image_and_enclose_rendered_glyphs():
    n_curved = 0
    for index in range(12):
        sample = render_sample(0, 'train', index, img_size=640, keep_masks=True)
        h, w = sample.image.shape[:2]
        assert len(sample.masks) == len(sample.instances)
        for inst, (x, y, alpha) in zip(sample.instances, sample.masks):
            poly = inst.polygon
            assert poly[:, 0].min() >= 0 and poly[:, 0].max() <= w - 1
            assert poly[:, 1].min() >= 0 and poly[:, 1].max() <= h - 1
            glyphs = np.zeros((h, w), bool)
            glyphs[y:y + alpha.shape[0], x:x + alpha.shape[1]] = alpha >= GLYPH_ALPHA_MIN
            assert glyphs.any(), inst
            assert not np.any(glyphs & ~_poly_mask(poly, (h, w))), (index, inst.word)
            assert _signed_area(poly) > 0
            if inst.shape == 'curved':
                n_curved += 1
                assert len(poly) == 14
            else:
                assert len(poly) == 4
            if inst.shape == 'horizontal':
                assert poly[0, 1] == poly[1, 1] and poly[0, 0] == poly[3, 0]
    assert n_curved >= 3


def _find(regime, img_size=640, limit=200):
    for index in range(limit):
        sample = render_sample(1, 'train', index, img_size=img_size)
        if sample.regime == regime:
            return sample
    raise AssertionError(f'no {regime} image in {limit}')


@pytest.mark.parametrize('img_size', [320, 960])
def test_text_size_regimes(img_size):
    # Char heights are absolute pixels: the same ranges whatever the image size.
    large = _find('large', img_size)
    legible = [i for i in large.instances if not i.ignore]
    assert legible and min(i.char_height for i in legible) >= CHAR_HEIGHTS['large'][0]
    assert max(i.char_height for i in legible) <= min(64, 0.15 * img_size)  # fits the image
    small = _find('small', img_size)
    legible = [i for i in small.instances if not i.ignore]
    assert len(legible) >= 3
    assert all(8 <= i.char_height <= 14 for i in legible)
    mixed = _find('mixed', img_size)
    heights = [i.char_height for i in mixed.instances if not i.ignore]
    assert min(heights) <= 14 and max(heights) >= 28
    # char_height is what was drawn: a horizontal word's box is at least that tall.
    for inst in large.instances + small.instances:
        if inst.shape == 'horizontal' and not inst.ignore:
            box_h = inst.polygon[:, 1].max() - inst.polygon[:, 1].min()
            assert inst.char_height - 1 <= box_h <= 2.2 * inst.char_height + 12


def test_empty_regime_and_regime_probs_validation():
    sample = render_sample(0, 'train', 0, img_size=256, regime_probs={'empty': 1.0})
    assert sample.regime == 'empty' and sample.instances == []
    with pytest.raises(ValueError, match=r"unknown regimes \['huge'\]"):
        render_sample(0, 'train', 0, regime_probs={'huge': 1.0})


def test_dont_care_and_regime_proportions():
    n_inst = n_ignored = 0
    regimes = []
    for index in range(120):
        sample = render_sample(2, 'test', index, img_size=192)
        regimes.append(sample.regime)
        for inst in sample.instances:
            n_inst += 1
            if inst.ignore:
                n_ignored += 1
                assert inst.text == '###' and inst.word != '###'
            else:
                assert inst.text == inst.word != '###'
    assert 0.04 < n_ignored / n_inst < 0.13
    counts = {r: regimes.count(r) for r in ('large', 'small', 'mixed', 'empty')}
    assert counts['large'] > 25 and counts['small'] > 20 and counts['mixed'] > 20
    assert counts['empty'] >= 1 and counts['empty'] <= 15


# --------------------------------------------------------------------------- data set files


def test_generate_dataset_layout_and_json(small_set):
    out, summary = small_set
    assert summary['num_images'] == {'train': 6, 'test': 5}
    for split, n in (('train', 6), ('test', 5)):
        ann = _load(osp.join(out, f'textspotting_{split}.json'))
        assert ann['metainfo'] == {'dataset_type': 'TextSpottingDataset',
                                   'task_name': 'textspotting',
                                   'category': [{'id': 0, 'name': 'text'}]}
        assert [r['img_path'] for r in ann['data_list']] == [
            f'imgs/{split}/{i:06d}.jpg' for i in range(n)]
        for rec in ann['data_list']:
            with Image.open(osp.join(out, rec['img_path'])) as img:
                assert img.size == (rec['width'], rec['height']) and img.format == 'JPEG'
            for inst in rec['instances']:
                assert list(inst) == ['polygon', 'bbox', 'bbox_label', 'ignore', 'text']
                xs, ys = inst['polygon'][0::2], inst['polygon'][1::2]
                assert inst['bbox'] == [min(xs), min(ys), max(xs), max(ys)]
                assert inst['bbox_label'] == 0 and len(xs) in (4, 14)
    stored = _load(osp.join(out, 'synth_cfg.json'))
    assert stored == resolve_synth_cfg(SMALL_CFG)


def test_generate_dataset_byte_identical_for_any_workers_and_seed_dependent(
        tmp_path, small_set):
    out, _ = small_set
    again = str(tmp_path / 'again')
    generate_dataset(again, workers=2, **SMALL_CFG)
    files = _tree(out)
    assert files == _tree(again) and len(files) == 6 + 5 + 2 + 1 + 3 + 5
    match, mismatch, errors = filecmp.cmpfiles(out, again, files, shallow=False)
    assert mismatch == [] and errors == []
    other = str(tmp_path / 'other')
    generate_dataset(other, workers=1, **dict(SMALL_CFG, seed=4))
    for name in ('textspotting_train.json', 'imgs/train/000000.jpg', 'imgs/test/000001.jpg'):
        assert not filecmp.cmp(osp.join(out, name), osp.join(other, name), shallow=False)


def test_lexicons(small_set):
    out, _ = small_set
    test = _load(osp.join(out, 'textspotting_test.json'))['data_list']
    words = load_word_list()
    all_gt = set()
    for rec in test:
        gt = {i['text'] for i in rec['instances'] if not i['ignore']}
        all_gt |= gt
        stem = osp.splitext(osp.basename(rec['img_path']))[0]
        strong = read_lexicon(osp.join(out, 'lexicons', 'strong', f'{stem}.txt'))
        assert len(strong) == 100 == len({w.lower() for w in strong})
        assert gt <= set(strong) and '###' not in strong
        assert set(strong) - gt <= set(words)
        assert strong == sorted(strong, key=lambda w: (w.lower(), w))
    weak = read_lexicon(osp.join(out, 'lexicons', 'weak.txt'))
    assert set(weak) == all_gt and len(weak) == len(all_gt)
    assert read_lexicon(osp.join(out, 'lexicons', 'full.txt')) == weak
    assert read_lexicon(osp.join(out, 'lexicons', 'generic.txt')) == list(words)
    with open(osp.join(out, 'lexicons', 'weak.txt'), 'rb') as f:
        raw = f.read()
    assert raw.endswith(b'\n') and b'\r' not in raw


def test_resolve_synth_cfg_errors():
    assert resolve_synth_cfg({'workers': 4}) == resolve_synth_cfg(None)
    with pytest.raises(ValueError, match=r"unknown keys \['num_val'\]"):
        resolve_synth_cfg({'num_val': 3})
    with pytest.raises(ValueError, match='synth_cfg.img_size must be an integer >= 64'):
        resolve_synth_cfg({'img_size': (320, 480)})
    with pytest.raises(ValueError, match='synth_cfg.num_train'):
        resolve_synth_cfg({'num_train': -1})



def test_text_style_keys_change_words_shapes_and_counts():
    """The demo's easier text: lower-case frequent words, chosen shapes, more words per image."""
    vocab = [w for w in load_word_list() if w.isalpha()][:50]
    style = dict(vocab_size=50, text_mix='lowercase_words',
                 shape_probs={'horizontal': 1.0}, words_per_image={'large': (3, 3)})
    counts, texts = [], []
    for index in range(8):
        sample = render_sample(4, 'train', index, img_size=320, regime_probs={'large': 1.0},
                               **style)
        counts.append(len(sample.instances))
        for inst in sample.instances:
            assert inst.shape == 'horizontal'
            assert inst.word in vocab and inst.word == inst.word.lower()
            texts.append(inst.text)
    # Three words are planned per image; a word that does not fit is dropped, never added.
    assert max(counts) == 3 and min(counts) >= 1
    assert len(set(t for t in texts if t != '###')) > 5
    # The defaults draw from the whole list, in every case, with numbers and codes.
    default_words = [i.text for k in range(8)
                     for i in render_sample(4, 'train', k, img_size=320).instances]
    assert any(w != w.lower() or not w.isalpha() for w in default_words if w != '###')


def test_text_style_keys_are_validated_and_resolved():
    cfg = resolve_synth_cfg({'shape_probs': {'horizontal': 3, 'curved': 1},
                             'words_per_image': {'mixed': (8, 14)}})
    assert cfg['shape_probs'] == {'horizontal': 0.75, 'rotated': 0.0, 'curved': 0.25}
    assert cfg['words_per_image']['mixed'] == [8, 14]
    assert cfg['words_per_image']['large'] == [1, 6]  # the default is kept
    # The stored synth_cfg.json must compare equal to the resolved config.
    assert json.loads(json.dumps(cfg)) == cfg
    with pytest.raises(ValueError, match=r"synth_cfg.shape_probs: unknown shapes \['wavy'\]"):
        resolve_synth_cfg({'shape_probs': {'wavy': 1.0}})
    with pytest.raises(ValueError, match='synth_cfg.words_per_image.mixed'):
        resolve_synth_cfg({'words_per_image': {'mixed': (1, 4)}})
    with pytest.raises(ValueError, match='synth_cfg.vocab_size'):
        resolve_synth_cfg({'vocab_size': 0})
    with pytest.raises(ValueError, match="synth_cfg.text_mix must be one of"):
        resolve_synth_cfg({'text_mix': 'upper'})

# --------------------------------------------------------------------------- loading


def test_loads_through_mmocr_ocrdataset(small_set):
    from mmocr.datasets import OCRDataset
    from mmocr.datasets.transforms import LoadImageFromFile, LoadOCRAnnotations
    out, _ = small_set
    dataset = OCRDataset(
        data_root=out, ann_file='textspotting_test.json', data_prefix=dict(img_path=''),
        pipeline=[LoadImageFromFile(),
                  LoadOCRAnnotations(with_polygon=True, with_bbox=True, with_label=True,
                                     with_text=True)])
    ann = _load(osp.join(out, 'textspotting_test.json'))['data_list']
    assert len(dataset) == len(ann)
    for i, rec in enumerate(ann):
        item = dataset[i]
        assert item['img'].shape == (rec['height'], rec['width'], 3)
        assert item['gt_texts'] == [inst['text'] for inst in rec['instances']]
        assert [p.astype(int).tolist() for p in item['gt_polygons']] == [
            inst['polygon'] for inst in rec['instances']]
        assert item['gt_ignored'].tolist() == [inst['ignore'] for inst in rec['instances']]


def test_synthetic_dataset_generates_once_and_feeds_mmdld_pipeline(tmp_path):
    root = str(tmp_path / 'data' / 'synthetic')
    synth_cfg = dict(num_train=3, num_test=2, img_size=192, seed=1, workers=1)
    pipeline = [
        dict(type='mmocr.LoadImageFromFile'),
        dict(type='mmocr.LoadOCRAnnotations', with_polygon=True, with_bbox=True,
             with_label=True, with_text=True),
        dict(type='PolygonsToMasks'),
        dict(type='PackSpottingInputs'),
    ]
    cfg = dict(type='SyntheticSpottingDataset', data_root=root,
               ann_file='textspotting_train.json', data_prefix=dict(img_path=''),
               synth_cfg=synth_cfg, pipeline=pipeline)
    dataset = DATASETS.build(cfg)
    assert isinstance(dataset, SyntheticSpottingDataset) and len(dataset) == 3
    ann = _load(osp.join(root, 'textspotting_train.json'))['data_list']
    for i, rec in enumerate(ann):
        sample = dataset[i]['data_samples']
        legible = [inst for inst in rec['instances'] if not inst['ignore']]
        assert sample.gt_instances.texts == [inst['text'] for inst in legible]
        assert [p.astype(int).tolist() for p in sample.gt_instances.polygons] == [
            inst['polygon'] for inst in legible]
        assert sample.gt_instances.bboxes.shape == (len(legible), 4)
        assert all(t == '###' for t in sample.ignored_instances.texts)
    # Reused, not regenerated: a second build leaves the files untouched.
    stamp = os.stat(osp.join(root, 'textspotting_train.json')).st_mtime_ns
    test_set = DATASETS.build(dict(cfg, ann_file='textspotting_test.json', test_mode=True))
    assert len(test_set) == 2
    assert os.stat(osp.join(root, 'textspotting_train.json')).st_mtime_ns == stamp
    assert not ensure_dataset(root, synth_cfg)
    # Another config for the same folder is refused, naming the folder and both configs.
    with pytest.raises(ValueError) as err:
        DATASETS.build(dict(cfg, synth_cfg=dict(synth_cfg, seed=2)))
    msg = str(err.value)
    assert root in msg and "'seed': 1" in msg and "'seed': 2" in msg
    assert sorted(os.listdir(tmp_path / 'data')) == ['.synthetic.lock', 'synthetic']


def test_config_training_pipeline_runs_on_generated_data(tmp_path):
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(CONFIG_DIR, '_base_', 'datasets', 'synthetic_spotting.py'))
    root = str(tmp_path / 'synthetic')
    dataset_cfg = cfg.synthetic_spotting_train.copy()
    dataset_cfg.update(data_root=root,
                       synth_cfg=dict(num_train=4, num_test=1, img_size=256, seed=0, workers=1))
    dataset = DATASETS.build(dataset_cfg)
    ann = _load(osp.join(root, 'textspotting_train.json'))['data_list']
    for i, rec in enumerate(ann):
        packed = dataset[i]
        sample = packed['data_samples']
        assert packed['inputs'].ndim == 3 and packed['inputs'].shape[0] == 3
        texts = sample.gt_instances.texts
        # Random crops may drop words; what is left are words of this image.
        assert set(texts) <= {inst['text'] for inst in rec['instances'] if not inst['ignore']}
        assert len(sample.gt_instances.bboxes) == len(sample.gt_instances.masks) == len(texts)


def test_synthetic_dataset_refuses_foreign_folder(tmp_path):
    root = tmp_path / 'mine'
    root.mkdir()
    (root / 'notes.txt').write_text('x')
    with pytest.raises(FileExistsError, match='has no synth_cfg.json'):
        ensure_dataset(str(root), dict(num_train=1, num_test=1, img_size=64))
    with pytest.raises(ValueError, match='data_root must name the folder'):
        SyntheticSpottingDataset(synth_cfg={}, data_root='')


def test_empty_existing_folder_is_filled(tmp_path):
    root = tmp_path / 'empty'
    root.mkdir()
    assert ensure_dataset(str(root), dict(num_train=1, num_test=1, img_size=64, workers=1))
    assert sorted(os.listdir(root)) == ['imgs', 'lexicons', 'synth_cfg.json',
                                        'textspotting_test.json', 'textspotting_train.json']


def _run_tool(relpath, argv):
    import importlib.util
    path = osp.join(TOOLS_DIR, relpath)
    spec = importlib.util.spec_from_file_location(osp.splitext(osp.basename(path))[0], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(argv)


def test_cli_and_browse_tools(tmp_path, capsys):
    out = str(tmp_path / 'cli')
    args = [out, '--num-train', '2', '--num-test', '1', '--img-size', '128', '--seed', '3',
            '--workers', '1']
    assert _run_tool('dataset_converters/generate_synthetic.py', args) == 0
    assert 'wrote 2 train + 1 test images' in capsys.readouterr().out
    assert _load(osp.join(out, 'synth_cfg.json')) == resolve_synth_cfg(
        dict(num_train=2, num_test=1, img_size=128, seed=3))
    # A second run into the now non-empty folder needs --force.
    assert _run_tool('dataset_converters/generate_synthetic.py', args) == 1
    assert 'pass --force' in capsys.readouterr().err
    grid = str(tmp_path / 'grid.png')
    assert _run_tool('analysis_tools/browse_synthetic.py',
                     ['--data-root', out, '--split', 'train', '--num', '2', '--cols', '2',
                      '--tile', '100', '--out', grid]) == 0
    with Image.open(grid) as img:
        assert img.size == (200, 100)


def test_concurrent_processes_generate_once(tmp_path):
    """Two processes (like two DDP ranks) ask for the same folder at once."""
    import subprocess
    import sys
    root = str(tmp_path / 'shared')
    code = ('import sys; from mmdld.datasets.synthesis import ensure_dataset; '
            'print(ensure_dataset(sys.argv[1], dict(num_train=4, num_test=2, img_size=128, '
            'workers=1)))')
    procs = [subprocess.Popen([sys.executable, '-c', code, root], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert sorted(out.strip().splitlines()[-1] for out, _ in outs) == ['False', 'True']
    assert len(_load(osp.join(root, 'textspotting_train.json'))['data_list']) == 4
    # No temporary folder is left behind.
    assert sorted(os.listdir(tmp_path)) == ['.shared.lock', 'shared']


def test_data_set_written_before_the_style_keys_still_matches(tmp_path):
    """A synth_cfg.json without the text style keys (older sets) is read with their defaults."""
    root = str(tmp_path / 'old')
    ensure_dataset(root, SMALL_CFG)
    cfg_path = osp.join(root, 'synth_cfg.json')
    stored = _load(cfg_path)
    for key in ('vocab_size', 'text_mix', 'shape_probs', 'words_per_image'):
        del stored[key]
    with open(cfg_path, 'w', encoding='utf-8') as f:
        json.dump(stored, f)
    assert ensure_dataset(root, SMALL_CFG) is False  # found, not regenerated
    with pytest.raises(ValueError, match='holds synthetic data generated with synth_cfg'):
        ensure_dataset(root, dict(SMALL_CFG, vocab_size=10))


@pytest.mark.parametrize('content', ['', '{"seed": ', '[1, 2]'])
def test_damaged_synth_cfg_names_the_file_and_the_fix(tmp_path, content):
    root = str(tmp_path / 'damaged')
    ensure_dataset(root, SMALL_CFG)
    cfg_path = osp.join(root, 'synth_cfg.json')
    with open(cfg_path, 'w', encoding='utf-8') as f:
        f.write(content)
    with pytest.raises(ValueError, match=rf'{cfg_path} (is not valid JSON|holds list).*'
                       rf'[Dd]elete {root} to regenerate it'):
        ensure_dataset(root, SMALL_CFG)
