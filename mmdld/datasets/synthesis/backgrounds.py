"""Backgrounds for the synthetic images: procedural textures plus matplotlib's sample images.

Scene text sits on signs, walls, packaging and photos, next to strokes that look like letters. The
generator cannot download photos, so it mixes procedural surfaces (gradients, fractal noise, wood,
bricks, sign panels) with the two text-free natural images that ship in matplotlib's
``sample_data`` (a photograph and a terrain elevation map), and overlays letter-like clutter
(lines, arcs, rings, rectangles) as hard negatives for the detector.

All functions return float32 RGB arrays in [0, 255] of shape (height, width, 3) and draw every
random number from the given generator, in a fixed order.
"""
import functools
import os
from typing import Optional

import cv2
import numpy as np

#: Background kinds and their probabilities.
BACKGROUND_KINDS = ('gradient', 'fractal', 'wood', 'bricks', 'panels', 'photo', 'terrain')
BACKGROUND_PROBS = (0.15, 0.2, 0.1, 0.1, 0.2, 0.15, 0.1)
#: Probability of letter-like clutter on top of the background.
CLUTTER_PROB = 0.5


def _random_colour(rng: np.random.Generator, low: float = 0.0, high: float = 255.0) -> np.ndarray:
    return rng.uniform(low, high, 3).astype(np.float32)


def _smooth_noise(rng: np.random.Generator, height: int, width: int, cells: int,
                  channels: int = 1) -> np.ndarray:
    """Value noise in [0, 1]: a ``cells``-wide random grid upsampled bicubically."""
    cy = max(2, int(round(cells * height / max(height, width))))
    cx = max(2, int(round(cells * width / max(height, width))))
    grid = rng.random((cy, cx, channels), dtype=np.float32)
    out = cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(out.reshape(height, width, channels), 0.0, 1.0)


def _fractal(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Three octaves of value noise, normalised to [0, 1]."""
    out = np.zeros((height, width, 1), np.float32)
    for octave, cells in enumerate((4, 16, 64)):
        out += _smooth_noise(rng, height, width, cells) * (0.5**octave)
    out -= out.min()
    return out / max(float(out.max()), 1e-6)


def _two_tone(t: np.ndarray, c0: np.ndarray, c1: np.ndarray) -> np.ndarray:
    """Blend two colours with weights ``t`` (h, w, 1)."""
    return c0 + t * (c1 - c0)  # one multiply-add per pixel


def _gradient(rng, height, width):
    angle = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    t = xs * np.cos(angle) + ys * np.sin(angle)
    t = ((t - t.min()) / max(float(np.ptp(t)), 1e-6))[..., None]
    base = _two_tone(t, _random_colour(rng), _random_colour(rng))
    return base + (_smooth_noise(rng, height, width, 6, 3) - 0.5) * rng.uniform(10, 60)


def _fractal_bg(rng, height, width):
    return _two_tone(_fractal(rng, height, width), _random_colour(rng), _random_colour(rng))


def _wood(rng, height, width):
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    warp = _smooth_noise(rng, height, width, 5)[..., 0] * rng.uniform(20, 80)
    period = rng.uniform(8, 40)
    coord = ys if rng.random() < 0.5 else xs
    t = (0.5 + 0.5 * np.sin(2 * np.pi * (coord + warp) / period))[..., None]
    c0 = _random_colour(rng, 60, 200)
    return _two_tone(t, c0, c0 * rng.uniform(0.5, 0.9))


def _bricks(rng, height, width):
    mortar = _random_colour(rng, 150, 230)
    img = np.empty((height, width, 3), np.float32)
    img[:] = mortar
    brick_h = int(rng.integers(20, 60))
    brick_w = int(brick_h * rng.uniform(1.8, 3.0))
    gap = int(rng.integers(2, 6))
    base = _random_colour(rng, 60, 200)
    for row, y in enumerate(range(0, height, brick_h)):
        shift = (brick_w // 2) * (row % 2)
        for x in range(-shift, width, brick_w):
            colour = np.clip(base + rng.normal(0, 15, 3), 0, 255)
            x0, y0 = max(x + gap, 0), y + gap
            img[y0:y + brick_h, x0:max(x + brick_w, 0)] = colour
    return img + (_fractal(rng, height, width) - 0.5) * 40


def _panels(rng, height, width):
    """A plain wall with a few flat sign panels (where text usually sits)."""
    img = _fractal_bg(rng, height, width) * 0.3 + _random_colour(rng) * 0.7
    for _ in range(int(rng.integers(1, 5))):
        w = int(rng.uniform(0.3, 0.9) * width)
        h = int(rng.uniform(0.15, 0.6) * height)
        x = int(rng.integers(0, width - w + 1))
        y = int(rng.integers(0, height - h + 1))
        colour = _random_colour(rng)
        img[y:y + h, x:x + w] = colour
        if rng.random() < 0.5:
            border = tuple(float(c) for c in _random_colour(rng))
            cv2.rectangle(img, (x, y), (x + w - 1, y + h - 1), border,
                          int(rng.integers(2, 8)))
    return img


@functools.lru_cache(maxsize=None)
def _sample_image(name: str) -> Optional[np.ndarray]:
    """Load a file of matplotlib's ``sample_data`` as float32 RGB (None if absent)."""
    import matplotlib
    path = os.path.join(matplotlib.get_data_path(), 'sample_data', name)
    if not os.path.isfile(path):
        return None
    if name.endswith('.npz'):
        with np.load(path) as data:
            elev = data['elevation'].astype(np.float32)
        # Hill shading: the gradient along a light direction turns the elevation into relief.
        gy, gx = np.gradient(elev)
        shade = gx - gy
        shade = (shade - shade.min()) / max(float(np.ptp(shade)), 1e-6)
        return np.repeat(shade[..., None] * 255.0, 3, axis=2)
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    return None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32)


