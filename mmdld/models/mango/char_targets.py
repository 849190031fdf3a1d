"""Pseudo character positions for MANGO's character attention, from word polygons alone.

MANGO's authors pre-train the character mask attention on synthetic character boxes; without
them it must find, from the recognition loss alone, which pixels hold the ``l``-th character,
and on the small CPU benchmark it does not (``docs/mango.md``: after 5,000 iterations the
attentions of different positions are distinct, but the recogniser reads every word as its
prior). The project's data have word polygons but no character boxes, so this module places
each word's ``n`` characters at equal arc-length steps along its centre line (the midpoints of
its top and bottom sides, ``text_geometry.split_sides``), at ``(l + 0.5) / n`` of its length:
exact for a monospaced word, about half a character off at worst for a proportional font.
"""
from typing import Sequence, Tuple

import numpy as np

from mmdld.models.utils.text_geometry import (as_text_polygon, cumulative_lengths,
                                              image_to_feature, points_at_lengths,
                                              split_sides)


def char_centres(polygon: np.ndarray, num_chars: int) -> np.ndarray:
    """``[num_chars, 2]`` pseudo character centres (input pixels) along a word's centre line.

    Args:
        polygon (np.ndarray): The word's polygon, top side left to right, then the bottom side
            right to left (the textspotting convention), an even number of points.
        num_chars (int): Characters of the word, at least 1.
    """
    if num_chars < 1:
        raise ValueError(f'char_centres: num_chars must be >= 1, got {num_chars}')
    top, bottom = split_sides(as_text_polygon(polygon, 'char_centres'))
    centre = (top + bottom) / 2
    total = cumulative_lengths(centre)[-1]
    return points_at_lengths(centre, (np.arange(num_chars) + 0.5) / num_chars * total)


def char_attention_targets(polygons: Sequence[np.ndarray], texts: Sequence[str],
                           feat_shape: Tuple[int, int], stride: int, num_positions: int,
                           sigma_scale: float = 0.5) -> Tuple[np.ndarray, np.ndarray]:
    """Target distributions of the character attentions of ``N`` words.

    Position ``l`` of a word of ``n`` characters gets a Gaussian over the stride-``stride`` map
    centred on its pseudo character centre, of standard deviation ``sigma_scale`` times the
    character spacing (at least half a pixel), normalised to sum to 1; positions ``l >= n``
    (END and after) get none.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``[N, L, H, W]`` float32 targets and ``[N, L]`` bool,
        the positions that have one.
    """
    height, width = (int(v) for v in feat_shape)
    targets = np.zeros((len(polygons), num_positions, height, width), np.float32)
    valid = np.zeros((len(polygons), num_positions), bool)
    ys, xs = np.mgrid[0:height, 0:width]
    for k, (polygon, text) in enumerate(zip(polygons, texts)):
        num = min(len(text), num_positions)
        if num == 0:
            continue
        centres = image_to_feature(char_centres(polygon, len(text))[:num], stride)
        top, bottom = split_sides(as_text_polygon(polygon, 'char_attention_targets'))
        length = cumulative_lengths((top + bottom) / 2)[-1] / stride
        sigma = max(sigma_scale * length / len(text), 0.5)
        for pos, (cx, cy) in enumerate(centres):
            g = np.exp(-((xs - cx)**2 + (ys - cy)**2) / (2 * sigma**2))
            if g.sum() > 0:
                targets[k, pos] = g / g.sum()
                valid[k, pos] = True
    return targets, valid
