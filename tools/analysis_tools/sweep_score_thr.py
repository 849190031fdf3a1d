"""Choose a spotter's score threshold on held-out images: E2E and Det hmean at several thresholds.

Examples::

    # MANGO's dynamic-benchmark teacher, on 300 held-out images of the benchmark's
    # distribution (another seed, generated into --data-root on first use)
    python tools/analysis_tools/sweep_score_thr.py configs/mango/mango_r18w32_dynamic.py \\
        teacher/iter_5000.pth --thresholds 0.1 0.2 0.3 0.4 0.5 \\
        --data-root ~/.cache/mmdld/data/synthetic_dynamic_heldout --seed 1 --num-images 300

One test pass: the model keeps every word above the smallest threshold (its ``test_cfg`` key
``--model-key``, default ``score_thr``) and the config's ``test_evaluator`` is run once per
threshold (its ``score_thr`` set, MMEngine prefixes ``thr<t>/``). Prints Det and E2E (no
lexicon) hmean per threshold and the best E2E's threshold; ``--out`` writes them as JSON. The
threshold a config then uses belongs in both the model's ``test_cfg`` and the evaluator (the
spotter reads only the words it reports).

Held-out images: with ``--seed`` the test dataset's ``synth_cfg`` (a synthetic benchmark) is
given that seed, ``--num-images`` test images and no training images, and ``--data-root``
(required then, outside the benchmark's own folder) receives them; the vocabulary is the
benchmark's (it does not depend on the seed). Without ``--seed`` the config's test split is
used as it is (do not choose a threshold on the split you report).
"""
import argparse
import copy
import json
import os.path as osp
import sys
from typing import Any, Dict, List, Optional, Sequence

from mmengine.config import Config, DictAction

E2E_KEY = 'e2e/none/hmean'
DET_KEY = 'det/hmean'


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parses the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='test config (its test_dataloader and test_evaluator)')
    parser.add_argument('checkpoint', help='the checkpoint to evaluate')
    parser.add_argument('--thresholds', type=float, nargs='+', required=True,
                        help='score thresholds to evaluate')
    parser.add_argument('--model-key', default='score_thr',
                        help="the model's test_cfg key that drops low-scoring words before "
                        'they are read (default: score_thr)')
    parser.add_argument('--seed', type=int, default=None,
                        help="held-out images: the synthetic test set's seed (the config's "
                        'synth_cfg otherwise)')
    parser.add_argument('--num-images', type=int, default=300,
                        help='held-out test images with --seed (default: 300)')
    parser.add_argument('--data-root', default=None,
                        help='folder of the held-out images (required with --seed)')
    parser.add_argument('--work-dir', default=None,
                        help='MMEngine work dir (default: work_dirs/sweep_score_thr)')
    parser.add_argument('--out', default=None, help='write the table here (JSON)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default=None,
                        help='config overrides, key=value (as tools/test.py)')
    args = parser.parse_args(argv)
    if not args.thresholds or any(not 0 <= t < 1 for t in args.thresholds):
        parser.error(f'--thresholds must be in [0, 1), got {args.thresholds}')
    if args.seed is not None and not args.data_root:
        parser.error('--seed generates held-out images: give --data-root for them')
    if args.num_images < 1:
        parser.error(f'--num-images must be >= 1, got {args.num_images}')
    return args


