"""The reproduction's Vanilla scale oracle and its per-regime scale tables, on hand cases."""
import json

import pytest

from experiments.oracle import (format_oracle_section, oracle_json, oracle_summary,
                                vanilla_scale_table)
from experiments.regimes import (annotation_info, format_regime_section, regime_analysis,
                                 regime_histograms, scale_size_correlation, split_images_info)


def record(name, e2e, scale=None):
    """A per-image record whose ``e2e/none`` counts are ``[matched, care GT, care det]``."""
    matched, num_gt, num_det = e2e
    return dict(name=name, img_path=f'imgs/{name}.jpg', scale=scale, gflops=None,
                gt_texts=['w'] * num_gt, num_gt_dont_care=0, det_texts=['w'] * num_det,
                det_scores=None, matched_texts=['w'] * matched,
                counts={'e2e/none': [matched, num_gt, num_det, 0, 0]}, rec=None)


VANILLA = [dict(name='Vanilla S-160', kind='vanilla', scale=0.5, gflops=1.0),
           dict(name='Vanilla S-320', kind='vanilla', scale=1.0, gflops=4.0)]
# Image a reads its 2 words at both scales; b reads 1 of 2 at full resolution only.
IMAGES = {'Vanilla S-320': [record('a', (2, 2, 2)), record('b', (1, 2, 3))],
          'Vanilla S-160': [record('b', (0, 2, 1)), record('a', (2, 2, 2))]}


def test_vanilla_scale_table_from_the_rows():
    table = vanilla_scale_table(VANILLA, IMAGES)
    assert table.scales == (1.0, 0.5) and table.reference == 0
    assert table.names == ('a', 'b')
    assert table.matched.tolist() == [[2, 2], [1, 0]]
    assert table.num_det.tolist() == [[2, 2], [3, 1]]
    assert table.gflops.tolist() == [[4.0, 1.0], [4.0, 1.0]]
    with pytest.raises(ValueError, match='at least 2 Vanilla scales'):
        vanilla_scale_table(VANILLA[:1], IMAGES)
    with pytest.raises(ValueError, match="Vanilla row 'Vanilla S-160' has no gflops"):
        vanilla_scale_table([dict(VANILLA[0], gflops=None), VANILLA[1]], IMAGES)
    other_gt = dict(IMAGES, **{'Vanilla S-160': [record('b', (0, 3, 1)), record('a', (2, 2, 2))]})
    with pytest.raises(ValueError, match='image b has 3 care GT .* in Vanilla S-160 but 2 in '
                       'Vanilla S-320'):
        vanilla_scale_table(VANILLA, other_gt)


def test_oracle_summary_by_hand():
    # hmean = 2 matched / (care det + care GT), 4 care GT in all.
    summary = oracle_summary(vanilla_scale_table(VANILLA, IMAGES),
                             [dict(name='DLD (gamma 0.1)', gflops=1.75, hmean=0.61)])
    fixed = summary['fixed']
    assert [p.hmean for p in fixed] == pytest.approx([2 * 3 / (5 + 4), 2 * 2 / (3 + 4)])
    # The cheapest scale keeping the matches: a at 0.5, b at 1.0 (2.5 GFLOPs on average).
    cheapest = summary['cheapest']
    assert cheapest['images_per_scale'] == {1.0: 1, 0.5: 1}
    assert cheapest['point'].gflops == 2.5 and cheapest['point'].hmean == pytest.approx(2 / 3)
    # Both oracles start with both images at 0.5 and upgrade b: at 1.75 GFLOPs, half way.
    model = summary['models']['DLD (gamma 0.1)']
    assert model['oracle']['capped'].hmean == pytest.approx(2 * 2.5 / (4 + 4))
    assert model['oracle']['best_of_k'].hmean == pytest.approx(0.625)
    # The fixed curve at 1.75: a quarter of the way from S-160 to S-320.
    assert model['fixed'].hmean == pytest.approx(2 * 2.25 / (3.5 + 4))
    assert model['share'] == pytest.approx({'capped': 0.4, 'best_of_k': 0.4})
    text = format_oracle_section(summary, ['Vanilla S-320', 'Vanilla S-160'])
    assert '| Vanilla S-320 | 1 | 4.00 | 66.7 | 66.7 | 66.7 |' in text
    assert '| Vanilla S-160 | 0.5 | 1.00 | 57.1 | 57.1 | 57.1 |' in text
    assert ('| DLD (gamma 0.1) | 1.75 | 61.0 | 60.0 | 62.5 | 0.40 | 62.5 | 0.40 |') in text
    assert 'E2E None 66.7 (capped at full resolution\'s words: 66.7) at 2.50 GFLOPs' in text
    # At half the teacher's 4 GFLOPs, two thirds of the way along the oracle's upgrade of b
    # (matched 2 + 2/3, care det 3 + 2/3 x 2) and a third of the way from S-160 to S-320.
    half = summary['at_half']
    assert half['gflops'] == 2.0
    assert half['capped'].hmean == pytest.approx(2 * (2 + 2 / 3) / (3 + 4 / 3 + 4))
    assert half['fixed'].hmean == pytest.approx(2 * (2 + 1 / 3) / (3 + 2 / 3 + 4))
    assert ("At 0.5x the teacher's GFLOPs (2.00 per image): capped oracle 64.0 (-2.7 points "
            "from the teacher's 66.7 at full resolution), best-of-k oracle 64.0, fixed scale "
            "60.9 (-3.1 points from the capped oracle).") in text
    data = json.loads(json.dumps(oracle_json(summary)))
    assert data['at_half']['capped']['hmean'] == pytest.approx(half['capped'].hmean)
    assert data['models']['DLD (gamma 0.1)']['share'] == pytest.approx(
        {'capped': 0.4, 'best_of_k': 0.4})
    assert data['curves']['capped']['gflops'] == [1.0, 2.5]
    # Below the oracle's cheapest point there is nothing to share.
    cheap = oracle_summary(vanilla_scale_table(VANILLA, IMAGES),
                           [dict(name='m', gflops=0.5, hmean=0.5)])['models']['m']
    assert cheap['oracle']['capped'] is None and cheap['share']['capped'] is None


