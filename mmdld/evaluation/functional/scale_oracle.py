"""The per-image scale oracle: the accuracy a perfect resolution selector could reach.

A model is evaluated at every candidate scale on every test image; the result is a
:class:`ScaleTable` of per-image counts (words matched, care detections, care GT) and costs
(GFLOPs) over ``K`` scales. From it:

- :func:`fixed_scale_curve`: every image at the same scale (the Vanilla / SKD-only baseline);
- :func:`cheapest_keeping_matches`: per image, the cheapest scale that matches at least as many
  words as the reference scale (full resolution);
- :func:`budget_oracle`: for every mean-GFLOPs budget, the per-image choice of scales that
  matches the most words: the greedy of the multiple-choice knapsack's LP relaxation, on the
  upper convex hull of each image's (GFLOPs, words) options;
- :func:`oracle_at` / :func:`fixed_at`: a curve's operating point at a given mean GFLOPs;
- :func:`share_of_oracle_gain`: how much of the oracle's gain over the fixed scale a DRS reaches.

Dataset figures sum the counts over the images before dividing (the RRC protocol, see
:mod:`.summary`). Ours because no OpenMMLab package evaluates a per-image choice of resolution.
"""
import heapq
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .summary import precision_recall_hmean

#: The two oracles of :func:`budget_oracle`.
ORACLE_VARIANTS = ('best_of_k', 'capped')
#: How :func:`oracle_at` reads a curve between its points.
CURVE_MODES = ('interpolate', 'step')


@dataclass(frozen=True)
class ScaleTable:
    """Per-image outcomes of one model at ``K`` scales.

    Args:
        matched (np.ndarray): ``[N, K]`` words matched (RRC hits) of each image at each scale.
        num_det (np.ndarray): ``[N, K]`` care detections (precision's denominator).
        num_gt (np.ndarray): ``[N]`` care GT (recall's denominator; the same at every scale).
        gflops (np.ndarray): ``[N, K]`` GFLOPs of each image at each scale, or ``[K]`` (one
            cost per scale, the same for every image).
        reference (int): Index of the reference scale (full resolution).
        scales (Sequence[float], optional): The ``K`` scale factors, for reports.
        names (Sequence[str], optional): The ``N`` image names, for error messages and reports.

    Raises:
        ValueError: On inconsistent shapes, negative counts, a count that exceeds what it
            counts (matched > care detections or care GT, naming the image and scale), a
            non-finite or negative cost, or a reference out of range.
    """
    matched: np.ndarray
    num_det: np.ndarray
    num_gt: np.ndarray
    gflops: np.ndarray
    reference: int
    scales: Optional[Sequence[float]] = None
    names: Optional[Sequence[str]] = None

    def __post_init__(self) -> None:
        matched = np.asarray(self.matched, dtype=np.int64)
        num_det = np.asarray(self.num_det, dtype=np.int64)
        num_gt = np.asarray(self.num_gt, dtype=np.int64)
        if matched.ndim != 2:
            raise ValueError(f'ScaleTable: matched must be [N, K], got shape {matched.shape}')
        n, k = matched.shape
        if num_det.shape != (n, k):
            raise ValueError(f'ScaleTable: num_det has shape {num_det.shape}, matched {(n, k)}')
        if num_gt.shape != (n, ):
            raise ValueError(f'ScaleTable: num_gt has shape {num_gt.shape}, expected {(n, )}')
        gflops = np.asarray(self.gflops, dtype=np.float64)
        if gflops.shape == (k, ):
            gflops = np.broadcast_to(gflops, (n, k)).copy()
        if gflops.shape != (n, k):
            raise ValueError(f'ScaleTable: gflops has shape {gflops.shape}, expected {(n, k)} '
                             f'or {(k, )}')
        if not np.isfinite(gflops).all() or (gflops < 0).any():
            raise ValueError('ScaleTable: gflops must be finite and >= 0')
        if not 0 <= int(self.reference) < k:
            raise ValueError(f'ScaleTable: reference {self.reference} is not a scale index '
                             f'(K = {k})')
        names = (list(self.names) if self.names is not None else
                 [f'#{i}' for i in range(n)])
        scales = list(self.scales) if self.scales is not None else list(range(k))
        if len(names) != n or len(scales) != k:
            raise ValueError(f'ScaleTable: {len(names)} names and {len(scales)} scales for a '
                             f'table of {n} images x {k} scales')
        if (matched < 0).any() or (num_det < 0).any() or (num_gt < 0).any():
            raise ValueError('ScaleTable: counts must be >= 0')
        for what, bound in (('care detections', num_det),
                            ('care GT', np.broadcast_to(num_gt[:, None], (n, k)))):
            bad = np.argwhere(matched > bound)
            if len(bad):
                i, j = bad[0]
                raise ValueError(f'ScaleTable: image {names[i]} at scale {scales[j]} matches '
                                 f'{matched[i, j]} words but has {bound[i, j]} {what}')
        for attr, value in (('matched', matched), ('num_det', num_det), ('num_gt', num_gt),
                            ('gflops', gflops), ('reference', int(self.reference)),
                            ('names', tuple(names)), ('scales', tuple(scales))):
            object.__setattr__(self, attr, value)

    @property
    def num_images(self) -> int:
        return int(self.matched.shape[0])

    @property
    def num_scales(self) -> int:
        return int(self.matched.shape[1])

    def point(self, choices: Sequence[int], matched: Optional[np.ndarray] = None) -> 'Point':
        """The dataset figures when image ``i`` is read at scale ``choices[i]``.

        Args:
            choices (Sequence[int]): ``[N]`` scale indices.
            matched (np.ndarray, optional): ``[N, K]`` words to count instead of
                :attr:`matched` (the capped oracle's).
        """
        rows = np.arange(self.num_images)
        choices = np.asarray(choices, dtype=np.int64)
        matched = self.matched if matched is None else matched
        return Point(gflops=float(self.gflops[rows, choices].mean()) if len(rows) else 0.,
                     matched=float(matched[rows, choices].sum()),
                     num_det=float(self.num_det[rows, choices].sum()),
                     num_gt=int(self.num_gt.sum()))