def _crop_of(rng, src: np.ndarray, height: int, width: int) -> np.ndarray:
    sh, sw = src.shape[:2]
    frac = rng.uniform(0.4, 1.0)
    ch, cw = max(8, int(sh * frac)), max(8, int(sw * frac))
    y = int(rng.integers(0, sh - ch + 1))
    x = int(rng.integers(0, sw - cw + 1))
    crop = cv2.resize(src[y:y + ch, x:x + cw], (width, height), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return crop


def _photo(rng, height, width):
    src = _sample_image('grace_hopper.jpg')
    if src is None:  # matplotlib without sample data: fall back to a procedural surface
        return _fractal_bg(rng, height, width)
    gain = rng.uniform(0.6, 1.3, 3).astype(np.float32)
    return _crop_of(rng, src, height, width) * gain + rng.uniform(-30, 30)


def _terrain(rng, height, width):
    src = _sample_image('jacksboro_fault_dem.npz')
    if src is None:
        return _fractal_bg(rng, height, width)
    t = _crop_of(rng, src, height, width)[..., :1] / 255.0
    return _two_tone(t, _random_colour(rng), _random_colour(rng))


_MAKERS = {
    'gradient': _gradient,
    'fractal': _fractal_bg,
    'wood': _wood,
    'bricks': _bricks,
    'panels': _panels,
    'photo': _photo,
    'terrain': _terrain,
}


def add_clutter(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Draw letter-like strokes (lines, arcs, rings, boxes) onto ``img`` in place."""
    height, width = img.shape[:2]
    scale = max(height, width)
    for _ in range(int(rng.integers(3, 15))):
        colour = tuple(float(c) for c in _random_colour(rng))
        thickness = int(rng.integers(1, max(2, scale // 80)))
        kind = int(rng.integers(4))
        p0 = (int(rng.integers(width)), int(rng.integers(height)))
        if kind == 0:
            p1 = (int(rng.integers(width)), int(rng.integers(height)))
            cv2.line(img, p0, p1, colour, thickness, cv2.LINE_AA)
        elif kind == 1:
            axes = (int(rng.integers(3, scale // 8)), int(rng.integers(3, scale // 8)))
            start = float(rng.uniform(0, 360))
            cv2.ellipse(img, p0, axes, float(rng.uniform(0, 180)), start,
                        start + float(rng.uniform(60, 300)), colour, thickness, cv2.LINE_AA)
        elif kind == 2:
            cv2.circle(img, p0, int(rng.integers(2, scale // 20)), colour, thickness, cv2.LINE_AA)
        else:
            size = rng.integers(4, scale // 6, size=2)
            p1 = (p0[0] + int(size[0]), p0[1] + int(size[1]))
            cv2.rectangle(img, p0, p1, colour, thickness, cv2.LINE_AA)
    return img


def make_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Return a random background.

    Args:
        rng: The image's random generator.
        height: Image height in pixels.
        width: Image width in pixels.

    Returns:
        float32 (height, width, 3) RGB in [0, 255].
    """
    kind = BACKGROUND_KINDS[int(rng.choice(len(BACKGROUND_KINDS), p=BACKGROUND_PROBS))]
    img = np.ascontiguousarray(_MAKERS[kind](rng, height, width), dtype=np.float32)
    if rng.random() < CLUTTER_PROB:
        img = add_clutter(rng, img)
    return np.clip(img, 0.0, 255.0, out=img)
