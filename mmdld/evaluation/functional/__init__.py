"""Pure functions of the ICDAR Robust Reading end-to-end protocol (no MMEngine dependency).

Used by :class:`mmdld.evaluation.E2ESpottingMetric` online and by the offline RRC evaluation
tool (``docs/evaluation.md``), so that both count the same way.
"""
from .bootstrap import (Interval, align_by_name, bootstrap_metric, images_for_half_width,
                        paired_bootstrap_difference, verdict)
from .image_names import image_stem
from .lexicon import Lexicon, load_image_lexicons
from .matching import (COUNT_FIELDS, NO_LEXICON, evaluate_image, evaluate_image_matches,
                       greedy_match)
from .per_image import (PER_IMAGE_FILE, PER_IMAGE_FORMAT, RECORD_KEYS, counts_array,
                        load_per_image, write_per_image)
from .polygons import (coverage_matrix, iou_matrix, outline_area, outline_areas, to_geometries,
                       to_geometry)
from .rrc_eval import evaluate_rrc
from .scale_oracle import (ScaleTable, budget_oracle, cheapest_keeping_matches, fixed_scale_curve,
                           oracle_at, share_of_oracle_gain)
from .rrc_io import (GT_PREFIXES, format_rrc_line, load_rrc_collection, parse_rrc_detection_line,
                     parse_rrc_file, parse_rrc_line, write_rrc_collection)
from .summary import (LEXICON_LABELS, accumulate, format_tables, paper_results,
                      precision_recall_hmean, summarize)
from .text_rules import (DONT_CARE_TEXT, SPECIAL_CHARACTERS, is_word_spotting_care,
                         normalize_word_spotting, texts_match)
from .text_size import image_text_sizes, spearman, word_height

__all__ = [
    'Interval', 'align_by_name', 'bootstrap_metric', 'images_for_half_width',
    'paired_bootstrap_difference', 'verdict', 'Lexicon', 'load_image_lexicons', 'COUNT_FIELDS',
    'NO_LEXICON', 'evaluate_image', 'evaluate_image_matches', 'greedy_match', 'PER_IMAGE_FILE',
    'PER_IMAGE_FORMAT', 'RECORD_KEYS', 'counts_array', 'load_per_image', 'write_per_image',
    'coverage_matrix', 'iou_matrix', 'outline_area', 'outline_areas', 'to_geometries',
    'to_geometry', 'evaluate_rrc', 'GT_PREFIXES', 'format_rrc_line', 'load_rrc_collection',
    'parse_rrc_detection_line', 'parse_rrc_file', 'parse_rrc_line', 'write_rrc_collection',
    'LEXICON_LABELS', 'accumulate', 'format_tables', 'paper_results', 'precision_recall_hmean',
    'summarize', 'DONT_CARE_TEXT', 'SPECIAL_CHARACTERS', 'is_word_spotting_care',
    'normalize_word_spotting', 'texts_match', 'ScaleTable', 'budget_oracle',
    'cheapest_keeping_matches', 'fixed_scale_curve', 'oracle_at', 'share_of_oracle_gain',
    'image_text_sizes', 'spearman', 'word_height', 'image_stem'
]
