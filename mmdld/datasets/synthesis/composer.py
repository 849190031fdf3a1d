"""Composition of one synthetic scene-text image from a seed.

Every image is drawn from its own generator ``np.random.default_rng([seed, split_id, index])``,
so an image depends only on (seed, split, index, img_size, regime_probs) and the installed
Pillow/FreeType, OpenCV and matplotlib fonts, never on the order or process it is made in.

Text size regimes (DLD is about images that need different input resolutions). Sizes are "char
heights", the pixel height of capital letters, in absolute pixels whatever ``img_size`` is:
whether a recogniser can still read a word after the image is downscaled depends on how many
pixels its letters keep, not on the image size. Only the top of the large range shrinks to 15% of
the long side so that large words fit in small images.

============  ===========  ===================================================================
regime        default p    legible words
============  ===========  ===================================================================
``large``     0.35         1-6 words of 28-64 px: still readable at scale ~0.3-0.4
``small``     0.30         4-16 words of 8-14 px: need (close to) full resolution
``mixed``     0.30         4-12 words, at least one large and one small, others 8-64 px
``empty``     0.05         no text at all (clutter and backgrounds only)
============  ===========  ===================================================================

Geometry: 55% horizontal, 25% rotated (5-60 degrees either way), 20% curved (arc or sine
baseline, then tilted by up to 15 degrees; only words of 3+ characters at 10+ px). About 8% of
the words are don't-care instances (``text='###'``, ``ignore=True``): tiny (3-6 px), heavily
blurred or nearly invisible (luminance contrast 4-12).
"""
import math
import os
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from .backgrounds import make_background
from .fonts import cap_height_ratio, get_font, list_fonts
from .text_render import Baseline, WordPatch, render_curved, render_straight
from .words import WordSampler

#: The large range's upper end is at most this fraction of the long side.
MAX_CHAR_FRACTION = 0.15
SPLIT_IDS = {'train': 0, 'test': 1}
REGIMES = ('large', 'small', 'mixed', 'empty')
DEFAULT_REGIME_PROBS: Dict[str, float] = {
    'large': 0.35, 'small': 0.30, 'mixed': 0.30, 'empty': 0.05}
#: Char height ranges (absolute pixels) of the size classes.
CHAR_HEIGHTS: Dict[str, Tuple[float, float]] = {
    'large': (28.0, 64.0), 'medium': (15.0, 27.0), 'small': (8.0, 14.0), 'tiny': (3.0, 6.0)}
WORDS_PER_IMAGE: Dict[str, Tuple[int, int]] = {'large': (1, 6), 'small': (4, 16), 'mixed': (4, 12)}
SHAPES = ('horizontal', 'rotated', 'curved')
SHAPE_PROBS = (0.55, 0.25, 0.20)
DEFAULT_SHAPE_PROBS: Dict[str, float] = dict(zip(SHAPES, SHAPE_PROBS))
DONT_CARE_PROB = 0.08
CURVE_POINTS = 7
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
_PLACE_TRIES = 25
_WORD_TRIES = 4


@dataclass
class SynthInstance:
    """One annotated word.

    Attributes:
        polygon: int32 (N, 2) polygon in image pixels (4 points, or ``2 * CURVE_POINTS``).
        text: The annotation text (``'###'`` for don't-care instances).
        ignore: Whether it is a don't-care instance.
        word: The string actually rendered (also for don't-care instances).
        char_height: Pixel height of its capital letters.
        shape: ``'horizontal'``, ``'rotated'`` or ``'curved'``.
        font: Font file name.
    """

    polygon: np.ndarray
    text: str
    ignore: bool
    word: str
    char_height: float
    shape: str
    font: str

    def to_json(self) -> dict:
        """The MMOCR ``textspotting`` instance dict (integer coordinates)."""
        xs, ys = self.polygon[:, 0], self.polygon[:, 1]
        return {
            'polygon': [int(v) for v in self.polygon.reshape(-1)],
            'bbox': [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())],
            'bbox_label': 0,
            'ignore': bool(self.ignore),
            'text': self.text,
        }


