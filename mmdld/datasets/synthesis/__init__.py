"""The offline synthetic text-spotting generator: mmdld's embedded default data set.

``generate_dataset`` writes images, MMOCR ``textspotting`` JSON and evaluation lexicons from a
seed, using only installed packages (matplotlib's fonts and sample images, Pillow, OpenCV) and
the bundled word list; ``ensure_dataset`` does it once per folder, safely across processes.
See ``docs/synthetic_data.md``.
"""
from .cache import ensure_dataset
from .composer import (CHAR_HEIGHTS, DEFAULT_REGIME_PROBS, REGIMES, SynthInstance,
                       SynthSample, render_sample)
from .fonts import font_dir, list_fonts
from .generator import (ANN_FILES, DEFAULT_SYNTH_CFG, GENERATOR_VERSION, generate_dataset,
                        resolve_synth_cfg)
from .lexicons import read_lexicon, strong_lexicon, write_lexicons
from .text_render import GLYPH_ALPHA_MIN, encloses
from .words import PRINTABLE_ASCII, WordSampler, load_word_list

__all__ = [
    'generate_dataset', 'ensure_dataset', 'render_sample', 'resolve_synth_cfg',
    'SynthSample', 'SynthInstance', 'write_lexicons', 'strong_lexicon', 'read_lexicon',
    'load_word_list', 'WordSampler', 'list_fonts', 'font_dir', 'encloses', 'GLYPH_ALPHA_MIN',
    'PRINTABLE_ASCII', 'REGIMES', 'CHAR_HEIGHTS', 'DEFAULT_REGIME_PROBS', 'DEFAULT_SYNTH_CFG',
    'GENERATOR_VERSION', 'ANN_FILES'
]
