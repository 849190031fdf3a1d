"""Intervals of the reproduction's figures, from the per-image records of its evaluations.

Every evaluation of the reproduction writes ``per_image.json`` (:func:`.pipeline.evaluate`).
From those records:

* :func:`hmean_interval`: a model's E2E None hmean with its percentile-bootstrap interval over
  the test images;
* :func:`paired_difference`: the paired interval of the difference of two models on the same
  images;
* :func:`compare_at_gflops`: a model against the Vanilla curve at the model's GFLOPs. The
  Vanilla curve has points only at its scales, so each image's counts are interpolated
  between the two Vanilla scales whose GFLOPs bracket the model's (:func:`bracket`): weight
  ``t = (G - G_low) / (G_high - G_low)`` on the higher scale and ``1 - t`` on the lower, the
  same weights for every image. Summed, these are the counts of the fixed-scale curve
  interpolated at ``G`` (``fixed_at`` of the scale oracle), and kept per image they let the
  paired bootstrap resample the same images for the model and for "Vanilla at the same
  GFLOPs".

The bootstrap sums integer counts, so ``t`` is taken in units of 1 / :data:`WEIGHT_UNITS` and
both sides' counts are multiplied by :data:`WEIGHT_UNITS`: precision, recall and hmean are
ratios of counts, which multiplying every count of a result by the same number leaves as they
are. The rounding of ``t`` moves the interpolated Vanilla hmean by less than 1e-4 of the gap
between its two scales.
"""
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from mmdld.evaluation.functional import (Interval, align_by_name, bootstrap_metric, counts_array,
                                         load_per_image, paired_bootstrap_difference)
from mmdld.evaluation.functional.bootstrap import DEFAULT_NUM_SAMPLES

#: The counts every figure of the reproduction is computed from (E2E, no lexicon).
KEY = 'e2e/none'
#: Bootstrap settings of every interval on the results page.
NUM_SAMPLES = DEFAULT_NUM_SAMPLES
SEED = 0
LEVEL = 0.95
#: The interpolation weight ``t`` is a multiple of ``1 / WEIGHT_UNITS`` (see the module doc).
WEIGHT_UNITS = 10_000

Records = Sequence[Mapping[str, Any]]


def load_records(path: str) -> List[Mapping[str, Any]]:
    """The per-image records (``images``) of a ``per_image.json``."""
    return load_per_image(path)['images']


def hmean_interval(images: Records, key: str = KEY) -> Interval:
    """The hmean of ``key`` over ``images`` with its bootstrap interval (fractions)."""
    return bootstrap_metric(counts_array(images, key), 'hmean', NUM_SAMPLES, SEED, LEVEL)


def paired_difference(images_a: Records, images_b: Records,
                      labels: Tuple[str, str] = ('a', 'b'), key: str = KEY) -> Interval:
    """``hmean(a) - hmean(b)`` on the same images (paired by name), with its interval.

    Raises:
        ValueError: If the two do not hold the same images (naming ``labels``).
    """
    a, b = align_by_name(images_a, images_b, labels)
    return paired_bootstrap_difference(counts_array(a, key), counts_array(b, key), 'hmean',
                                       NUM_SAMPLES, SEED, LEVEL)


@dataclass(frozen=True)
class CurvePoint:
    """One point of a fixed-scale curve: a model's name, GFLOPs per image and records."""
    name: str
    gflops: float
    images: Records


@dataclass(frozen=True)
class Bracket:
    """The two curve points around a GFLOPs value and the weight of the higher one.

    Attributes:
        low (CurvePoint): The point at or below the value (the cheapest when below them all).
        high (CurvePoint): The point at or above it (the dearest when above them all).
        units_high (int): Weight of ``high`` in units of ``1 / units``.
        units (int): :data:`WEIGHT_UNITS`.
        clamped (str, optional): ``'below'`` / ``'above'`` when the value lies outside the
            curve (``low`` and ``high`` are then its end point), else None.
    """
    low: CurvePoint
    high: CurvePoint
    units_high: int
    units: int = WEIGHT_UNITS
    clamped: Optional[str] = None

    @property
    def weight_high(self) -> float:
        """The weight ``t`` of the higher point."""
        return self.units_high / self.units

    def describe(self) -> str:
        """``'0.667 x Vanilla S-160 + 0.333 x Vanilla S-320'``, or one name when clamped or
        when one point carries all the weight."""
        if self.low.name == self.high.name or self.units_high == 0:
            return self.low.name
        if self.units_high == self.units:
            return self.high.name
        return (f'{1 - self.weight_high:.3f} x {self.low.name} + '
                f'{self.weight_high:.3f} x {self.high.name}')


