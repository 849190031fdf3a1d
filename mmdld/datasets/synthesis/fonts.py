"""Fonts for the synthetic generator: the TrueType files that ship inside matplotlib.

matplotlib is a runtime dependency of mmdld, and its ``mpl-data/fonts/ttf`` folder holds the
DejaVu (Sans, Serif, Mono) and STIX families with bold and italic variants, which cover the 95
printable ASCII characters. Using them keeps generation fully offline and reproducible for a given
matplotlib version. PIL loads each (file, size) once per process (``get_font`` is cached), because
``ImageFont.truetype`` re-parses the file on every call.
"""
import functools
import os
from typing import Tuple

from PIL import ImageFont

#: Font files used, in a fixed order (the order feeds the random choice, so it is part of the
#: output's determinism). Missing files are skipped; at least one must exist.
FONT_FILES: Tuple[str, ...] = (
    'DejaVuSans.ttf',
    'DejaVuSans-Bold.ttf',
    'DejaVuSans-Oblique.ttf',
    'DejaVuSans-BoldOblique.ttf',
    'DejaVuSerif.ttf',
    'DejaVuSerif-Bold.ttf',
    'DejaVuSerif-Italic.ttf',
    'DejaVuSerif-BoldItalic.ttf',
    'DejaVuSansMono.ttf',
    'DejaVuSansMono-Bold.ttf',
    'STIXGeneral.ttf',
    'STIXGeneralBol.ttf',
    'STIXGeneralItalic.ttf',
    'STIXGeneralBolIta.ttf',
)


def font_dir() -> str:
    """Return matplotlib's bundled TrueType folder (``mpl-data/fonts/ttf``)."""
    # Importing the top-level package only (not pyplot) is cheap and needs no display backend.
    import matplotlib
    return os.path.join(matplotlib.get_data_path(), 'fonts', 'ttf')


@functools.lru_cache(maxsize=None)
def list_fonts() -> Tuple[str, ...]:
    """Return the absolute paths of the usable fonts, in :data:`FONT_FILES` order.

    Raises:
        FileNotFoundError: If none of :data:`FONT_FILES` is in :func:`font_dir`.
    """
    folder = font_dir()
    paths = tuple(
        os.path.join(folder, name) for name in FONT_FILES
        if os.path.isfile(os.path.join(folder, name)))
    if not paths:
        raise FileNotFoundError(
            f'No font of {list(FONT_FILES)} found in {folder}; the synthetic text generator '
            'needs the fonts that ship with matplotlib (pip install "matplotlib>=3.7").')
    return paths


@functools.lru_cache(maxsize=2048)
def get_font(path: str, size: int) -> ImageFont.FreeTypeFont:
    """Load ``path`` at ``size`` pixels (em size), cached per process.

    The basic layout engine is forced: Raqm may or may not be installed, and the two engines
    place glyphs slightly differently, which would break byte-identical output across machines.
    """
    return ImageFont.truetype(path, int(size), layout_engine=ImageFont.Layout.BASIC)


@functools.lru_cache(maxsize=None)
def cap_height_ratio(path: str) -> float:
    """Return the cap height of the font divided by its em size.

    The generator specifies text sizes as the pixel height of capital letters ("char height"),
    which is comparable across fonts, unlike the em size (STIX capitals are shorter than
    DejaVu's at the same em size).
    """
    font = get_font(path, 200)
    _, top, _, bottom = font.getbbox('H', anchor='ls')
    return (bottom - top) / 200.0
