"""Offline evaluation of RRC-format ground truth and submissions.

The same per-image counting (:func:`~.matching.evaluate_image`) and summing
(:mod:`.summary`) as the online ``E2ESpottingMetric``, so both give the same numbers on the same
predictions.
"""
import warnings
from typing import Dict, Optional

from .lexicon import load_image_lexicons
from .matching import evaluate_image
from .rrc_io import GT_PREFIXES, load_rrc_collection
from .summary import accumulate, summarize
from .text_rules import MIN_WORD_SPOTTING_LENGTH


def evaluate_rrc(gt_path: str,
                 submission_path: str,
                 lexicons: Optional[Dict[str, str]] = None,
                 lexicon_format: str = 'auto',
                 iou_thr: float = 0.5,
                 dont_care_area_thr: float = 0.5,
                 word_spotting: bool = True,
                 max_lexicon_dist: Optional[int] = None,
                 lexicon_min_length: int = MIN_WORD_SPOTTING_LENGTH,
                 num_coords: Optional[int] = None,
                 ltrb: bool = False,
                 det_only: bool = False) -> Dict[str, float]:
    """Evaluate a submission against RRC ground truth.

    Images present in the GT but absent from the submission have no predictions (as in the RRC
    script); a submission file without a GT file is an error. A submission without any
    detection is evaluated (everything is missed) with a warning naming it.

    Args:
        gt_path (str): Folder or zip of ``gt_<image stem>.txt`` (or Total-Text's
            ``poly_gt_<image stem>.txt``) files.
        submission_path (str): Folder or zip of ``res_<image stem>.txt`` files.
        lexicons (dict[str, str], optional): Setting name -> lexicon path template, see
            :func:`~.lexicon.load_image_lexicons` (``{img_stem}`` is the GT file's image stem).
        lexicon_format (str): ``'auto'``, ``'words'`` or ``'pairs'``.
        iou_thr (float): IoU a match must exceed.
        dont_care_area_thr (float): Don't-care coverage above which a prediction is dropped.
        word_spotting (bool): Also report word spotting.
        max_lexicon_dist (int, optional): See :meth:`~.lexicon.Lexicon.correct`.
        lexicon_min_length (int): See :meth:`~.lexicon.Lexicon.correct`.
        num_coords (int, optional): Fixed coordinates per line (8 for ICDAR quads); see
            :func:`~.rrc_io.parse_rrc_line`.
        ltrb (bool): GT and submission lines are ``xmin,ymin,xmax,ymax,...`` boxes.
        det_only (bool): The submission holds detections without transcriptions (the RRC
            detection script's ``x1,...,yn[,confidence]`` lines, see
            :func:`~.rrc_io.parse_rrc_detection_line`); only detection (``det/...``) is
            reported. The GT keeps its transcriptions (``###`` marks don't-care).

    Returns:
        dict[str, float]: Metrics and counts keyed as by :func:`~.summary.summarize`.

    Raises:
        ValueError: If the GT has no file, the submission has an image that the GT lacks, a
            line is malformed (the message names the file and the line), or lexicons are given
            with ``det_only``.
    """
    if det_only and lexicons:
        raise ValueError('lexicons correct transcriptions; a detection-only submission has none')
    gts = load_rrc_collection(gt_path, GT_PREFIXES, num_coords, ltrb)
    if not gts:
        raise ValueError(f'{gt_path}: no GT files (gt_<image>.txt or poly_gt_<image>.txt)')
    submission = load_rrc_collection(submission_path, 'res_', num_coords, ltrb, det_only)
    unknown = sorted(set(submission) - set(gts))
    if unknown:
        raise ValueError(f'{submission_path}: images not in the GT {gt_path}: '
                         f'{", ".join(unknown[:5])}' + (' ...' if len(unknown) > 5 else ''))
    if not submission:
        warnings.warn(f'{submission_path}: an empty submission, no res_<image>.txt files: '
                      'every GT instance counts as missed', stacklevel=2)
    elif not any(submission.values()):
        warnings.warn(f'{submission_path}: an empty submission, no detection in its '
                      f'{len(submission)} result file(s): every GT instance counts as missed',
                      stacklevel=2)
    per_image = []
    for stem, gt_instances in gts.items():
        preds = submission.get(stem, [])
        counts = evaluate_image(
            [coords for coords, _ in gt_instances],
            [text for _, text in gt_instances],
            [False] * len(gt_instances),
            [coords for coords, _ in preds],
            [text for _, text in preds],
            load_image_lexicons(lexicons, stem, lexicon_format),
            iou_thr=iou_thr,
            dont_care_area_thr=dont_care_area_thr,
            word_spotting=word_spotting and not det_only,
            max_lexicon_dist=max_lexicon_dist,
            lexicon_min_length=lexicon_min_length,
            name=stem)
        # Without transcriptions only the text-free matching means anything.
        per_image.append(dict(det=counts['det']) if det_only else counts)
    return summarize(accumulate(per_image))
