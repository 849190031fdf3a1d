"""End-to-end text spotting metric following the ICDAR Robust Reading protocol."""
import json
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mmdld.registry import METRICS
from ..functional import (DONT_CARE_TEXT, NO_LEXICON, PER_IMAGE_FILE, RECORD_KEYS, accumulate,
                          evaluate_image_matches, format_tables, image_stem, load_image_lexicons,
                          paper_results, summarize, texts_match, write_per_image,
                          write_rrc_collection)
from ..functional.lexicon import LEXICON_FORMATS
from ..functional.text_rules import MIN_WORD_SPOTTING_LENGTH


def _get(container: Any, key: str, default: Any = None) -> Any:
    """Read a field from a dict (``DetDataSample.to_dict()``) or a data element."""
    if container is None:
        return default
    if isinstance(container, dict):
        return container.get(key, default)
    return getattr(container, key, default)


def _to_numpy(value: Any) -> np.ndarray:
    """Tensor, ``HorizontalBoxes``, array or list -> numpy array."""
    value = getattr(value, 'tensor', value)  # mmdet's box structures wrap a tensor
    if hasattr(value, 'detach'):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _polygons(instances: Any, where: str) -> List[np.ndarray]:
    """Polygons of an instance set; boxes stand in as quads when polygons are absent."""
    polygons = _get(instances, 'polygons')
    if polygons is not None:
        return [_to_numpy(polygon).reshape(-1) for polygon in polygons]
    bboxes = _get(instances, 'bboxes')
    if bboxes is None:
        return []
    boxes = _to_numpy(bboxes).reshape(-1, 4).astype(np.float64)
    if boxes.size and not np.isfinite(boxes).all():
        raise ValueError(f'{where}.bboxes has non-finite values')
    x1, y1, x2, y2 = boxes.T
    return list(np.stack([x1, y1, x2, y1, x2, y2, x1, y2], axis=1))


def _optional_float(value: Any) -> Optional[float]:
    """A number (Python, numpy or a one-element tensor) as a float; ``None`` stays ``None``."""
    return None if value is None else float(_to_numpy(value).reshape(-1)[0])


def _texts(instances: Any, num: int, where: str, default: Optional[str] = None) -> List[str]:
    texts = _get(instances, 'texts')
    if texts is None:
        if default is None and num:
            raise ValueError(f'{where}.texts is missing')
        return [default] * num
    texts = [str(text) for text in texts]
    if len(texts) != num:
        raise ValueError(f'{where} has {num} polygons but {len(texts)} texts')
    return texts