@dataclass
class SynthSample:
    """A rendered image with its annotations.

    Attributes:
        image: uint8 (H, W, 3) RGB.
        regime: The text size regime (see the module docstring).
        instances: The words, in reading order (top to bottom, then left to right).
        masks: With ``keep_masks``, per instance ``(x, y, alpha)``: the uint8 coverage patch of
            its ink pasted at column ``x``, row ``y``; else None.
    """

    image: np.ndarray
    regime: str
    instances: List[SynthInstance] = field(default_factory=list)
    masks: Optional[List[Tuple[int, int, np.ndarray]]] = None


def _check_keys(value: object, names: Sequence[str], key: str, kind: str, what: str) -> None:
    """Raise unless ``value`` is a dict whose keys are among ``names`` (``synth_cfg.<key>``)."""
    if not isinstance(value, Mapping):
        raise ValueError(f'synth_cfg.{key} must be a dict of {kind} -> {what}, got {value!r}')
    unknown = sorted(set(value) - set(names))
    if unknown:
        raise ValueError(f'synth_cfg.{key}: unknown {kind}s {unknown}; '
                         f'valid ones are {list(names)}')


def _resolve_probs(probs: Optional[Mapping[str, float]], names: Sequence[str],
                   defaults: Dict[str, float], key: str, kind: str) -> Dict[str, float]:
    """Validate and normalise ``{name: probability}`` over ``names`` (None -> ``defaults``).

    Raises:
        ValueError: On unknown names, negative values or an all-zero dict, naming
            ``synth_cfg.<key>``.
    """
    if probs is None:
        probs = defaults
    _check_keys(probs, names, key, kind, 'probability')
    out = {k: float(probs.get(k, 0.0)) for k in names}
    total = sum(out.values())
    if any(v < 0 for v in out.values()) or total <= 0:
        raise ValueError(f'synth_cfg.{key} must be non-negative with a positive sum, '
                         f'got {probs}')
    if abs(total - 1.0) < 1e-9:  # already normalised: keep the exact values (idempotent)
        return out
    return {k: v / total for k, v in out.items()}


def resolve_regime_probs(regime_probs: Optional[Dict[str, float]]) -> Dict[str, float]:
    """Validate and normalise regime probabilities (None -> :data:`DEFAULT_REGIME_PROBS`).

    Raises:
        ValueError: On unknown regimes, negative values or an all-zero dict.
    """
    return _resolve_probs(regime_probs, REGIMES, DEFAULT_REGIME_PROBS, 'regime_probs', 'regime')


def resolve_shape_probs(shape_probs: Optional[Dict[str, float]]) -> Dict[str, float]:
    """Validate and normalise word shape probabilities (None -> :data:`DEFAULT_SHAPE_PROBS`).

    Raises:
        ValueError: On unknown shapes, negative values or an all-zero dict.
    """
    return _resolve_probs(shape_probs, SHAPES, DEFAULT_SHAPE_PROBS, 'shape_probs', 'shape')


def split_id(split: Union[str, int]) -> int:
    """Map ``'train'``/``'test'`` (or an int) to the id used in the per-image seed."""
    if isinstance(split, int):
        return split
    if split not in SPLIT_IDS:
        raise ValueError(f'unknown split {split!r}; expected one of {list(SPLIT_IDS)}')
    return SPLIT_IDS[split]


def _luma(colour: np.ndarray) -> float:
    return float(np.dot(_LUMA, colour))


def _text_colour(rng: np.random.Generator, bg_mean: np.ndarray, contrast: float) -> np.ndarray:
    """A colour whose luminance differs from ``bg_mean``'s by ``contrast`` (when possible)."""
    y_bg = _luma(bg_mean)
    up, down = 255.0 - y_bg, y_bg
    sign = 1.0 if rng.random() < 0.5 else -1.0
    if not (up >= contrast and down >= contrast):
        sign = 1.0 if up > down else -1.0
        contrast = min(contrast, max(up, down))
    chroma = rng.normal(0.0, 1.0, 3).astype(np.float32)
    chroma -= _luma(chroma)  # no luminance change, colour only
    chroma *= rng.uniform(0, 80) / max(float(np.linalg.norm(chroma)), 1e-6)
    return np.clip(y_bg + sign * contrast + chroma, 0, 255).astype(np.float32)


def _legible_contrast(rng: np.random.Generator) -> float:
    r = rng.random()
    if r < 0.6:
        return float(rng.uniform(90, 200))
    if r < 0.9:
        return float(rng.uniform(45, 90))
    return float(rng.uniform(30, 45))


