"""Writing a whole synthetic data set: images, MMOCR ``textspotting`` JSON and lexicons.

Layout of ``out_dir`` (see ``docs/synthetic_data.md``)::

    textspotting_train.json, textspotting_test.json   # MMOCR 1.x textspotting annotations
    imgs/train/000000.jpg ...  imgs/test/000000.jpg ...
    lexicons/generic.txt, weak.txt, full.txt, strong/<img_stem>.txt
    synth_cfg.json                                     # the resolved config, written last

Images are rendered in a process pool; each depends only on its own seed (see
:mod:`.composer`), so the output is byte-identical for any number of workers.

The pool's workers start from a ``forkserver`` (``spawn`` where there is none), never by forking
the caller: a caller that has used OpenCV holds a thread pool that does not survive ``fork``, and
a forked worker then hangs in its first OpenCV call. The forkserver imports this module once, so
workers start quickly.
"""
import json
import multiprocessing as mp
import os
import time
from typing import Callable, Dict, Optional, Sequence, Tuple

import cv2

from .composer import (render_sample, resolve_regime_probs, resolve_shape_probs,
                       resolve_words_per_image)
from .lexicons import write_lexicons
from .words import TEXT_MIXES, load_word_list

#: Bumped whenever a change of the generator changes its output for the same config.
GENERATOR_VERSION = 1
#: Defaults of the config keys that determine the output.
DEFAULT_SYNTH_CFG: Dict[str, object] = dict(
    num_train=1000, num_test=200, img_size=640, seed=0, regime_probs=None,
    vocab_size=None, text_mix='scene', shape_probs=None, words_per_image=None)
#: Keys passed on to :func:`.composer.render_sample` for every image.
STYLE_KEYS = ('regime_probs', 'vocab_size', 'text_mix', 'shape_probs', 'words_per_image')
#: Keys that change how the data is made, not what it is.
RUNTIME_KEYS = ('workers', )
JPEG_QUALITY = 90
#: With ``workers=None``, smaller sets are rendered without a process pool.
AUTO_POOL_MIN_IMAGES = 256
METAINFO = {
    'dataset_type': 'TextSpottingDataset',
    'task_name': 'textspotting',
    'category': [{'id': 0, 'name': 'text'}],
}
ANN_FILES = {'train': 'textspotting_train.json', 'test': 'textspotting_test.json'}
CFG_FILE = 'synth_cfg.json'


def resolve_synth_cfg(cfg: Optional[dict] = None) -> dict:
    """Validate a synth_cfg and fill in defaults.

    Args:
        cfg: ``generate_dataset`` keyword arguments (``workers`` is accepted and dropped).

    Returns:
        The keys of :data:`DEFAULT_SYNTH_CFG` with their values (``regime_probs`` normalised)
        plus ``generator_version``: two configs that make the same data resolve equal.

    Raises:
        ValueError: On unknown keys or invalid values, naming the key.
    """
    cfg = dict(cfg or {})
    for key in RUNTIME_KEYS:
        cfg.pop(key, None)
    unknown = sorted(set(cfg) - set(DEFAULT_SYNTH_CFG))
    if unknown:
        raise ValueError(f'synth_cfg: unknown keys {unknown}; valid keys are '
                         f'{sorted(DEFAULT_SYNTH_CFG) + list(RUNTIME_KEYS)}')
    out = dict(DEFAULT_SYNTH_CFG)
    out.update(cfg)
    for key, low in (('num_train', 0), ('num_test', 0), ('img_size', 64), ('seed', 0)):
        value = out[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f'synth_cfg.{key} must be an integer >= {low}, got {value!r}')
    out['regime_probs'] = resolve_regime_probs(out['regime_probs'])
    out['shape_probs'] = resolve_shape_probs(out['shape_probs'])
    # Lists, not tuples: the resolved config must compare equal to its JSON round trip.
    out['words_per_image'] = {k: list(v) for k, v in
                              resolve_words_per_image(out['words_per_image']).items()}
    vocab = out['vocab_size']
    if vocab is not None and (isinstance(vocab, bool) or not isinstance(vocab, int) or vocab < 1):
        raise ValueError(f'synth_cfg.vocab_size must be None or an integer >= 1, got {vocab!r}')
    if out['text_mix'] not in TEXT_MIXES:
        raise ValueError(f'synth_cfg.text_mix must be one of {list(TEXT_MIXES)}, '
                         f"got {out['text_mix']!r}")
    out['generator_version'] = GENERATOR_VERSION
    return out


