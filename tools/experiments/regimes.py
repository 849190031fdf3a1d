"""What the DRS chose, per text regime, and whether it follows the text size.

The synthetic annotations record a ``regime`` per image (``large``, ``mixed``, ``small``,
``empty``; ``docs/synthetic_data.md``). For each DRS model of the reproduction, from its
per-image records (their ``scale``):

* :func:`regime_histograms`: images per chosen scale in each regime;
* :func:`scale_size_correlation`: Spearman's rank correlation between an image's chosen scale
  and its smallest care word's height at the teacher's test resolution (images with words
  only). A DRS that reads small text at high resolution gives a negative correlation; one
  that picks one scale for every image gives none (undefined).

Word heights and regimes are those of ``tools/analysis_tools/text_size_stats.py``
(:func:`mmdld.datasets.text_sizes.image_records` with the resize of the teacher's test
pipeline).
"""
import os.path as osp
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Sequence

from mmengine.config import Config

from mmdld.datasets.text_sizes import REGIME_ORDER, config_resize, image_records
from mmdld.evaluation.functional import image_stem, spearman
from .intervals import Records


def annotation_info(ann_file: str, resize: Any = None) -> Dict[str, Dict[str, Any]]:
    """Regime and smallest care word height of every image of an annotation file.

    Args:
        ann_file (str): MMOCR ``textspotting`` JSON.
        resize (callable, optional): ``(width, height) -> (w_scale, h_scale)`` of the test
            pipeline (:func:`mmdld.datasets.text_sizes.config_resize`); None: original
            pixels.

    Returns:
        dict: Image name -> ``regime`` (``'unknown'`` when not recorded) and ``min_height``
        (px after the resize; None for an image without care words).

    Raises:
        ValueError: If two images share a name (the key of the per-image records).
    """
    info: Dict[str, Dict[str, Any]] = {}
    for record in image_records(ann_file, resize):
        name = image_stem(record['img_path'])
        if name in info:
            raise ValueError(f'{ann_file}: two images are named {name!r}; per-image records '
                             'pair images by file stem')
        info[name] = dict(regime=record['regime'], min_height=record['min'])
    return info


def split_images_info(config: str, root: str = '.') -> Dict[str, Dict[str, Any]]:
    """:func:`annotation_info` of ``config``'s test split, resized by its test pipeline.

    Args:
        config (str): The teacher's config.
        root (str): The folder its data root is relative to.
    """
    cfg = Config.fromfile(config)
    dataset = cfg.test_dataloader.dataset
    ann_file = osp.join(root, dataset['data_root'], dataset['ann_file'])
    resize, _ = config_resize(config)
    return annotation_info(ann_file, resize)


def _joined(images: Records, info: Mapping[str, Mapping[str, Any]],
            label: str) -> List[Dict[str, Any]]:
    out = []
    for record in images:
        if record['scale'] is None:
            raise ValueError(f'{label}: image {record["name"]} has no chosen scale (a DRS '
                             'model reports one per image)')
        if record['name'] not in info:
            raise ValueError(f'{label}: image {record["name"]} is not in the test annotations')
        out.append(dict(info[record['name']], scale=round(float(record['scale']), 4)))
    return out


def regime_order(regimes: Sequence[str]) -> List[str]:
    """The synthetic regimes in :data:`~mmdld.datasets.text_sizes.REGIME_ORDER`, then any
    others sorted."""
    known = [r for r in REGIME_ORDER if r in regimes]
    return known + sorted(set(regimes) - set(known))


def regime_histograms(images: Records, info: Mapping[str, Mapping[str, Any]],
                      label: str = 'model') -> 'OrderedDict[str, Dict[float, int]]':
    """Images per chosen scale in each regime (regimes in :func:`regime_order`).

    Raises:
        ValueError: If a record has no scale or an image is not in ``info`` (naming
            ``label`` and the image).
    """
    joined = _joined(images, info, label)
    out: 'OrderedDict[str, Dict[float, int]]' = OrderedDict()
    for regime in regime_order({j['regime'] for j in joined}):
        hist: Dict[float, int] = {}
        for j in joined:
            if j['regime'] == regime:
                hist[j['scale']] = hist.get(j['scale'], 0) + 1
        out[regime] = dict(sorted(hist.items(), reverse=True))
    return out


def scale_size_correlation(images: Records, info: Mapping[str, Mapping[str, Any]],
                           label: str = 'model') -> Dict[str, Any]:
    """Spearman's correlation of the chosen scale with the smallest word height.

    Returns:
        dict: ``spearman`` (None when undefined: fewer than 2 images with words, or one
        scale or one height for all of them) and ``images`` (those with words).
    """
    joined = [j for j in _joined(images, info, label) if j['min_height'] is not None]
    value = None
    if len(joined) >= 2:
        rho = spearman([j['min_height'] for j in joined], [j['scale'] for j in joined])
        value = None if rho != rho else rho  # NaN: one side constant
    return dict(spearman=value, images=len(joined))


def regime_analysis(models: Mapping[str, Records],
                    info: Mapping[str, Mapping[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """Per DRS model: its ``histograms`` per regime and its ``correlation``."""
    return {name: dict(histograms=regime_histograms(images, info, name),
                       correlation=scale_size_correlation(images, info, name))
            for name, images in models.items()}


def format_regime_section(analysis: Mapping[str, Mapping[str, Any]]) -> str:
    """A Markdown table (model, regime, images per scale) and the correlations."""
    scales = sorted({s for a in analysis.values() for h in a['histograms'].values() for s in h},
                    reverse=True)
    lines = ['| model | regime | ' + ' | '.join(f'{s:g}' for s in scales) + ' |',
             '|---|---|' + '---:|' * len(scales)]
    for name, result in analysis.items():
        for regime, hist in result['histograms'].items():
            lines.append(f'| {name} | {regime} | '
                         + ' | '.join(str(hist.get(s, 0)) for s in scales) + ' |')
    lines += ['', 'Spearman\'s rank correlation between the chosen scale and the image\'s '
              'smallest word height (px at the teacher\'s test resolution; images with '
              'words; negative when smaller text gets a larger scale):', '']
    for name, result in analysis.items():
        corr = result['correlation']
        value = ('undefined (one scale, or one height, for every image)'
                 if corr['spearman'] is None else f'{corr["spearman"]:+.2f}')
        lines.append(f'* {name}: {value} ({corr["images"]} images)')
    return '\n'.join(lines)


def regimes_json(analysis: Mapping[str, Mapping[str, Any]]) -> Dict[str, Any]:
    """:func:`regime_analysis` with string scale keys, for JSON."""
    return {name: dict(histograms={regime: {f'{s:g}': n for s, n in hist.items()}
                                   for regime, hist in result['histograms'].items()},
                       correlation=dict(result['correlation']))
            for name, result in analysis.items()}


__all__ = ('annotation_info', 'split_images_info', 'regime_order', 'regime_histograms',
           'scale_size_correlation', 'regime_analysis', 'format_regime_section', 'regimes_json')