def char_height_range(size_class: str, img_size: int) -> Tuple[float, float]:
    """Char height range (px) of a size class in images whose long side is ``img_size``."""
    lo, hi = CHAR_HEIGHTS[size_class]
    return lo, max(lo, min(hi, MAX_CHAR_FRACTION * img_size))


def resolve_words_per_image(
        words_per_image: Optional[Mapping[str, Sequence[int]]]) -> Dict[str, Tuple[int, int]]:
    """Validate per-regime word count ranges, filling in :data:`WORDS_PER_IMAGE`.

    Args:
        words_per_image: ``{regime: (min, max)}`` for some of ``large``, ``small`` and
            ``mixed`` (``mixed`` needs at least 2: one large and one small word); None: defaults.

    Raises:
        ValueError: On unknown regimes or invalid ranges, naming the key.
    """
    out = dict(WORDS_PER_IMAGE)
    if words_per_image is None:
        return out
    _check_keys(words_per_image, tuple(WORDS_PER_IMAGE), 'words_per_image', 'regime',
                '(min, max)')
    for regime, value in words_per_image.items():
        low = 2 if regime == 'mixed' else 1
        if (not isinstance(value, Sequence) or len(value) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
                or not low <= value[0] <= value[1]):
            raise ValueError(f'synth_cfg.words_per_image.{regime} must be (min, max) integers '
                             f'with {low} <= min <= max, got {value!r}')
        out[regime] = (int(value[0]), int(value[1]))
    return out


def _plan_sizes(rng: np.random.Generator, regime: str,
                words_per_image: Mapping[str, Tuple[int, int]] = WORDS_PER_IMAGE) -> List[str]:
    """Size classes of the words of an image, largest first."""
    if regime == 'empty':
        return []
    lo, hi = words_per_image[regime]
    n = int(rng.integers(lo, hi + 1))
    if regime in ('large', 'small'):
        return [regime] * n
    rest = [('small', 'medium', 'large')[int(rng.integers(3))] for _ in range(n - 2)]
    order = {'large': 0, 'medium': 1, 'small': 2}
    return sorted(['large', 'small'] + rest, key=order.__getitem__)


def _curved_baseline(rng: np.random.Generator, length: float, font_size: int,
                     margin: float) -> Baseline:
    """A random arc or sine baseline long enough for ``length`` px of text."""
    half = length / 2 + 2 * margin + font_size
    # Keep the radius of curvature well above the text height so that the polygon's inner edge
    # does not fold over itself.
    max_curv = 1.0 / (2.5 * font_size)
    if rng.random() < 0.6:
        turn = math.radians(rng.uniform(40, 150))
        curv = min(turn / max(length, 1.0), max_curv)
        base = Baseline.arc(half, curv if rng.random() < 0.5 else -curv)
    else:
        wavelength = rng.uniform(0.7, 1.6) * length
        amp = rng.uniform(0.08, 0.25) * length
        k = 2 * math.pi / wavelength
        amp = min(amp, max_curv / k**2, math.tan(math.radians(35)) / k)
        base = Baseline.sine(half, amp, wavelength, rng.uniform(0, 2 * math.pi))
    return base.rotated(rng.uniform(-15, 15))