def _make_image(task: Tuple[str, str, int, int, int, dict]) -> Tuple[dict, dict]:
    """Render, encode and write one image; return its JSON record and statistics."""
    out_dir, split, index, seed, img_size, style = task
    cpu_start = time.process_time()
    sample = render_sample(seed, split, index, img_size, **style)
    rel_path = f'imgs/{split}/{index:06d}.jpg'
    ok, buf = cv2.imencode('.jpg', cv2.cvtColor(sample.image, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError(f'JPEG encoding failed for {rel_path}')
    with open(os.path.join(out_dir, rel_path), 'wb') as f:
        f.write(buf.tobytes())
    height, width = sample.image.shape[:2]
    record = {
        'img_path': rel_path,
        'height': height,
        'width': width,
        'instances': [inst.to_json() for inst in sample.instances],
        # Not an MMOCR field; OCRDataset passes it through to the data info untouched.
        'regime': sample.regime,
    }
    stats = {'regime': sample.regime, 'shapes': [i.shape for i in sample.instances],
             'ignored': sum(i.ignore for i in sample.instances),
             'cpu_seconds': time.process_time() - cpu_start}
    return record, stats


def _init_worker() -> None:
    # One OpenCV thread per worker: the pool already uses every core.
    cv2.setNumThreads(1)


def _pool_context() -> mp.context.BaseContext:
    """A multiprocessing context whose workers do not inherit the caller's threads."""
    if 'forkserver' in mp.get_all_start_methods():
        ctx = mp.get_context('forkserver')
        # Takes effect when the (per-process) server starts; later calls change nothing.
        ctx.set_forkserver_preload([__name__])
        return ctx
    return mp.get_context('spawn')


def _dump_json(path: str, obj: dict) -> None:
    """Write JSON atomically (a reader never sees half a file)."""
    tmp = f'{path}.tmp-{os.getpid()}'
    with open(tmp, 'w', encoding='utf-8', newline='\n') as f:
        json.dump(obj, f)
        f.write('\n')
    os.replace(tmp, path)


def generate_dataset(out_dir: str,
                     num_train: int = 1000,
                     num_test: int = 200,
                     img_size: int = 640,
                     seed: int = 0,
                     workers: Optional[int] = None,
                     regime_probs: Optional[Dict[str, float]] = None,
                     log_fn: Optional[Callable[[str], None]] = None,
                     vocab_size: Optional[int] = None,
                     text_mix: str = 'scene',
                     shape_probs: Optional[Dict[str, float]] = None,
                     words_per_image: Optional[Dict[str, Sequence[int]]] = None) -> dict:
    """Generate the synthetic text-spotting data set into ``out_dir``.

    Args:
        out_dir: Output folder (created; existing files of the same names are overwritten).
        num_train: Training images.
        num_test: Test images.
        img_size: Long side of the images in pixels.
        seed: Base seed; the same seed gives byte-identical files.
        workers: Processes. None: all cores (at most 8) for sets of
            :data:`AUTO_POOL_MIN_IMAGES` images or more, else this process alone (starting
            workers costs a few seconds). 0 or 1: this process. Callers that pass more than 1
            from a script must guard it with ``if __name__ == '__main__':``, as ``spawn``
            and ``forkserver`` pools require.
        regime_probs: Text size regime probabilities (see :mod:`.composer`).
        log_fn: Called with progress messages (e.g. ``print``).
        vocab_size: Words come from the ``vocab_size`` most frequent ones (None: all 6,000).
        text_mix: ``'scene'`` or ``'lowercase_words'`` (see :class:`.words.WordSampler`).
        shape_probs: Word shape probabilities (see :mod:`.composer`).
        words_per_image: Word count ranges per regime (see :mod:`.composer`).

    Returns:
        A summary: paths written, image and instance counts, ``seconds`` (wall time) and
        ``cpu_seconds`` (CPU time spent rendering and writing images, summed over workers).
    """
    cfg = resolve_synth_cfg(
        dict(num_train=num_train, num_test=num_test, img_size=img_size, seed=seed,
             regime_probs=regime_probs, vocab_size=vocab_size, text_mix=text_mix,
             shape_probs=shape_probs, words_per_image=words_per_image))
    start = time.perf_counter()
    for split in ANN_FILES:
        os.makedirs(os.path.join(out_dir, 'imgs', split), exist_ok=True)
    counts = {'train': cfg['num_train'], 'test': cfg['num_test']}
    style = {k: cfg[k] for k in STYLE_KEYS}
    tasks = [(out_dir, split, i, cfg['seed'], cfg['img_size'], style)
             for split in ANN_FILES for i in range(counts[split])]
    if workers is None:
        workers = min(os.cpu_count() or 1, 8) if len(tasks) >= AUTO_POOL_MIN_IMAGES else 1
    records: Dict[str, list] = {split: [] for split in ANN_FILES}
    summary = {'num_instances': 0, 'num_ignored': 0, 'cpu_seconds': 0.0,
               'shapes': {'horizontal': 0, 'rotated': 0, 'curved': 0},
               'regimes': {r: 0 for r in cfg['regime_probs']}}
    step = max(1, len(tasks) // 10)

    def collect(done: int, result: Tuple[dict, dict]) -> None:
        record, stats = result
        records[record['img_path'].split('/')[1]].append(record)
        summary['num_instances'] += len(record['instances'])
        summary['num_ignored'] += stats['ignored']
        summary['cpu_seconds'] += stats['cpu_seconds']
        summary['regimes'][stats['regime']] += 1
        for shape in stats['shapes']:
            summary['shapes'][shape] += 1
        if log_fn is not None and (done % step == 0 or done == len(tasks)):
            log_fn(f'synthetic data: {done}/{len(tasks)} images '
                   f'({time.perf_counter() - start:.1f} s)')

    if workers <= 1 or len(tasks) < 2:
        for done, task in enumerate(tasks, 1):
            collect(done, _make_image(task))
    else:
        with _pool_context().Pool(workers, initializer=_init_worker) as pool:
            for done, result in enumerate(pool.imap(_make_image, tasks, chunksize=4), 1):
                collect(done, result)
    paths = {}
    for split, name in ANN_FILES.items():
        paths[split] = os.path.join(out_dir, name)
        _dump_json(paths[split], {'metainfo': METAINFO, 'data_list': records[split]})
    lexicons = write_lexicons(out_dir, records['test'], load_word_list(), cfg['seed'])
    # Written last: its presence marks a complete data set.
    _dump_json(os.path.join(out_dir, CFG_FILE), cfg)
    summary.update(
        out_dir=out_dir,
        train_json=paths['train'],
        test_json=paths['test'],
        lexicons=lexicons,
        num_images=counts,
        seconds=time.perf_counter() - start,
    )
    return summary
