"""Rendering of one word into a coverage mask with a tight polygon.

A word is drawn as an 8-bit coverage ("alpha") patch in its own frame together with the polygon
that annotates it; the image composer later colours and pastes the patch. Two geometries:

* straight words (horizontal or rotated): the whole word is drawn with PIL, then rotated with
  OpenCV; the polygon is the 4-point box of the ink, clockwise from the text's top-left corner;
* curved words: every character is drawn on its own and pasted, rotated to the local tangent,
  along a baseline curve (circular arc or sine wave); the polygon has ``2 * n_points`` points,
  ``n_points`` on the top edge left to right then ``n_points`` on the bottom edge right to left
  (the Total-Text / CTW layout).

Polygons are fitted, not assumed: after building one with a margin, the ink is checked against
its rasterisation, eroded by one pixel, and the margin grows until every pixel with coverage
>= :data:`GLYPH_ALPHA_MIN` lies strictly inside. So "the polygon encloses the glyphs" holds by
construction, with one pixel to spare for other rasterisers.

Ours because MMOCR and MMDetection render no text and SynthText-style engines need downloads.
"""
import math
from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

#: A pixel whose coverage is at least this (of 255, i.e. 1/16) counts as a glyph pixel.
GLYPH_ALPHA_MIN = 16
#: Attempts at growing the margin before a word is given up (it then is not placed).
_MAX_FIT_ATTEMPTS = 8
_ERODE_KERNEL = np.ones((3, 3), np.uint8)


@dataclass
class WordPatch:
    """A rendered word in its own frame.

    Attributes:
        alpha: uint8 (h, w) coverage of all ink (outline stroke included).
        fill_alpha: uint8 (h, w) coverage of the letter fill when the word has an outline
            stroke of another colour, else None (the fill is ``alpha``).
        polygon: int32 (N, 2) annotation polygon in patch pixel coordinates (pixel centres at
            integers); every point lies inside the patch.
    """

    alpha: np.ndarray
    fill_alpha: Optional[np.ndarray]
    polygon: np.ndarray

    @property
    def shape(self) -> Tuple[int, int]:
        """(height, width) of the patch."""
        return self.alpha.shape


