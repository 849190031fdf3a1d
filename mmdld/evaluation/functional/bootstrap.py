"""Confidence intervals of dataset-level metrics by a percentile bootstrap over images.

The test images are the sampling unit: a resample draws ``N`` images with replacement, sums
their counts (as the RRC protocol sums over the dataset before dividing,
:func:`~.summary.precision_recall_hmean`) and computes the metric; the interval is the central
``level`` range of the resampled metrics. A paired difference resamples the same images for
both results, so that what both get right or wrong on the same images cancels.

Ours because neither MMEngine nor SciPy's ``bootstrap`` computes a ratio of summed counts
(precision, recall and hmean are not means over images) with shared resamples for two results.
Counts are ``[N, 5]`` tables (:func:`~.per_image.counts_array`); only the first three columns
(hits, care GT, care predictions) enter the metrics.
"""
import math
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Sequence, Tuple

import numpy as np

from .summary import precision_recall_hmean

#: Metrics computed from summed counts, in the order of :func:`precision_recall_hmean`.
METRIC_NAMES = ('precision', 'recall', 'hmean')
#: Default number of resamples (Monte Carlo error of a 95% bound: about 2% of the half-width).
DEFAULT_NUM_SAMPLES = 2000
#: Resampled image draws held in memory at once (rows x images), to bound the memory.
_MAX_DRAWS_PER_CHUNK = 1 << 23


@dataclass(frozen=True)
class Interval:
    """A point estimate with its bootstrap confidence interval (fractions, not percent).

    Attributes:
        point (float): The metric (or difference) on the images as they are.
        low (float): Lower end of the interval.
        high (float): Upper end of the interval.
        level (float): Confidence level, e.g. 0.95.
    """
    point: float
    low: float
    high: float
    level: float = 0.95

    @property
    def half_width(self) -> float:
        """Half the interval's width, the "+-" of a result."""
        return (self.high - self.low) / 2

    def to_dict(self) -> Dict[str, float]:
        """The interval as JSON-ready numbers (fractions) with its half-width."""
        return dict(point=self.point, low=self.low, high=self.high, level=self.level,
                    half_width=self.half_width)

    def format(self, signed: bool = False, digits: int = 1) -> str:
        """The interval in percent, e.g. ``'55.4 [53.1, 57.6]'``.

        Args:
            signed (bool): Write a sign on every number (for differences: ``'+1.2 [-0.3,
                +2.6]'``).
            digits (int): Digits after the decimal point.
        """
        spec = f'{"+" if signed else ""}.{digits}f'
        low, point, high = (format(100 * value, spec) for value in
                            (self.low, self.point, self.high))
        return f'{point} [{low}, {high}]'

    def __str__(self) -> str:
        return self.format()


def _check_counts(counts: Any, what: str = 'counts') -> np.ndarray:
    counts = np.asarray(counts)
    if counts.ndim != 2 or counts.shape[1] < 3:
        raise ValueError(f'{what}: expected an [N, 5] (or [N, >=3]) table of per-image counts, '
                         f'got shape {counts.shape}')
    if not len(counts):
        raise ValueError(f'{what}: no images to resample')
    return counts[:, :3].astype(np.float64)


def _metric_of_totals(totals: np.ndarray, metric: str) -> np.ndarray:
    """The metric of each row of summed ``[hits, care GT, care predictions]``."""
    column = METRIC_NAMES.index(metric)
    # Integer sums held exactly in float64; the RRC definition itself (0 when undefined).
    return np.array([precision_recall_hmean(*(int(v) for v in row))[column]
                     for row in totals.reshape(-1, 3)])


def _check_metric(metric: str) -> None:
    if metric not in METRIC_NAMES:
        raise ValueError(f'metric must be one of {METRIC_NAMES}, got {metric!r}')


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f'level must be in (0, 1), got {level}')