def _render_word(rng: np.random.Generator, sampler: WordSampler, size_class: str,
                 care: str, img_size: int, fonts: Sequence[str], max_hw: Tuple[int, int],
                 shape_probs: Sequence[float] = SHAPE_PROBS
                 ) -> Optional[Tuple[WordPatch, SynthInstance, dict]]:
    """Draw a word of a size class and render it; None if it does not fit after retries.

    Args:
        care: ``'legible'`` or the don't-care kind: ``'tiny'``, ``'blur'`` or ``'faint'``.
        shape_probs: Probabilities of :data:`SHAPES`, in that order.

    Returns:
        (patch, instance with the polygon in patch coordinates, style for compositing).
    """
    for _ in range(_WORD_TRIES):
        text = sampler.sample(rng)
        font_path = fonts[int(rng.integers(len(fonts)))]
        cls = 'tiny' if care == 'tiny' else size_class
        char_h = float(rng.uniform(*char_height_range(cls, img_size)))
        font_size = max(4, int(round(char_h / cap_height_ratio(font_path))))
        font = get_font(font_path, font_size)
        margin = max(2.0, 0.08 * char_h)
        shape = SHAPES[int(rng.choice(3, p=shape_probs))]
        if shape == 'curved' and (len(text) < 3 or char_h < 10):
            shape = 'rotated'
        stroke = 0
        if care == 'legible' and char_h >= 14 and rng.random() < 0.15:
            stroke = max(1, int(round(0.06 * font_size)))
        blur = float(rng.uniform(0.3, 0.5) * char_h) if care == 'blur' else 0.0
        if shape == 'curved':
            spacing = float(rng.uniform(0, 0.08) * font_size)
            length = font.getlength(text) + spacing * (len(text) - 1)
            baseline = _curved_baseline(rng, length, font_size, margin)
            patch = render_curved(font, text, baseline, margin, stroke, blur, spacing,
                                  CURVE_POINTS)
        else:
            angle = 0.0
            if shape == 'rotated':
                angle = float(rng.uniform(5, 60)) * (1 if rng.random() < 0.5 else -1)
            patch = render_straight(font, text, angle, margin, stroke, blur)
        if patch is None or patch.shape[0] > max_hw[0] or patch.shape[1] > max_hw[1]:
            continue
        if care == 'faint':
            contrast = float(rng.uniform(4, 12))
        else:
            contrast = _legible_contrast(rng)
        style = dict(contrast=contrast, opacity=float(rng.uniform(0.85, 1.0)),
                     stroke_contrast=float(rng.uniform(80, 200)))
        legible = care == 'legible'
        inst = SynthInstance(patch.polygon, text if legible else '###', not legible, text,
                             char_h, shape, os.path.basename(font_path))
        return patch, inst, style
    return None


def _composite(img: np.ndarray, x: int, y: int, alpha: np.ndarray, colour: np.ndarray,
               opacity: float) -> None:
    """Alpha-blend ``colour`` into ``img`` through ``alpha`` at (x, y), in place."""
    h, w = alpha.shape
    region = img[y:y + h, x:x + w]
    a = alpha.astype(np.float32)[..., None] * (opacity / 255.0)
    region *= 1.0 - a
    region += a * colour


def _degrade(rng: np.random.Generator, img: np.ndarray, regime: str) -> np.ndarray:
    """Image-level lighting, blur and sensor noise."""
    height, width = img.shape[:2]
    if rng.random() < 0.3:  # uneven lighting: a smooth multiplicative shading
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        angle = rng.uniform(0, 2 * np.pi)
        t = xs * np.cos(angle) + ys * np.sin(angle)
        t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
        img *= (1.0 - rng.uniform(0.2, 0.5) * t)[..., None]
    if rng.random() < 0.25:
        # Small text stays readable at full resolution: blur it less.
        sigma = rng.uniform(0.3, 1.0) if regime == 'large' else rng.uniform(0.3, 0.6)
        img = cv2.GaussianBlur(img, (0, 0), sigmaX=sigma, sigmaY=sigma)
    if rng.random() < 0.5:
        img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(rng.uniform(2, 8))
    return img