class Baseline:
    """A baseline curve parameterised by arc length ``s``, centred at ``s = 0``.

    Stored as a dense polyline; :meth:`at` interpolates positions and tangent angles. Angles are
    in image coordinates (y down): ``phi > 0`` turns the writing direction clockwise on screen.

    Args:
        points: (K, 2) dense points in order of writing.
    """

    def __init__(self, points: np.ndarray) -> None:
        deltas = np.diff(points, axis=0)
        seg = np.hypot(deltas[:, 0], deltas[:, 1])
        s = np.concatenate([[0.0], np.cumsum(seg)])
        phi = np.unwrap(np.arctan2(deltas[:, 1], deltas[:, 0]))
        # Tangent angles are known at segment midpoints.
        self._s_mid = (s[:-1] + s[1:]) / 2
        self._phi = phi
        # Centre the parameter on the middle of the curve's x range (where x crosses 0).
        s0 = float(np.interp(0.0, points[:, 0], s)) if np.all(deltas[:, 0] > 0) else s[-1] / 2
        self._s = s - s0
        self._s_mid = self._s_mid - s0
        self._pts = points

    @classmethod
    def arc(cls, half_length: float, curvature: float) -> 'Baseline':
        """A circular arc of signed ``curvature`` (1/radius) through (0, 0), horizontal there.

        ``curvature > 0`` bends the ends down (text on the outside of a circle, a frown);
        ``< 0`` bends them up (a smile).
        """
        s = np.linspace(-half_length, half_length, 257)
        if abs(curvature) < 1e-9:
            return cls(np.stack([s, np.zeros_like(s)], axis=1))
        theta = curvature * s
        pts = np.stack([np.sin(theta) / curvature, (1 - np.cos(theta)) / curvature], axis=1)
        return cls(pts)

    @classmethod
    def sine(cls, half_length: float, amplitude: float, wavelength: float,
             phase: float) -> 'Baseline':
        """``y = amplitude * sin(2 pi x / wavelength + phase)`` over ``|x| <= half_length``."""
        x = np.linspace(-half_length, half_length, 257)
        y = amplitude * np.sin(2 * np.pi * x / wavelength + phase)
        return cls(np.stack([x, y], axis=1))

    def rotated(self, angle_deg: float) -> 'Baseline':
        """Return the curve rotated counter-clockwise on screen by ``angle_deg`` about (0, 0)."""
        a = math.radians(angle_deg)
        rot = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
        out = Baseline.__new__(Baseline)
        out._pts = self._pts @ rot.T
        out._s = self._s
        out._s_mid = self._s_mid
        out._phi = self._phi - a
        return out

    @property
    def half_length(self) -> float:
        """The smaller distance (in arc length) from ``s = 0`` to an end of the curve."""
        return float(min(-self._s[0], self._s[-1]))

    def at(self, s: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Return the points (len(s), 2) and tangent angles (len(s),) at arc lengths ``s``."""
        s = np.asarray(s, dtype=np.float64)
        x = np.interp(s, self._s, self._pts[:, 0])
        y = np.interp(s, self._s, self._pts[:, 1])
        phi = np.interp(s, self._s_mid, self._phi)
        return np.stack([x, y], axis=1), phi


def _draw(font: ImageFont.FreeTypeFont, text: str, size: Tuple[int, int],
          origin: Tuple[int, int], stroke_width: int) -> np.ndarray:
    """Draw ``text`` (baseline-left anchored at ``origin``) as a uint8 coverage array."""
    img = Image.new('L', size, 0)
    ImageDraw.Draw(img).text(
        origin, text, font=font, fill=255, anchor='ls', stroke_width=stroke_width)
    return np.asarray(img)


def _draw_char(font: ImageFont.FreeTypeFont, char: str,
               stroke_width: int) -> Tuple[np.ndarray, Optional[np.ndarray], Tuple[int, int]]:
    """Draw one character; return (alpha, fill or None, origin of its baseline-left point)."""
    left, top, right, bottom = font.getbbox(char, anchor='ls', stroke_width=stroke_width)
    size = (max(right - left, 1) + 2, max(bottom - top, 1) + 2)
    origin = (1 - left, 1 - top)
    alpha = _draw(font, char, size, origin, stroke_width)
    fill = _draw(font, char, size, origin, 0) if stroke_width else None
    return alpha, fill, origin


def _ink_box(alpha: np.ndarray) -> Optional[Tuple[int, int, int, int]]:
    """Return (x0, y0, x1, y1) of pixels with any coverage (inclusive), or None if blank."""
    rows = np.flatnonzero(alpha.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(alpha.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])


def _blur(alpha: np.ndarray, fill: Optional[np.ndarray], sigma: float,
          pad: int) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Pad by ``pad`` and Gaussian-blur the coverage arrays (for illegible words)."""
    out = []
    for arr in (alpha, fill):
        if arr is None:
            out.append(None)
            continue
        arr = np.pad(arr, pad)
        out.append(cv2.GaussianBlur(arr, (0, 0), sigmaX=sigma, sigmaY=sigma))
    return out[0], out[1]


def encloses(alpha: np.ndarray, polygon: np.ndarray, min_alpha: int = GLYPH_ALPHA_MIN,
             inset: int = 1) -> bool:
    """Check that all pixels with coverage >= ``min_alpha`` are inside ``polygon``.

    Args:
        alpha: uint8 (h, w) coverage.
        polygon: (N, 2) integer polygon in the same frame.
        min_alpha: Coverage that counts as ink.
        inset: Pixels by which the ink must stay inside the rasterised polygon.

    Returns:
        True if the polygon encloses the ink.
    """
    mask = np.zeros(alpha.shape, np.uint8)
    cv2.fillPoly(mask, [polygon.astype(np.int32).reshape(-1, 1, 2)], 1)
    if inset:
        mask = cv2.erode(mask, _ERODE_KERNEL, iterations=inset)
    return not np.any((alpha >= min_alpha) & (mask == 0))


def _fit(alpha: np.ndarray, fill: Optional[np.ndarray],
         polygon_fn: Callable[[float], np.ndarray], margin: float) -> Optional[WordPatch]:
    """Grow the margin until the rounded polygon encloses the ink; crop the patch to it.

    Args:
        alpha: Coverage of the ink, in the frame of ``polygon_fn``.
        fill: Fill coverage or None.
        polygon_fn: margin -> float (N, 2) polygon in the same frame.
        margin: Initial margin in pixels.

    Returns:
        The cropped patch, or None if no margin up to the attempt limit works.
    """
    step = max(1.0, 0.25 * margin)
    for _ in range(_MAX_FIT_ATTEMPTS):
        poly = np.round(polygon_fn(margin)).astype(np.int64)
        # Pad the canvas if the polygon (plus one pixel) reaches outside it.
        h, w = alpha.shape
        lo = np.minimum(poly.min(axis=0) - 1, 0)
        hi = np.maximum(poly.max(axis=0) + 2 - np.array([w, h]), 0)
        if lo.any() or hi.any():
            pads = ((int(-lo[1]), int(hi[1])), (int(-lo[0]), int(hi[0])))
            alpha = np.pad(alpha, pads)
            fill = None if fill is None else np.pad(fill, pads)
            shift = -lo.astype(np.float64)
            base_fn = polygon_fn
            polygon_fn = (lambda m, f=base_fn, d=shift: f(m) + d)  # noqa: E731
            poly = poly - lo
        if encloses(alpha, poly):
            x0, y0 = poly.min(axis=0) - 1
            x1, y1 = poly.max(axis=0) + 2
            alpha = np.ascontiguousarray(alpha[y0:y1, x0:x1])
            fill = None if fill is None else np.ascontiguousarray(fill[y0:y1, x0:x1])
            return WordPatch(alpha, fill, (poly - [x0, y0]).astype(np.int32))
        margin += step
    return None


def render_straight(font: ImageFont.FreeTypeFont, text: str, angle: float = 0.0,
                    margin: float = 2.0, stroke_width: int = 0,
                    blur_sigma: float = 0.0) -> Optional[WordPatch]:
    """Render a horizontal or rotated word with its 4-point polygon.

    Args:
        font: The font at its pixel size.
        text: The word (no spaces).
        angle: Counter-clockwise rotation on screen, in degrees.
        margin: Gap in pixels between the ink and the polygon (grown if needed).
        stroke_width: Width of an outline stroke (0 for none).
        blur_sigma: Gaussian blur of the coverage, in pixels (0 for none).

    Returns:
        The patch, or None if the text has no ink or no polygon fits.
    """
    left, top, right, bottom = font.getbbox(text, anchor='ls', stroke_width=stroke_width)
    pad = 2
    size = (right - left + 2 * pad, bottom - top + 2 * pad)
    origin = (pad - left, pad - top)
    alpha = _draw(font, text, size, origin, stroke_width)
    fill = _draw(font, text, size, origin, 0) if stroke_width else None
    if blur_sigma > 0:
        alpha, fill = _blur(alpha, fill, blur_sigma, int(math.ceil(3 * blur_sigma)))
    # Fitting the box to the pixels that count as ink keeps blurred words' boxes tight too.
    box = _ink_box(alpha >= GLYPH_ALPHA_MIN)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    h, w = alpha.shape
    if angle:
        centre = ((w - 1) / 2, (h - 1) / 2)
        mat = cv2.getRotationMatrix2D(centre, angle, 1.0)
        corners = np.array([[-1, -1, 1], [w, -1, 1], [w, h, 1], [-1, h, 1]], np.float64)
        moved = corners @ mat.T
        lo = np.floor(moved.min(axis=0))
        hi = np.ceil(moved.max(axis=0))
        mat[:, 2] -= lo
        out_size = (int(hi[0] - lo[0]) + 1, int(hi[1] - lo[1]) + 1)
        alpha = cv2.warpAffine(alpha, mat, out_size, flags=cv2.INTER_LINEAR)
        if fill is not None:
            fill = cv2.warpAffine(fill, mat, out_size, flags=cv2.INTER_LINEAR)
    else:
        mat = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])

    def polygon_fn(m: float) -> np.ndarray:
        rect = np.array([[x0 - m, y0 - m, 1], [x1 + m, y0 - m, 1], [x1 + m, y1 + m, 1],
                         [x0 - m, y1 + m, 1]])
        return rect @ mat.T

    return _fit(alpha, fill, polygon_fn, margin)