@dataclass(frozen=True)
class Point:
    """An operating point: mean GFLOPs per image and the summed counts behind the hmean.

    ``matched`` and ``num_det`` are floats because :func:`oracle_at` interpolates them.
    """
    gflops: float
    matched: float
    num_det: float
    num_gt: int

    @property
    def precision(self) -> float:
        return precision_recall_hmean(self.matched, self.num_gt, self.num_det)[0]

    @property
    def recall(self) -> float:
        return precision_recall_hmean(self.matched, self.num_gt, self.num_det)[1]

    @property
    def hmean(self) -> float:
        return precision_recall_hmean(self.matched, self.num_gt, self.num_det)[2]

    def to_dict(self) -> Dict[str, float]:
        return dict(gflops=self.gflops, matched=self.matched, num_det=self.num_det,
                    num_gt=self.num_gt, precision=self.precision, recall=self.recall,
                    hmean=self.hmean)


@dataclass(frozen=True)
class Selection:
    """One scale per image and the dataset figures it gives."""
    choices: np.ndarray
    point: Point


@dataclass(frozen=True)
class Upgrade:
    """One step of the greedy: image ``image`` moves from scale index ``source`` to ``target``,
    gaining ``words`` matched words for ``gflops`` more GFLOPs (that image's, not the mean)."""
    image: int
    source: int
    target: int
    words: int
    gflops: float

    @property
    def ratio(self) -> float:
        return self.words / self.gflops