def resampled_totals(tables: Sequence[np.ndarray], num_samples: int = DEFAULT_NUM_SAMPLES,
                     seed: int = 0) -> List[np.ndarray]:
    """Summed counts of ``num_samples`` bootstrap resamples, the same images for every table.

    The resamples are an index matrix (``num_samples`` x ``N`` draws with replacement) turned
    into how often each image is drawn, so that each resample's totals are one row of a
    matrix product with the counts.

    Args:
        tables (Sequence[np.ndarray]): ``[N, 3]`` float tables of the same images in the same
            order.
        num_samples (int): Number of resamples.
        seed (int): Seed of the numpy ``Generator``.

    Returns:
        list[np.ndarray]: Per table, ``[num_samples, 3]`` summed counts.
    """
    if num_samples < 1:
        raise ValueError(f'num_samples must be >= 1, got {num_samples}')
    num_images = len(tables[0])
    stacked = np.concatenate(tables, axis=1)
    rng = np.random.default_rng(seed)
    rows_per_chunk = max(1, _MAX_DRAWS_PER_CHUNK // num_images)
    totals = []
    for start in range(0, num_samples, rows_per_chunk):
        rows = min(rows_per_chunk, num_samples - start)
        draws = rng.integers(0, num_images, size=(rows, num_images))
        flat = (draws + num_images * np.arange(rows)[:, None]).ravel()
        weights = np.bincount(flat, minlength=rows * num_images).reshape(rows, num_images)
        totals.append(weights.astype(np.float64) @ stacked)
    totals = np.concatenate(totals, axis=0)
    return [totals[:, 3 * i:3 * i + 3] for i in range(len(tables))]


def _interval(point: float, values: np.ndarray, level: float) -> Interval:
    low, high = np.percentile(values, [50 * (1 - level), 50 * (1 + level)])
    return Interval(float(point), float(low), float(high), level)


def bootstrap_metric(counts: Any,
                     metric: str = 'hmean',
                     num_samples: int = DEFAULT_NUM_SAMPLES,
                     seed: int = 0,
                     level: float = 0.95) -> Interval:
    """Percentile bootstrap interval of a dataset-level metric.

    Args:
        counts (array-like): ``[N, 5]`` per-image counts (:func:`~.per_image.counts_array`).
        metric (str): ``'precision'``, ``'recall'`` or ``'hmean'``.
        num_samples (int): Number of resamples.
        seed (int): Seed of the numpy ``Generator``; the same seed gives the same interval.
        level (float): Confidence level.

    Returns:
        Interval: The metric on all images and its interval.
    """
    _check_metric(metric)
    _check_level(level)
    table = _check_counts(counts)
    point = _metric_of_totals(table.sum(axis=0), metric)[0]
    (totals, ) = resampled_totals([table], num_samples, seed)
    return _interval(point, _metric_of_totals(totals, metric), level)


def paired_bootstrap_difference(counts_a: Any,
                                counts_b: Any,
                                metric: str = 'hmean',
                                num_samples: int = DEFAULT_NUM_SAMPLES,
                                seed: int = 0,
                                level: float = 0.95) -> Interval:
    """Interval of ``metric(a) - metric(b)`` with the same resampled images for both.

    Args:
        counts_a (array-like): ``[N, 5]`` per-image counts of result a.
        counts_b (array-like): ``[N, 5]`` counts of result b, the same images in the same order
            (see :func:`align_by_name`).
        metric (str): ``'precision'``, ``'recall'`` or ``'hmean'``.
        num_samples (int): Number of resamples.
        seed (int): Seed of the numpy ``Generator``.
        level (float): Confidence level.

    Returns:
        Interval: The difference on all images and its interval (fractions; 0.012 is
        +1.2 points).
    """
    _check_metric(metric)
    _check_level(level)
    table_a = _check_counts(counts_a, 'counts_a')
    table_b = _check_counts(counts_b, 'counts_b')
    if len(table_a) != len(table_b):
        raise ValueError(f'paired bootstrap: counts_a has {len(table_a)} images, counts_b '
                         f'{len(table_b)}; pair them by name first (align_by_name)')
    point = (_metric_of_totals(table_a.sum(axis=0), metric)[0] -
             _metric_of_totals(table_b.sum(axis=0), metric)[0])
    totals_a, totals_b = resampled_totals([table_a, table_b], num_samples, seed)
    values = _metric_of_totals(totals_a, metric) - _metric_of_totals(totals_b, metric)
    return _interval(point, values, level)


def verdict(interval: Interval) -> str:
    """Whether an interval of a difference lies above 0, below 0, or contains it.

    Args:
        interval (Interval): E.g. of :func:`paired_bootstrap_difference`.

    Returns:
        str: ``'above'`` when its low end is > 0, ``'below'`` when its high end is < 0,
        ``'within'`` otherwise (0 is inside the interval or on one of its ends).
    """
    if interval.low > 0:
        return 'above'
    if interval.high < 0:
        return 'below'
    return 'within'


def align_by_name(images_a: Sequence[Mapping[str, Any]],
                  images_b: Sequence[Mapping[str, Any]],
                  labels: Tuple[str, str] = ('a', 'b'),
                  max_listed: int = 10) -> Tuple[List[Mapping[str, Any]],
                                                 List[Mapping[str, Any]]]:
    """Put two results' per-image records in the same image order, by image name.

    Args:
        images_a (Sequence[Mapping]): Records of result a (with ``name``); its order is kept.
        images_b (Sequence[Mapping]): Records of result b, reordered to a's order.
        labels (tuple[str, str]): Names of a and b for the error message (e.g. the files).
        max_listed (int): Names listed per side in the error message.

    Returns:
        tuple[list, list]: The records of a and of b, image for image.

    Raises:
        ValueError: If a name repeats within one result, or the two do not hold the same
            images (the message lists the names missing on each side).
    """
    by_name = []
    for label, images in zip(labels, (images_a, images_b)):
        names: Dict[str, Mapping[str, Any]] = {}
        for record in images:
            if record['name'] in names:
                raise ValueError(f'{label}: image name {record["name"]!r} appears twice')
            names[record['name']] = record
        by_name.append(names)
    problems = []
    for lacking, present in ((1, 0), (0, 1)):
        missing = [name for name in by_name[present] if name not in by_name[lacking]]
        if missing:
            listed = ', '.join(missing[:max_listed])
            more = f', ... ({len(missing)} in all)' if len(missing) > max_listed else ''
            problems.append(f'{labels[lacking]} lacks {len(missing)} image(s) of '
                            f'{labels[present]}: {listed}{more}')
    if problems:
        raise ValueError('cannot pair the results image by image: ' + '; '.join(problems))
    return list(images_a), [by_name[1][record['name']] for record in images_a]


def images_for_half_width(counts: Any,
                          target: float = 0.01,
                          metric: str = 'hmean',
                          num_samples: int = DEFAULT_NUM_SAMPLES,
                          seed: int = 0,
                          level: float = 0.95) -> int:
    """How many test images like these give an interval half-width of at most ``target``.

    The bootstrap half-width on the ``N`` images shrinks as ``1 / sqrt(N')`` for ``N'`` images
    drawn like them, so ``N' = ceil(N * (half_width / target) ** 2)``.

    Args:
        counts (array-like): ``[N, 5]`` per-image counts of a representative result.
        target (float): Wanted half-width as a fraction (0.01: +-1 point).
        metric (str): ``'precision'``, ``'recall'`` or ``'hmean'``.
        num_samples (int): Number of resamples.
        seed (int): Seed of the numpy ``Generator``.
        level (float): Confidence level.

    Returns:
        int: The number of images (at least 1).
    """
    if target <= 0:
        raise ValueError(f'target half-width must be > 0, got {target}')
    interval = bootstrap_metric(counts, metric, num_samples, seed, level)
    num_images = len(np.asarray(counts))
    return max(1, math.ceil(num_images * (interval.half_width / target) ** 2))