@METRICS.register_module()
class E2ESpottingMetric(BaseMetric):
    """Detection, end-to-end, word-spotting and recognition metrics of a text spotter.

    The ICDAR Robust Reading (RRC) end-to-end protocol of ICDAR 2013/2015 and Total-Text (see
    :mod:`mmdld.evaluation.functional`), with every configured lexicon in one pass. MMOCR 1.0.1
    ships no end-to-end metric in its package, and its ``HmeanIOUMetric`` does not fit for
    "Det": it reads don't-care flags from ``gt_instances.ignored`` (mmdld keeps don't-care GT in
    ``ignored_instances``) and reports the best hmean over a sweep of score thresholds, where
    the paper's Det uses the same predictions and matcher as its End-to-End column; so Det is
    the RRC matcher without the text condition.

    Reads per data sample (``DetDataSample`` or its ``to_dict()``): ``gt_instances.polygons`` and
    ``texts`` (care GT; a ``'###'`` text is don't-care too), ``ignored_instances.polygons``
    (don't-care), ``pred_instances.polygons``, ``texts`` and ``scores`` (boxes stand in for
    missing polygons), metainfo ``img_path``, and the optional ``pred_gt_texts`` (recognition of
    the GT boxes, the paper's "Rec"), ``dld_scale`` and ``dld_gflops``.

    Returned keys (fractions in [0, 1]): ``det/{precision,recall,hmean}``,
    ``e2e/<lexicon>/{precision,recall,hmean}`` and ``ws/<lexicon>/...`` for ``none`` and each
    configured lexicon, and, when the samples carry them, ``rec/accuracy``, ``cost/avg_scale``
    (average DLD scale factor) and ``cost/gflops`` (average GFLOPs per image). Each of ``det``,
    ``e2e/<lexicon>`` and ``ws/<lexicon>`` also has its counts, summed over the images
    (integers): ``num_matched`` (matches that count; for e2e and ws with the text right),
    ``num_gt`` and ``num_det`` (care GT and predictions, the recall and precision
    denominators), ``num_gt_dont_care`` and ``num_det_dont_care`` (don't-care GT, and
    predictions dropped on them). Without any prediction in the whole test set a warning is
    logged.

    Args:
        iou_thr (float): IoU a match must exceed (0.5; the paper uses 0.1 for one-stage
            spotters, Table 8).
        score_thr (float): Predictions scoring below this are discarded before evaluation.
        dont_care_area_thr (float): A prediction is dropped when more than this fraction of its
            area lies on one don't-care GT.
        lexicons (dict[str, str], optional): Lexicon setting -> file, e.g. ``dict(strong=
            'lexicons/strong/{img_stem}.txt', weak=..., generic=..., full=...)``;
            ``{img_stem}`` is the image file name without extension. Settings ``strong``,
            ``weak``, ``generic``, ``full`` get the paper's labels S, W, G, Full.
        data_root (str, optional): Folder that relative lexicon paths are relative to (the
            test dataset's ``data_root`` in the configs); absolute paths are used as they
            are. Without it, relative paths are relative to the working directory.
        lexicon_format (str): ``'auto'``, ``'words'`` (a word per line) or ``'pairs'`` (ICDAR
            pair lists ``KEY original``).
        max_lexicon_dist (int, optional): A prediction farther than this from every lexicon
            word keeps its text; ``None`` always replaces.
        lexicon_min_length (int): Predictions shorter than this keep their text (lexicon words
            have at least 3 characters).
        word_spotting (bool): Also report word spotting.
        outfile_dir (str, optional): Write ``spotting_results.json`` (paper names) and
            ``per_image.json`` (what each image contributed, see
            :mod:`mmdld.evaluation.functional.per_image`) here, and with ``dump_submission``
            the predictions and GT in the RRC formats:
            ``submission/res_<stem>.txt`` + ``submission.zip``, ``submission_<lexicon>/`` +
            ``.zip`` with lexicon-corrected texts (for the official RRC scripts, which have no
            lexicons), and ``gt/gt_<stem>.txt`` + ``gt.zip``, for offline evaluation (see
            ``docs/evaluation.md``).
        dump_submission (bool): See ``outfile_dir``.
        submission_int_coords (bool): Round dumped coordinates to integers (the official
            ICDAR 2015 script accepts only integers); by default they are written exactly, so
            that the offline tool reproduces the online numbers.
        collect_device (str): ``'cpu'`` or ``'gpu'``, for gathering results across ranks.
        prefix (str, optional): Prefix of the returned keys; none by default.
    """
    # '' rather than None: the keys carry their task already ('e2e/none/hmean'), and MMEngine
    # warns about every metric whose prefix is None.
    default_prefix: Optional[str] = ''

    def __init__(self,
                 iou_thr: float = 0.5,
                 score_thr: float = 0.0,
                 dont_care_area_thr: float = 0.5,
                 lexicons: Optional[Dict[str, str]] = None,
                 data_root: Optional[str] = None,
                 lexicon_format: str = 'auto',
                 max_lexicon_dist: Optional[int] = None,
                 lexicon_min_length: int = MIN_WORD_SPOTTING_LENGTH,
                 word_spotting: bool = True,
                 outfile_dir: Optional[str] = None,
                 dump_submission: bool = True,
                 submission_int_coords: bool = False,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if not 0.0 <= iou_thr < 1.0:
            raise ValueError(f'E2ESpottingMetric: iou_thr must be in [0, 1), got {iou_thr}')
        if lexicon_format not in LEXICON_FORMATS:
            raise ValueError(f'E2ESpottingMetric: lexicon_format must be one of '
                             f'{LEXICON_FORMATS}, got {lexicon_format!r}')
        lexicons = dict(lexicons or {})
        if NO_LEXICON in lexicons:
            raise ValueError(f"E2ESpottingMetric: lexicons key '{NO_LEXICON}' is reserved for "
                             'the lexicon-free setting, which is always reported')
        if max_lexicon_dist is not None and max_lexicon_dist < 0:
            raise ValueError('E2ESpottingMetric: max_lexicon_dist must be >= 0 or None, got '
                             f'{max_lexicon_dist}')
        self.iou_thr = iou_thr
        self.score_thr = score_thr
        self.dont_care_area_thr = dont_care_area_thr
        # osp.join keeps an absolute path as it is.
        self.lexicons = {name: osp.join(data_root, str(path)) if data_root else str(path)
                         for name, path in lexicons.items()}
        self.lexicon_format = lexicon_format
        self.max_lexicon_dist = max_lexicon_dist
        self.lexicon_min_length = lexicon_min_length
        self.word_spotting = word_spotting
        self.outfile_dir = outfile_dir
        self.dump_submission = dump_submission
        self.submission_int_coords = submission_int_coords

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Evaluate each sample and keep its counts (and, for dumping, its instances).

        Args:
            data_batch (Any): The batch from the dataloader (unused).
            data_samples (Sequence): Model outputs, ``DetDataSample`` or their dicts.
        """
        for sample in data_samples:
            self.results.append(self._process_sample(sample))

    def _process_sample(self, sample: Any) -> Dict[str, Any]:
        img_path = _get(sample, 'img_path')
        if img_path is None:
            raise ValueError('E2ESpottingMetric: a data sample has no img_path in its metainfo')
        name = str(img_path)
        stem = image_stem(name)

        gt = _get(sample, 'gt_instances')
        gt_polys = _polygons(gt, f'{name}: gt_instances')
        gt_texts = _texts(gt, len(gt_polys), f'{name}: gt_instances')
        ignored = _get(sample, 'ignored_instances')
        ign_polys = _polygons(ignored, f'{name}: ignored_instances')
        ign_texts = _texts(ignored, len(ign_polys), f'{name}: ignored_instances',
                           default=DONT_CARE_TEXT)

        pred = _get(sample, 'pred_instances')
        pred_polys = _polygons(pred, f'{name}: pred_instances')
        pred_texts = _texts(pred, len(pred_polys), f'{name}: pred_instances')
        scores = _get(pred, 'scores')
        if scores is not None:
            scores = _to_numpy(scores).reshape(-1)
            if len(scores) != len(pred_polys):
                raise ValueError(f'{name}: pred_instances has {len(pred_polys)} polygons but '
                                 f'{len(scores)} scores')
            keep = np.flatnonzero(scores >= self.score_thr)
            pred_polys = [pred_polys[i] for i in keep]
            pred_texts = [pred_texts[i] for i in keep]
            scores = [float(scores[i]) for i in keep]

        all_polys = gt_polys + ign_polys
        all_texts = gt_texts + ign_texts
        all_ignored = [False] * len(gt_polys) + [True] * len(ign_polys)
        lexicons = load_image_lexicons(self.lexicons, stem, self.lexicon_format)
        counts, hits = evaluate_image_matches(
            all_polys,
            all_texts,
            all_ignored,
            pred_polys,
            pred_texts,
            lexicons,
            iou_thr=self.iou_thr,
            dont_care_area_thr=self.dont_care_area_thr,
            word_spotting=self.word_spotting,
            max_lexicon_dist=self.max_lexicon_dist,
            lexicon_min_length=self.lexicon_min_length,
            name=name)
        # The per-image record (``per_image.json``, see functional/per_image.py).
        result: Dict[str, Any] = dict(
            name=stem,
            img_path=name,
            scale=_optional_float(_get(sample, 'dld_scale')),
            gflops=_optional_float(_get(sample, 'dld_gflops')),
            gt_texts=[text for text in gt_texts if text != DONT_CARE_TEXT],
            num_gt_dont_care=counts['det'][3],
            det_texts=pred_texts,
            det_scores=scores,
            matched_texts=[all_texts[g] for g, _ in hits[f'e2e/{NO_LEXICON}']],
            counts=counts,
            rec=self._rec_counts(sample, gt_texts, name))

        if self.outfile_dir is not None and self.dump_submission:
            # RRC files mark don't-care GT with '###', whatever their transcription.
            gt_dump_texts = gt_texts + [DONT_CARE_TEXT] * len(ign_polys)
            result['gt'] = [(p.tolist(), t) for p, t in zip(all_polys, gt_dump_texts)]
            result['pred'] = {NO_LEXICON: [(p.tolist(), t) for p, t in zip(pred_polys, pred_texts)]}
            for lex_name, lexicon in lexicons.items():
                texts = lexicon.correct(pred_texts, self.max_lexicon_dist,
                                        self.lexicon_min_length)
                result['pred'][lex_name] = [(p.tolist(), t) for p, t in zip(pred_polys, texts)]
        return result

    @staticmethod
    def _rec_counts(sample: Any, gt_texts: List[str], name: str) -> Optional[List[int]]:
        """``[correct, care GT]`` of the recognition of GT boxes (``pred_gt_texts``)."""
        pred_gt_texts = _get(sample, 'pred_gt_texts')
        if pred_gt_texts is None:
            return None
        if len(pred_gt_texts) != len(gt_texts):
            raise ValueError(f'{name}: pred_gt_texts has {len(pred_gt_texts)} texts for '
                             f'{len(gt_texts)} gt_instances')
        pairs = [(gt, str(pred)) for gt, pred in zip(gt_texts, pred_gt_texts)
                 if gt != DONT_CARE_TEXT]
        return [sum(texts_match(gt, pred) for gt, pred in pairs), len(pairs)]

    def compute_metrics(self, results: List[Dict[str, Any]]) -> Dict[str, float]:
        """Sum the counts over the dataset and compute the metrics.

        Args:
            results (list[dict]): Results of :meth:`process` from all ranks.

        Returns:
            dict[str, float]: The metrics (see the class docstring).
        """
        metrics = summarize(accumulate(result['counts'] for result in results))
        rec = [result['rec'] for result in results if result['rec'] is not None]
        if rec:
            correct, total = np.sum(rec, axis=0)
            metrics['rec/accuracy'] = float(correct / total) if total else 0.0
        for key, field in (('cost/avg_scale', 'scale'), ('cost/gflops', 'gflops')):
            values = [float(result[field]) for result in results if result[field] is not None]
            if values:
                metrics[key] = float(np.mean(values))

        logger = MMLogger.get_current_instance()
        if results and metrics['det/num_det'] + metrics['det/num_det_dont_care'] == 0:
            logger.warning(f'E2ESpottingMetric: no prediction in any of the {len(results)} images '
                           f'(score_thr={self.score_thr}): every GT instance counts as missed')
        logger.info(f'Text spotting evaluation ({len(results)} images, IoU > {self.iou_thr}):'
                    f'\n{format_tables(metrics)}')
        if self.outfile_dir is not None:
            self._write_outputs(results, metrics, logger)
        return metrics

    def _write_outputs(self, results: List[Dict[str, Any]], metrics: Dict[str, float],
                       logger: MMLogger) -> None:
        os.makedirs(self.outfile_dir, exist_ok=True)
        json_path = osp.join(self.outfile_dir, 'spotting_results.json')
        with open(json_path, 'w', encoding='utf-8') as f:
            json.dump(dict(paper_results(metrics), metrics=metrics, num_images=len(results),
                           iou_thr=self.iou_thr), f, indent=2)
        logger.info(f'Text spotting results written to {json_path}')
        per_image_path = osp.join(self.outfile_dir, PER_IMAGE_FILE)
        write_per_image(per_image_path,
                        [{key: result[key] for key in RECORD_KEYS} for result in results],
                        iou_thr=self.iou_thr, score_thr=self.score_thr,
                        dont_care_area_thr=self.dont_care_area_thr)
        logger.info(f'Per-image records written to {per_image_path}')
        if not self.dump_submission:
            return
        names = [result['name'] for result in results]
        if len(set(names)) != len(names):
            duplicates = sorted({name for name in names if names.count(name) > 1})
            raise ValueError('E2ESpottingMetric: cannot dump RRC files, several images share '
                             f'the file name(s) {duplicates[:5]}')
        gt_dir = osp.join(self.outfile_dir, 'gt')
        write_rrc_collection(gt_dir, {r['name']: r['gt'] for r in results}, 'gt_',
                             zip_path=f'{gt_dir}.zip', int_coords=self.submission_int_coords)
        for setting in [NO_LEXICON, *self.lexicons]:
            folder = 'submission' if setting == NO_LEXICON else f'submission_{setting}'
            out_dir = osp.join(self.outfile_dir, folder)
            write_rrc_collection(out_dir, {r['name']: r['pred'][setting] for r in results},
                                 'res_', zip_path=f'{out_dir}.zip',
                                 int_coords=self.submission_int_coords)
        logger.info(f'RRC ground truth and submissions written to {self.outfile_dir}')
