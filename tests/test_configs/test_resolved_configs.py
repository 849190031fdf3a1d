"""Every config resolves to the run it defined before the configs were rewritten to inherit.

``resolved_configs.json`` (next to this file) holds what the configs of ``d52be56`` resolved to
(model, dataloaders with their pipelines, evaluators, loops, optimiser, schedule, hooks,
runtime), as ``python tools/misc/print_config.py configs --json`` writes it. Each config of today
must resolve to the same, except for the changes made on purpose, which are listed here with
their reasons; configs that were replaced by another form are listed with the form that now
builds them.
"""
import copy
import importlib.util
import inspect
import json
import os.path as osp

import pytest
from helpers import CONFIG_DIR, TOOLS_DIR

from mmdld.registry import METRICS, MODELS

with open(osp.join(osp.dirname(__file__), 'resolved_configs.json'), encoding='utf-8') as f:
    SNAPSHOT = json.load(f)


def _load_tool():
    path = osp.join(TOOLS_DIR, 'misc', 'print_config.py')
    spec = importlib.util.spec_from_file_location('print_config', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


print_config = _load_tool()
TUPLE = print_config.TUPLE_KEY
CONFIGS = sorted(osp.relpath(p, CONFIG_DIR) for p in print_config.config_files(CONFIG_DIR))

# The fourteen Vanilla configs (one per short side, each repeating the same rescaling of the
# test pipeline) are one config per dataset whose short side N comes from VANILLA_SHORT_SIDE.
REPLACED = {
    **{f'dld/vanilla_r50_totaltext_s{n}.py': ('dld/vanilla_r50_totaltext.py', n)
       for n in (896, 768, 640, 512, 448, 384, 256)},
    **{f'dld/vanilla_r18_synthetic_s{n}.py': ('dld/vanilla_r18_synthetic.py', n)
       for n in (320, 256, 224, 192, 160, 128, 96)},
}
NEW = {form for form, _ in REPLACED.values()}


def _paper_configs():
    path = osp.join(osp.dirname(__file__), 'test_paper_configs.py')
    spec = importlib.util.spec_from_file_location('test_paper_configs', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return set(module.checked_configs())


# Configs added since the snapshot for the paper's tables have no earlier form to resolve to:
# test_paper_configs.py checks each of them against the paper's numbers instead.
ADDED = _paper_configs() - set(SNAPSHOT) - NEW
# The TensorBoard example: the tiny spotter with one more visualisation backend
# (tests/test_visualization/test_tensorboard_example.py checks it differs in nothing else).
ADDED |= {'examples/spotter_r18_fpn_synthetic_tiny_tensorboard.py'}
# The dynamic-resolution benchmark's teacher and student (test_dynamic_configs.py checks them).
ADDED |= {'demo/spotter_r18w32_dynamic.py', 'demo/dld_r18w32_dynamic.py'}
# Text Perceptron's configs (test_text_perceptron_configs.py checks them).
ADDED |= {f'text_perceptron/{name}.py' for name in (
    'tp_r18w32_dynamic', 'dld_tp_r18w32_dynamic', 'dld_tp_r18w32_dynamic_gamma0.3',
    'tp_r50_totaltext', 'dld_tp_r50_totaltext', 'dld_tp_r50_totaltext_gamma0.3')}
# MANGO's configs (tests/test_models/test_mango/test_mango_configs.py checks them).
ADDED |= {f'mango/{name}.py' for name in (
    'mango_r18w32_dynamic', 'dld_mango_r18w32_dynamic', 'dld_mango_r18w32_dynamic_gamma0.3',
    'mango_r50_totaltext', 'dld_mango_r50_totaltext', 'dld_mango_r50_totaltext_gamma0.3')}

# Intended change, not compared here: configs/_base_/default_runtime.py sets
# `randomness=dict(seed=0)`, so that every config's run is repeatable by default instead of
# drawing a random seed; `randomness` is not one of print_config's SECTIONS, so the snapshot
# holds no earlier value to undo (tests/test_tools/test_train_test_tools.py checks the seed).

# Intended change: the model base inherits MMDetection's Mask R-CNN (`mmdet::`), and MMEngine
# builds a model inherited from another package in that package's scope unless the config names
# one; MaskRCNNSpotter is an mmdld module, so the model says `_scope_='mmdld'`.
SCOPED_MODELS = ('model', 'model.student', 'model.teacher')

# Intended change: images are loaded by mmdld's LoadImageFromFile (MMOCR's, which also refuses
# truncated JPEG/PNG files: skipped in training, an error in test) and annotation files by
# SpottingDataset (MMOCR's OCRDataset whose errors name the file, with empty texts as
# don't-care); their arguments are unchanged. New type -> the type it replaces.
RENAMED_TYPES = {
    'mmdld.LoadImageFromFile': 'mmocr.LoadImageFromFile',
    'SpottingDataset': 'mmocr.OCRDataset',
}


def _renamed(node):
    """Undo :data:`RENAMED_TYPES` everywhere in ``node`` (pipelines, wrapped datasets)."""
    if isinstance(node, dict):
        if node.get('type') in RENAMED_TYPES:
            node['type'] = RENAMED_TYPES[node['type']]
        for value in node.values():
            _renamed(value)
    elif isinstance(node, list):
        for value in node:
            _renamed(value)


# Intended change: the demo's DLD configs inherit configs/dld/_base_/dld_distiller.py instead of
# re-declaring the distiller, so they now state these arguments, each at its class's default
# (checked below): (registered class, argument) by key.
STATED_DEFAULTS = {
    'model.teacher_in_state_dict': ('DLDDistiller', 'teacher_in_state_dict'),
    'model.scale_costs': ('DLDDistiller', 'scale_costs'),
    'model.scale_gflops': ('DLDDistiller', 'scale_gflops'),
    'model.selector_gflops': ('DLDDistiller', 'selector_gflops'),
    'model.scale_pass_dtype': ('DLDDistiller', 'scale_pass_dtype'),
    'model.selector.temperature': ('DynamicResolutionSelector', 'temperature'),
    'model.skd_loss.eta1': ('SKDLoss', 'eta1'),
    'model.skd_loss.eta2': ('SKDLoss', 'eta2'),
    'model.skd_loss.loss_weight': ('SKDLoss', 'loss_weight'),
    'model.skd_loss.seq_loss': ('SKDLoss', 'seq_loss'),
}


def _default(cls_name, arg):
    value = inspect.signature(MODELS.get(cls_name).__init__).parameters[arg].default
    if isinstance(value, dict) and 'type' in value:
        # A default sub-module config: with its own class's defaults filled in.
        params = inspect.signature(MODELS.get(value['type']).__init__).parameters
        value = {**{k: p.default for k, p in params.items()
                    if k != 'self' and p.default is not inspect.Parameter.empty}, **value}
    return value


def _parent(sections, key):
    """The dict holding the dotted ``key`` of ``sections`` and the key's last part."""
    *parents, last = key.split('.')
    node = sections
    for parent in parents:
        node = node.get(parent) if isinstance(node, dict) else None
    return (node if isinstance(node, dict) else {}), last


def _has(sections, key):
    node, last = _parent(sections, key)
    return last in node


def _pop(sections, key):
    node, last = _parent(sections, key)
    return node.pop(last, None)


def _without_stated_defaults(sections, old, name):
    for key, (cls_name, arg) in STATED_DEFAULTS.items():
        if _has(old, key) or not _has(sections, key):
            continue  # not added: compared as it is
        value, default = _pop(sections, key), _default(cls_name, arg)
        if isinstance(value, dict) and isinstance(default, dict):
            value = {**default, **value}
        assert value == default, f'{name}: {key} = {value!r}, the default is {default!r}'


def _normalised(sections, old=None, name=''):
    """``sections`` with the intended changes undone (``old``: the snapshot's, when known)."""
    sections = copy.deepcopy(sections)
    _renamed(sections)
    for key in SCOPED_MODELS:
        node = _pop(sections, key + '._scope_')
        assert node in (None, 'mmdld'), f'{name}: {key}._scope_ = {node!r}'
    # Intended change: configs/_base_/default_runtime.py flushes float denormals to zero
    # (`env_cfg.flush_denormal`, read by the tools; CPU training slowed as it trained without
    # it, docs/benchmarks.md).
    env_cfg = sections.get('env_cfg')
    if isinstance(env_cfg, dict) and 'flush_denormal' in env_cfg:
        assert env_cfg.pop('flush_denormal') is True, f'{name}: env_cfg.flush_denormal'
    if old is not None:
        _without_stated_defaults(sections, old, name)
    # Intended change: the demo's DLD configs take the candidate scales of dld_distiller.py, a
    # tuple where they listed them (the selector keeps a tuple of either).
    scales = _parent(sections, 'model.selector.scales')[0].get('scales')
    old_scales = _parent(old or {}, 'model.selector.scales')[0].get('scales')
    if isinstance(scales, dict) and isinstance(old_scales, list):
        sections['model']['selector']['scales'] = scales[TUPLE]
    # Intended change: lexicon paths are relative to the dataset's data_root, which the metric
    # gets as `data_root`; what counts is the file each lexicon setting reads.
    for key in ('val_evaluator', 'test_evaluator'):
        evaluator = sections.get(key)
        if isinstance(evaluator, dict) and evaluator.get('type') == 'E2ESpottingMetric':
            metric = METRICS.build(copy.deepcopy(evaluator))
            evaluator.pop('data_root', None)
            evaluator['lexicons'] = metric.lexicons
    return sections


def test_every_config_is_in_the_snapshot_or_replaces_configs_of_it():
    assert set(CONFIGS) - set(SNAPSHOT) - ADDED == NEW
    assert set(SNAPSHOT) - set(CONFIGS) == set(REPLACED)


@pytest.mark.parametrize('name', sorted(set(CONFIGS) - NEW - ADDED))
def test_config_resolves_as_before(name, monkeypatch):
    monkeypatch.delenv('VANILLA_SHORT_SIDE', raising=False)
    new = _normalised(print_config.resolve(osp.join(CONFIG_DIR, name)), SNAPSHOT[name], name)
    assert new == _normalised(SNAPSHOT[name])


@pytest.mark.parametrize('old_name', sorted(REPLACED))
def test_vanilla_config_at_a_short_side_resolves_as_the_config_it_replaces(old_name, monkeypatch):
    form, short_side = REPLACED[old_name]
    monkeypatch.setenv('VANILLA_SHORT_SIDE', str(short_side))
    new = print_config.resolve(osp.join(CONFIG_DIR, form))
    pipeline = new['test_dataloader']['dataset']['pipeline']
    resize = [t for t in pipeline if t['type'] == 'mmocr.Resize']
    assert resize[0]['scale'] == {TUPLE: [4 * short_side, short_side]}
    assert _normalised(new, SNAPSHOT[old_name], form) == _normalised(SNAPSHOT[old_name])


def test_stated_defaults_are_checked_against_the_classes():
    """A stated value that is not its class's default is a difference, not an intended one."""
    old = SNAPSHOT['demo/dld_r18w32_demo.py']
    changed = print_config.resolve(osp.join(CONFIG_DIR, 'demo', 'dld_r18w32_demo.py'))
    changed['model']['selector']['temperature'] = 2.0
    with pytest.raises(AssertionError, match='temperature'):
        _normalised(changed, old, 'demo/dld_r18w32_demo.py')