def sweep_config(cfg: Config, thresholds: Sequence[float], model_key: str = 'score_thr',
                 seed: Optional[int] = None, num_images: int = 300,
                 data_root: Optional[str] = None) -> Config:
    """``cfg`` with the model keeping words above ``min(thresholds)`` and one copy of its test
    evaluator per threshold (prefix ``thr<t>``); with ``seed``, held-out synthetic test images.

    Raises:
        ValueError: If the model has no ``test_cfg[model_key]``, the evaluator is not one
            metric, or ``seed`` is given for a test set without ``synth_cfg``.
    """
    cfg = copy.deepcopy(cfg)
    test_cfg = cfg.model.get('test_cfg')
    if not isinstance(test_cfg, dict) or model_key not in test_cfg:
        raise ValueError(f'model.test_cfg has no {model_key!r} (--model-key): cannot make the '
                         'model keep the low-scoring words')
    test_cfg[model_key] = float(min(thresholds))
    evaluator = cfg.get('test_evaluator')
    if not isinstance(evaluator, dict) or 'type' not in evaluator:
        raise ValueError('test_evaluator must be one metric config (a dict with a type), got '
                         f'{type(evaluator).__name__}')
    cfg.test_evaluator = [dict(copy.deepcopy(evaluator), score_thr=float(t), prefix=f'thr{t:g}',
                               outfile_dir=None) for t in sorted(set(thresholds))]
    if seed is not None:
        dataset = cfg.test_dataloader.dataset
        if not dataset.get('synth_cfg'):
            raise ValueError('--seed: test_dataloader.dataset has no synth_cfg (not a synthetic '
                             'benchmark); give held-out images through --cfg-options instead')
        original_root = dataset.get('data_root')
        if original_root and osp.abspath(original_root) == osp.abspath(data_root):
            raise ValueError(f'--data-root {data_root} is the benchmark\'s own folder: give '
                             'another one for the held-out images')
        dataset.synth_cfg = dict(dataset.synth_cfg, seed=int(seed), num_train=0,
                                 num_test=int(num_images))
        dataset.data_root = data_root
        for metric in cfg.test_evaluator:
            if 'data_root' in metric:
                metric['data_root'] = data_root
    return cfg


def table(metrics: Dict[str, Any], thresholds: Sequence[float]) -> List[Dict[str, float]]:
    """One row per threshold: ``score_thr``, ``det_hmean``, ``e2e_hmean`` (MMEngine's keys
    ``thr<t>/det/hmean`` and ``thr<t>/e2e/none/hmean``)."""
    rows = []
    for t in sorted(set(thresholds)):
        prefix = f'thr{t:g}/'
        missing = [k for k in (DET_KEY, E2E_KEY) if prefix + k not in metrics]
        if missing:
            raise KeyError(f'the evaluation has no {[prefix + k for k in missing]}; its keys: '
                           f'{sorted(metrics)[:8]}...')
        rows.append(dict(score_thr=t, det_hmean=float(metrics[prefix + DET_KEY]),
                         e2e_hmean=float(metrics[prefix + E2E_KEY])))
    return rows


def best(rows: Sequence[Dict[str, float]]) -> Dict[str, float]:
    """The row of the highest E2E hmean (the lower threshold on a tie)."""
    return max(rows, key=lambda r: (r['e2e_hmean'], -r['score_thr']))


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    from mmengine.runner import Runner

    from mmdld.utils import apply_flush_denormal, register_all_modules

    register_all_modules()
    if not osp.isfile(args.checkpoint):
        print(f'{args.checkpoint}: no such checkpoint', file=sys.stderr)
        return 2
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    try:
        cfg = sweep_config(cfg, args.thresholds, args.model_key, args.seed, args.num_images,
                           args.data_root)
    except ValueError as err:
        print(f'{args.config}: {err}', file=sys.stderr)
        return 2
    apply_flush_denormal(cfg.get('env_cfg'))
    cfg.work_dir = args.work_dir or osp.join('work_dirs', 'sweep_score_thr')
    cfg.load_from = args.checkpoint
    metrics = Runner.from_cfg(cfg).test()
    rows = table(metrics, args.thresholds)
    print('score_thr  Det hmean  E2E hmean')
    for row in rows:
        print(f"{row['score_thr']:9g}  {100 * row['det_hmean']:9.1f}  "
              f"{100 * row['e2e_hmean']:9.1f}")
    chosen = best(rows)
    print(f"best E2E at score_thr {chosen['score_thr']:g}")
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(config=args.config, checkpoint=args.checkpoint, seed=args.seed,
                           num_images=args.num_images if args.seed is not None else None,
                           rows=rows, best=chosen), f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