@dataclass(frozen=True)
class OracleCurve:
    """The budget oracle of :func:`budget_oracle`.

    Attributes:
        variant (str): ``'best_of_k'`` or ``'capped'``.
        start (np.ndarray): ``[N]`` scale indices of the cheapest point (each image at its
            cheapest scale).
        upgrades (list[Upgrade]): The greedy's steps, in order.
        points (list[Point]): ``len(upgrades) + 1`` points: the start, then after each step;
            mean GFLOPs increase along them and so do the matched words.
    """
    variant: str
    start: np.ndarray
    upgrades: List[Upgrade]
    points: List[Point] = field(repr=False)

    def choices_after(self, steps: int) -> np.ndarray:
        """``[N]`` scale indices after the first ``steps`` upgrades (point ``steps``)."""
        if not 0 <= steps <= len(self.upgrades):
            raise ValueError(f'OracleCurve: {steps} steps, the curve has '
                             f'{len(self.upgrades)}')
        choices = self.start.copy()
        for upgrade in self.upgrades[:steps]:
            choices[upgrade.image] = upgrade.target
        return choices

    def choices_at(self, gflops: float) -> Optional[np.ndarray]:
        """The last point's choices within ``gflops`` mean GFLOPs (None below the start)."""
        index = _last_within(self.points, gflops)
        return None if index is None else self.choices_after(index)


def check_same_care_gt(counts: Sequence[np.ndarray], names: Sequence[str],
                       labels: Sequence[str], key: str = 'e2e/none') -> None:
    """Checks that every scale's runs saw the same care GT as the reference's, image by image.

    Args:
        counts (Sequence[np.ndarray]): Per scale (the first the reference), ``[N, 3+]`` counts
            ``[matched, care GT, care det, ...]`` (``per_image.counts_array``), one image order.
        names (Sequence[str]): The ``N`` image names.
        labels (Sequence[str]): Per scale, where its counts come from (for the message).
        key (str): The count key, for the message.

    Raises:
        ValueError: If an image's care GT differ from the reference's, naming the image, both
            counts and both labels.
    """
    for table, label in zip(counts[1:], labels[1:]):
        differ = np.flatnonzero(table[:, 1] != counts[0][:, 1])
        if len(differ):
            i = differ[0]
            raise ValueError(f'image {names[i]} has {table[i, 1]} care GT ({key}) in {label} '
                             f'but {counts[0][i, 1]} in {labels[0]}')


def table_from_counts(counts: Sequence[np.ndarray], gflops: Sequence, scales: Sequence[float],
                      names: Sequence[str]) -> ScaleTable:
    """A :class:`ScaleTable` (the first scale the reference) from per-scale count arrays in one
    image order, checked with :func:`check_same_care_gt`.

    Args:
        counts (Sequence[np.ndarray]): Per scale, ``[N, 3+]`` counts as above.
        gflops (Sequence): Per scale, ``[N]`` GFLOPs per image or one cost for every image.
        scales (Sequence[float]): The scales, in the order of ``counts``.
        names (Sequence[str]): The ``N`` image names.
    """
    gflops = [np.broadcast_to(np.asarray(g, dtype=np.float64), (len(names), )) for g in gflops]
    return ScaleTable(matched=np.stack([c[:, 0] for c in counts], axis=1),
                      num_det=np.stack([c[:, 2] for c in counts], axis=1),
                      num_gt=counts[0][:, 1], gflops=np.stack(gflops, axis=1),
                      reference=0, scales=list(scales), names=list(names))


def fixed_scale_curve(table: ScaleTable) -> List[Point]:
    """Every image at the same scale: one point per scale, in the table's scale order."""
    return [table.point(np.full(table.num_images, k)) for k in range(table.num_scales)]


def _option_order(gflops: np.ndarray, words: np.ndarray, fps: np.ndarray) -> List[int]:
    """Scale indices of one image by cost, then more words, fewer false positives, index."""
    return sorted(range(len(gflops)), key=lambda k: (gflops[k], -words[k], fps[k], k))