def _rect(x, y, w, h):
    return [x, y, x + w, y, x + w, y + h, x, y + h]


@pytest.fixture
def annotations(tmp_path):
    """Five 640 x 160 images: word heights 40, 30, 10 (and 20), 5 px and none."""
    words = {'a': ('large', [40]), 'b': ('large', [30]), 'c': ('mixed', [20, 10]),
             'd': ('small', [5]), 'e': ('empty', [])}
    data_list = [dict(img_path=f'imgs/test/{name}.jpg', width=640, height=160, regime=regime,
                      instances=[dict(polygon=_rect(10, 10, 100, h), text='word', ignore=False)
                                 for h in heights]
                      + [dict(polygon=_rect(10, 10, 100, 2), text='###', ignore=True)])
                 for name, (regime, heights) in words.items()]
    (tmp_path / 'data').mkdir()
    ann = tmp_path / 'data' / 'textspotting_test.json'
    ann.write_text(json.dumps(dict(metainfo={}, data_list=data_list)))
    return ann


def test_annotation_info_and_the_config_resize(tmp_path, annotations):
    info = annotation_info(str(annotations))
    assert info['a'] == dict(regime='large', min_height=pytest.approx(40.0))
    assert info['c']['min_height'] == pytest.approx(10.0)  # don't-care words left out
    assert info['e'] == dict(regime='empty', min_height=None)
    config = tmp_path / 'teacher.py'
    config.write_text("test_dataloader = dict(dataset=dict(data_root='data', "
                      "ann_file='textspotting_test.json', pipeline=[dict(type='mmocr.Resize', "
                      "scale=(1280, 320), keep_ratio=True)]))\n")
    # 640 x 160 into (1280, 320), ratio kept: twice the size.
    resized = split_images_info(str(config), str(tmp_path))
    assert resized['a']['min_height'] == pytest.approx(80.0)
    assert resized['d']['min_height'] == pytest.approx(10.0)


def test_regime_histograms_and_spearman_by_hand(annotations):
    info = annotation_info(str(annotations))
    chosen = [record('a', (1, 1, 1), 0.3), record('b', (1, 1, 1), 0.4),
              record('c', (1, 2, 2), 0.8), record('d', (0, 1, 1), 0.8),
              record('e', (0, 0, 0), 0.5)]
    hists = regime_histograms(chosen, info, 'DLD')
    assert list(hists) == ['large', 'mixed', 'small', 'empty']
    assert hists == {'large': {0.4: 1, 0.3: 1}, 'mixed': {0.8: 1}, 'small': {0.8: 1},
                     'empty': {0.5: 1}}
    # Heights 40, 30, 10, 5 (ranks 4 3 2 1) against scales 0.3 0.4 0.8 0.8 (ranks 1 2 3.5
    # 3.5): the Pearson correlation of the ranks, -4.5 / sqrt(5 x 4.5).
    corr = scale_size_correlation(chosen, info, 'DLD')
    assert corr['images'] == 4
    assert corr['spearman'] == pytest.approx(-4.5 / (5 * 4.5)**0.5)
    one_scale = [dict(r, scale=0.8) for r in chosen]
    assert scale_size_correlation(one_scale, info)['spearman'] is None
    text = format_regime_section(regime_analysis({'DLD': chosen, 'DRS': one_scale}, info))
    assert '| model | regime | 0.8 | 0.5 | 0.4 | 0.3 |' in text
    assert '| DLD | large | 0 | 0 | 1 | 1 |' in text and '| DRS | large | 2 | 0 | 0 | 0 |' in text
    assert '* DLD: -0.95 (4 images)' in text
    assert '* DRS: undefined (one scale, or one height, for every image) (4 images)' in text
    with pytest.raises(ValueError, match='DLD: image z is not in the test annotations'):
        regime_histograms([record('z', (0, 0, 0), 0.5)], info, 'DLD')
    with pytest.raises(ValueError, match='Vanilla: image a has no chosen scale'):
        regime_histograms([record('a', (0, 0, 0))], info, 'Vanilla')