def render_sample(seed: int, split: Union[str, int], index: int, img_size: int = 640,
                  regime_probs: Optional[Dict[str, float]] = None,
                  keep_masks: bool = False,
                  vocab_size: Optional[int] = None,
                  text_mix: str = 'scene',
                  shape_probs: Optional[Dict[str, float]] = None,
                  words_per_image: Optional[Dict[str, Sequence[int]]] = None) -> SynthSample:
    """Render image ``index`` of ``split`` for ``seed``.

    Args:
        seed: Base seed of the data set.
        split: ``'train'``, ``'test'`` or a split id.
        index: Image index within the split.
        img_size: Long side of the image in pixels (the short side is the same or 3/4 of it).
        regime_probs: Probabilities of the text size regimes (default
            :data:`DEFAULT_REGIME_PROBS`; missing regimes get 0).
        keep_masks: Also return each instance's ink coverage (for tests and visualisation).
        vocab_size: Words come from the ``vocab_size`` most frequent ones (None: all).
        text_mix: ``'scene'`` (mixed case, numbers, codes, punctuation) or
            ``'lowercase_words'`` (see :class:`.words.WordSampler`).
        shape_probs: Probabilities of the word shapes (default :data:`DEFAULT_SHAPE_PROBS`).
        words_per_image: Word count ranges per regime (default :data:`WORDS_PER_IMAGE`); an
            image holds fewer words when they do not all fit.

    Returns:
        The sample; deterministic in its arguments.
    """
    if img_size < 64:
        raise ValueError(f'synth_cfg.img_size must be >= 64, got {img_size}')
    rng = np.random.default_rng([int(seed), split_id(split), int(index)])
    probs = resolve_regime_probs(regime_probs)
    shapes = resolve_shape_probs(shape_probs)
    counts = resolve_words_per_image(words_per_image)
    aspect = rng.random()
    short = int(round(img_size * 0.75))
    height, width = ((img_size, img_size) if aspect < 0.5 else
                     (short, img_size) if aspect < 0.8 else (img_size, short))
    regime = REGIMES[int(rng.choice(len(REGIMES), p=[probs[k] for k in REGIMES]))]
    img = make_background(rng, height, width)
    fonts = list_fonts()
    sampler = _sampler(vocab_size, text_mix)
    occupied = np.zeros((height, width), np.uint8)
    placed: List[Tuple[SynthInstance, int, int, np.ndarray]] = []
    for size_class in _plan_sizes(rng, regime, counts):
        care = 'legible'
        if rng.random() < DONT_CARE_PROB:
            kinds = ('blur', 'faint') if regime == 'large' else ('tiny', 'blur', 'faint')
            care = kinds[int(rng.integers(len(kinds)))]
        rendered = _render_word(rng, sampler, size_class, care, img_size, fonts,
                                (height, width), [shapes[k] for k in SHAPES])
        if rendered is None:
            continue
        patch, inst, style = rendered
        ph, pw = patch.shape
        poly_mask = np.zeros((ph, pw), np.uint8)
        cv2.fillPoly(poly_mask, [patch.polygon.reshape(-1, 1, 2)], 1)
        for _ in range(_PLACE_TRIES):
            x = int(rng.integers(0, width - pw + 1))
            y = int(rng.integers(0, height - ph + 1))
            if not np.any(occupied[y:y + ph, x:x + pw] & poly_mask):
                break
        else:
            continue
        poly = patch.polygon + np.array([x, y], np.int32)
        # Keep a gap around each word so that words never touch.
        gap = max(2, int(round(0.3 * inst.char_height)))
        cv2.fillPoly(occupied, [poly.reshape(-1, 1, 2)], 1)
        cv2.polylines(occupied, [poly.reshape(-1, 1, 2)], True, 1, 2 * gap)
        bg_mean = img[y:y + ph, x:x + pw][poly_mask > 0].mean(axis=0)
        colour = _text_colour(rng, bg_mean, style['contrast'])
        if patch.fill_alpha is not None:
            outline = _text_colour(rng, colour, style['stroke_contrast'])
            _composite(img, x, y, patch.alpha, outline, style['opacity'])
            _composite(img, x, y, patch.fill_alpha, colour, style['opacity'])
        else:
            _composite(img, x, y, patch.alpha, colour, style['opacity'])
        inst.polygon = np.clip(poly, 0, [width - 1, height - 1]).astype(np.int32)
        placed.append((inst, x, y, patch.alpha))
    img = _degrade(rng, img, regime)
    image = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    placed.sort(key=lambda p: (int(p[0].polygon[:, 1].min()), int(p[0].polygon[:, 0].min())))
    sample = SynthSample(image, regime, [p[0] for p in placed])
    if keep_masks:
        sample.masks = [(p[1], p[2], p[3]) for p in placed]
    return sample


_SAMPLERS: Dict[Tuple[Optional[int], str], WordSampler] = {}


def _sampler(vocab_size: Optional[int] = None, text_mix: str = 'scene') -> WordSampler:
    """The process-wide sampler over the bundled word list (one per setting, loaded once)."""
    key = (vocab_size, text_mix)
    if key not in _SAMPLERS:
        _SAMPLERS[key] = WordSampler(vocab_size=vocab_size, text_mix=text_mix)
    return _SAMPLERS[key]