def cheapest_keeping_matches(table: ScaleTable) -> Selection:
    """Per image, the cheapest scale that matches at least its reference-scale words.

    Ties in cost go to the scale with more words, then fewer false positives (care detections
    not matched), then the lower index. The reference scale always qualifies.
    """
    ref = table.reference
    fps = table.num_det - table.matched
    choices = np.empty(table.num_images, dtype=np.int64)
    for i in range(table.num_images):
        keep = [k for k in _option_order(table.gflops[i], table.matched[i], fps[i])
                if table.matched[i, k] >= table.matched[i, ref]]
        choices[i] = keep[0]
    return Selection(choices=choices, point=table.point(choices))


def oracle_words(table: ScaleTable, variant: str) -> np.ndarray:
    """``[N, K]`` words the oracle counts: every scale's own (``'best_of_k'``), or capped at
    the image's reference-scale count (``'capped'``)."""
    if variant not in ORACLE_VARIANTS:
        raise ValueError(f'scale oracle: variant must be one of {ORACLE_VARIANTS}, got '
                         f'{variant!r}')
    if variant == 'best_of_k':
        return table.matched
    return np.minimum(table.matched, table.matched[:, table.reference:table.reference + 1])


def image_hull(gflops: np.ndarray, words: np.ndarray, fps: np.ndarray) -> List[int]:
    """One image's scale indices on the upper convex hull of its (GFLOPs, words) options.

    From the cheapest option (most words, then fewest false positives among equally cheap
    ones), each next option costs more and matches strictly more words; options below the
    hull are left out, collinear ones kept (smaller steps). The increments' words per GFLOP
    therefore never increase along the hull, which makes the global greedy the LP optimum.
    """
    frontier: List[int] = []
    for k in _option_order(gflops, words, fps):
        if frontier and words[k] <= words[frontier[-1]]:
            continue  # dominated: not cheaper (by the order), and no more words
        # Drop the last point while it lies strictly below the segment to the new one.
        while len(frontier) >= 2:
            a, b = frontier[-2], frontier[-1]
            if (words[b] - words[a]) * (gflops[k] - gflops[b]) < \
                    (words[k] - words[b]) * (gflops[b] - gflops[a]):
                frontier.pop()
            else:
                break
        frontier.append(k)
    return frontier


def budget_oracle(table: ScaleTable, variant: str = 'capped') -> OracleCurve:
    """The per-image choice of scales matching the most words, for every mean-GFLOPs budget.

    Every image starts at its cheapest scale; then, repeatedly, the upgrade of any image to the
    next scale of its upper convex hull (:func:`image_hull`) with the most words gained per
    GFLOP is applied (ties: fewer false positives added, then the lower image index). This is
    the greedy of the LP relaxation of the multiple-choice knapsack, so every point of the curve
    matches the most words any choice of scales can match within that point's mean GFLOPs (it
    is integral there); between points :func:`oracle_at` interpolates (the LP relaxation) or
    steps (the last point).

    Variants (report both):

    - ``'best_of_k'``: each scale's own outcome. It flatters the oracle: picking the best of
      ``k`` noisy reads of an image also picks the luckiest one.
    - ``'capped'``: an image's matched words at any scale are capped at its reference-scale
      count (the oracle never reads more of an image than full resolution does). The hmean
      counts the capped words and the chosen scales' care detections.

    Args:
        table (ScaleTable): The per-image outcomes.
        variant (str): ``'capped'`` or ``'best_of_k'``.

    Returns:
        OracleCurve: Start, upgrades and points.
    """
    words = oracle_words(table, variant)
    fps = table.num_det - words
    hulls = [image_hull(table.gflops[i], words[i], fps[i]) for i in range(table.num_images)]
    start = np.array([hull[0] for hull in hulls], dtype=np.int64)
    position = [0] * table.num_images

    def candidate(i: int) -> Optional[Tuple[float, int, int, Upgrade]]:
        hull = hulls[i]
        if position[i] + 1 >= len(hull):
            return None
        source, target = hull[position[i]], hull[position[i] + 1]
        upgrade = Upgrade(image=i, source=source, target=target,
                          words=int(words[i, target] - words[i, source]),
                          gflops=float(table.gflops[i, target] - table.gflops[i, source]))
        added_fps = int(fps[i, target] - fps[i, source])
        return (-upgrade.ratio, added_fps, i, upgrade)

    heap = [c for c in (candidate(i) for i in range(table.num_images)) if c is not None]
    heapq.heapify(heap)
    upgrades: List[Upgrade] = []
    choices = start.copy()
    points = [table.point(choices, words)]
    while heap:
        *_, upgrade = heapq.heappop(heap)
        upgrades.append(upgrade)
        choices[upgrade.image] = upgrade.target
        position[upgrade.image] += 1
        points.append(table.point(choices, words))
        following = candidate(upgrade.image)
        if following is not None:
            heapq.heappush(heap, following)
    return OracleCurve(variant=variant, start=start, upgrades=upgrades, points=points)