def render_curved(font: ImageFont.FreeTypeFont, text: str, baseline: Baseline,
                  margin: float = 2.0, stroke_width: int = 0, blur_sigma: float = 0.0,
                  letter_spacing: float = 0.0, n_points: int = 7) -> Optional[WordPatch]:
    """Render a word along a curved baseline, one rotated character at a time.

    Args:
        font: The font at its pixel size.
        text: The word (no spaces).
        baseline: The curve; the text is centred on its ``s = 0`` and must fit in it.
        margin: Gap in pixels between the ink and the polygon (grown if needed).
        stroke_width: Width of an outline stroke (0 for none).
        blur_sigma: Gaussian blur of the coverage, in pixels (0 for none).
        letter_spacing: Extra space between characters, in pixels.
        n_points: Points per polygon side (the polygon has ``2 * n_points``).

    Returns:
        The patch, or None if the text has no ink or no polygon fits.

    Raises:
        ValueError: If the text is longer than the curve.
    """
    advances = [font.getlength(text[:i]) for i in range(len(text) + 1)]
    total = advances[-1] + letter_spacing * (len(text) - 1)
    chars: List[Tuple[np.ndarray, Optional[np.ndarray], np.ndarray]] = []
    centres = []
    asc = desc = 0.0
    s_lo, s_hi = math.inf, -math.inf
    for i, char in enumerate(text):
        width = advances[i + 1] - advances[i]
        s_c = advances[i] + width / 2 + i * letter_spacing - total / 2
        alpha, fill, (ox, oy) = _draw_char(font, char, stroke_width)
        box = _ink_box(alpha)
        if box is None:
            continue
        bx0, by0, bx1, by1 = box
        # The character's anchor is the middle of its advance on the baseline.
        ax = ox + width / 2
        asc = max(asc, oy - by0)
        desc = max(desc, by1 - oy)
        s_lo = min(s_lo, s_c + bx0 - ax)
        s_hi = max(s_hi, s_c + bx1 - ax)
        chars.append((alpha, fill, np.array([ax, oy], np.float64)))
        centres.append(s_c)
    if not chars:
        return None
    if max(-s_lo, s_hi) + margin + 2 > baseline.half_length:
        raise ValueError(f'text {text!r} ({total:.0f} px) does not fit on a baseline of '
                         f'half-length {baseline.half_length:.0f} px')
    points, phis = baseline.at(np.array(centres))
    # Affine maps (character canvas -> curve frame) and the bounds of all transformed canvases.
    mats = []
    bounds_lo = np.full(2, np.inf)
    bounds_hi = np.full(2, -np.inf)
    for (alpha, _, anchor), point, phi in zip(chars, points, phis):
        rot = np.array([[math.cos(phi), -math.sin(phi)], [math.sin(phi), math.cos(phi)]])
        mat = np.concatenate([rot, (point - rot @ anchor)[:, None]], axis=1)
        h, w = alpha.shape
        corners = np.array([[-1, -1, 1], [w, -1, 1], [w, h, 1], [-1, h, 1]], np.float64)
        moved = corners @ mat.T
        bounds_lo = np.minimum(bounds_lo, moved.min(axis=0))
        bounds_hi = np.maximum(bounds_hi, moved.max(axis=0))
        mats.append(mat)
    bpad = int(math.ceil(3 * blur_sigma)) if blur_sigma > 0 else 0
    offset = -np.floor(bounds_lo) + 1
    canvas_w = int(np.ceil(bounds_hi[0] + offset[0])) + 2
    canvas_h = int(np.ceil(bounds_hi[1] + offset[1])) + 2
    word_alpha = np.zeros((canvas_h, canvas_w), np.uint8)
    word_fill = np.zeros((canvas_h, canvas_w), np.uint8) if stroke_width else None
    for (alpha, fill, _), mat in zip(chars, mats):
        h, w = alpha.shape
        corners = np.array([[-1, -1, 1], [w, -1, 1], [w, h, 1], [-1, h, 1]], np.float64)
        moved = corners @ mat.T + offset
        x0, y0 = np.floor(moved.min(axis=0)).astype(int)
        x1, y1 = np.ceil(moved.max(axis=0)).astype(int) + 1
        local = mat.copy()
        local[:, 2] += offset - [x0, y0]
        size = (x1 - x0, y1 - y0)
        region = word_alpha[y0:y1, x0:x1]
        np.maximum(region, cv2.warpAffine(alpha, local, size, flags=cv2.INTER_LINEAR), out=region)
        if word_fill is not None:
            region = word_fill[y0:y1, x0:x1]
            np.maximum(region, cv2.warpAffine(fill, local, size, flags=cv2.INTER_LINEAR),
                       out=region)
    if bpad:
        word_alpha, word_fill = _blur(word_alpha, word_fill, blur_sigma, bpad)
        offset = offset + bpad
        margin += 1.5 * blur_sigma

    def polygon_fn(m: float) -> np.ndarray:
        s = np.linspace(s_lo - m, s_hi + m, n_points)
        pts, phi = baseline.at(s)
        up = np.stack([np.sin(phi), -np.cos(phi)], axis=1)
        top = pts + (asc + m) * up
        bottom = pts - (desc + m) * up
        return np.concatenate([top, bottom[::-1]], axis=0) + offset

    return _fit(word_alpha, word_fill, polygon_fn, margin)
