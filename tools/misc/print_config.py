"""Print the resolved form of configs: every `_base_` merged, every base variable substituted.

Examples::

    python tools/misc/print_config.py configs/dld/dld_r50_totaltext.py
    python tools/misc/print_config.py configs/dld/dld_r50_totaltext.py --json
    # Every config under configs/ except the `_base_` folders, keyed by path below configs/:
    python tools/misc/print_config.py configs --json --out resolved.json

With ``--json`` only the parts that define a run are written (:data:`SECTIONS`: the model,
dataloaders with their datasets and pipelines, evaluators, loops, optimiser, schedule and hooks),
as JSON with sorted keys, so that two dumps can be compared line by line (a tuple is written as
``{"__tuple__": [...]}``).
"""
import argparse
import glob
import json
import os.path as osp
import sys
from typing import Any, Dict, List, Optional, Sequence

from mmengine.config import Config, DictAction

#: The top-level keys of a config that ``--json`` writes (when the config has them).
SECTIONS = (
    'model',
    'train_dataloader', 'val_dataloader', 'test_dataloader',
    'val_evaluator', 'test_evaluator',
    'train_cfg', 'val_cfg', 'test_cfg',
    'optim_wrapper', 'param_scheduler', 'auto_scale_lr',
    'default_hooks', 'custom_hooks',
    'default_scope', 'env_cfg', 'log_processor', 'visualizer', 'load_from', 'resume',
)


#: How ``--json`` writes a tuple: ``{TUPLE_KEY: [items]}``.
TUPLE_KEY = '__tuple__'


def config_files(folder: str) -> List[str]:
    """The config files below ``folder``, without those in a ``_base_`` folder (sorted)."""
    paths = glob.glob(osp.join(folder, '**', '*.py'), recursive=True)
    return sorted(p for p in paths
                  if '_base_' not in osp.relpath(p, folder).split(osp.sep)[:-1])


def load(path: str, cfg_options: Optional[dict] = None) -> Config:
    """``Config.fromfile`` with lazy import off (the configs use ``_base_`` inheritance)."""
    cfg = Config.fromfile(path, lazy_import=False)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def to_plain(value: Any) -> Any:
    """A JSON-ready copy of a resolved config value: ConfigDicts become dicts and tuples
    ``{"__tuple__": [...]}``, so that a tuple and a list of the same items stay apart."""
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return {TUPLE_KEY: [to_plain(v) for v in value]}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    return value


def resolved_sections(cfg: Config, sections: Sequence[str] = SECTIONS) -> Dict[str, Any]:
    """The ``sections`` of ``cfg`` that it has, as plain JSON-ready values."""
    return {key: to_plain(cfg[key]) for key in sections if key in cfg}


def resolve(path: str, cfg_options: Optional[dict] = None) -> Dict[str, Any]:
    """:func:`resolved_sections` of the config file ``path``."""
    return resolved_sections(load(path, cfg_options))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Print resolved configs')
    parser.add_argument('configs', nargs='+',
                        help='config files, or folders (every config below them that is not '
                        'in a `_base_` folder, keyed by its path below the folder)')
    parser.add_argument('--json', action='store_true',
                        help='write the run-defining sections as sorted JSON')
    parser.add_argument('--out', help='write to this file instead of standard output')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings, as in tools/train.py')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    # The mmdld scope registered, as tools/train.py and tools/test.py have it.
    from mmdld.utils import register_all_modules
    register_all_modules()

    named = {}
    for item in args.configs:
        if osp.isdir(item):
            named.update((osp.relpath(p, item), p) for p in config_files(item))
        else:
            named[item] = item
    if args.json:
        text = json.dumps({name: resolve(path, args.cfg_options) for name, path in named.items()},
                          indent=1, sort_keys=True) + '\n'
    else:
        text = ''.join(f'# {name}\n{load(path, args.cfg_options).pretty_text}\n'
                       for name, path in named.items())
    if args.out:
        with open(args.out, 'w', encoding='utf-8') as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == '__main__':
    main()