def _last_within(points: Sequence[Point], gflops: float, tol: float = 1e-9) -> Optional[int]:
    """Index of the last point (in order) whose mean GFLOPs are within ``gflops``."""
    within = [i for i, p in enumerate(points) if p.gflops <= gflops + tol * max(1., gflops)]
    return within[-1] if within else None


def oracle_at(curve: OracleCurve, gflops: float, mode: str = 'interpolate') -> Optional[Point]:
    """The oracle's operating point at ``gflops`` mean GFLOPs per image.

    Args:
        curve (OracleCurve): From :func:`budget_oracle`.
        gflops (float): The budget (e.g. a DRS's mean GFLOPs).
        mode (str): ``'interpolate'`` (default): the LP relaxation, words and care detections
            interpolated linearly between the two points around ``gflops`` (one image
            fractionally upgraded), the hmean computed from those counts; an upper bound on
            what whole choices reach. ``'step'``: the last point within the budget, a choice of
            whole scales that exists.

    Returns:
        Point: At ``gflops`` (``gflops`` itself in interpolate mode, the point's own GFLOPs in
        step mode); the last point beyond the curve's end; None below its start (no choice of
        scales is that cheap).
    """
    return _curve_at(curve.points, gflops, mode)


def fixed_at(points: Sequence[Point], gflops: float) -> Optional[Point]:
    """The fixed-scale baseline at ``gflops``: its points by GFLOPs, counts interpolated
    linearly between the two scales around ``gflops`` (a share of the images at each), the
    end points beyond them, None below the cheapest."""
    return _curve_at(sorted(points, key=lambda p: p.gflops), gflops, 'interpolate')


def _curve_at(points: Sequence[Point], gflops: float, mode: str) -> Optional[Point]:
    if mode not in CURVE_MODES:
        raise ValueError(f'scale oracle: mode must be one of {CURVE_MODES}, got {mode!r}')
    index = _last_within(points, gflops)
    if index is None:
        return None
    low = points[index]
    if mode == 'step' or index + 1 == len(points) or low.gflops >= gflops:
        return low
    high = points[index + 1]
    t = (gflops - low.gflops) / (high.gflops - low.gflops)
    return Point(gflops=float(gflops), matched=low.matched + t * (high.matched - low.matched),
                 num_det=low.num_det + t * (high.num_det - low.num_det), num_gt=low.num_gt)


def share_of_oracle_gain(drs_hmean: float, fixed_hmean: float,
                         oracle_hmean: float) -> Optional[float]:
    """``(drs - fixed) / (oracle - fixed)``: the share of the oracle's gain over the fixed
    scale (all at the same GFLOPs) that a DRS reaches.

    1 is the oracle, 0 the fixed scale, negative below the fixed scale, above 1 beyond the
    oracle (possible for the capped oracle, or with other FLOPs counts).

    Returns:
        float or None: None when ``oracle <= fixed``: there is no gain to share.
    """
    gain = float(oracle_hmean) - float(fixed_hmean)
    if gain <= 0:
        return None
    return (float(drs_hmean) - float(fixed_hmean)) / gain