def bracket(curve: Sequence[CurvePoint], gflops: float, units: int = WEIGHT_UNITS) -> Bracket:
    """The points of ``curve`` around ``gflops`` and the interpolation weight between them.

    Args:
        curve (Sequence[CurvePoint]): The fixed-scale points, in any order (sorted by GFLOPs
            here).
        gflops (float): The GFLOPs per image to interpolate at.
        units (int): ``t`` is rounded to a multiple of ``1 / units``.

    Returns:
        Bracket: Outside the curve, its nearest end point with ``clamped`` set.

    Raises:
        ValueError: If the curve is empty.
    """
    if not curve:
        raise ValueError('bracket: the curve has no points')
    points = sorted(curve, key=lambda p: p.gflops)
    if gflops <= points[0].gflops:
        return Bracket(points[0], points[0], 0, units,
                       'below' if gflops < points[0].gflops else None)
    if gflops >= points[-1].gflops:
        return Bracket(points[-1], points[-1], units, units,
                       'above' if gflops > points[-1].gflops else None)
    index = max(i for i, p in enumerate(points) if p.gflops <= gflops)
    low, high = points[index], points[index + 1]
    t = (gflops - low.gflops) / (high.gflops - low.gflops)
    return Bracket(low, high, int(round(t * units)), units)


def interpolated_counts(where: Bracket, names: Sequence[str], key: str = KEY) -> np.ndarray:
    """``[N, 5]`` counts of the bracket's weighted mix, image by image, times ``units``.

    Args:
        where (Bracket): From :func:`bracket`.
        names (Sequence[str]): The images, in the order wanted (those of the compared model).
        key (str): Count key.

    Raises:
        ValueError: If a point of the bracket lacks one of the images (naming it).
    """
    tables = []
    for point in (where.low, where.high):
        by_name = {r['name']: r for r in point.images}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise ValueError(f'{point.name} has no record of image(s) {missing[:5]} '
                             f'({len(missing)} in all)')
        tables.append(counts_array([by_name[n] for n in names], key))
    return tables[0] * (where.units - where.units_high) + tables[1] * where.units_high


def compare_at_gflops(images: Records, curve: Sequence[CurvePoint], gflops: float,
                      label: str = 'model', key: str = KEY) -> Dict[str, Any]:
    """A model against the fixed-scale curve interpolated at the model's GFLOPs.

    Args:
        images (Records): The model's per-image records.
        curve (Sequence[CurvePoint]): The fixed-scale (Vanilla) points.
        gflops (float): The model's GFLOPs per image.
        label (str): The model's name, for errors.
        key (str): Count key.

    Returns:
        dict: ``bracket`` (:class:`Bracket`), ``reference`` (the interpolated curve's hmean
        with its interval, :class:`Interval`) and ``difference`` (model minus curve, paired
        over the images, :class:`Interval`).

    Raises:
        ValueError: If an image name repeats in ``images`` or a curve point lacks an image.
    """
    where = bracket(curve, gflops)
    model, _ = align_by_name(images, images, (label, label))  # names unique
    names = [r['name'] for r in model]
    reference = interpolated_counts(where, names, key)
    own = counts_array(model, key) * where.units
    difference = paired_bootstrap_difference(own, reference, 'hmean', NUM_SAMPLES, SEED, LEVEL)
    return dict(bracket=where,
                reference=bootstrap_metric(reference, 'hmean', NUM_SAMPLES, SEED, LEVEL),
                difference=difference)


__all__ = ('KEY', 'NUM_SAMPLES', 'SEED', 'LEVEL', 'WEIGHT_UNITS', 'load_records',
           'hmean_interval', 'paired_difference', 'CurvePoint', 'Bracket', 'bracket',
           'interpolated_counts', 'compare_at_gflops')
