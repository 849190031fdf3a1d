"""Every config of the paper's tables against the numbers of the paper (ECCV 2022, §4.1, Tables
1-8).

``PAPER`` is the table: for each config the paper's table and what it sets there; the fields'
defaults are §4.1's settings, so a row states only what its table varies. Table 4's configs
(another RoI size, ``16x64`` in their names) are found by name and checked against Table 4's
rows. Configs are loaded with ``Config.fromfile`` only; nothing is built except the SKD loss
whose sequence term a row names.
"""
import glob
import os.path as osp
from dataclasses import dataclass
from typing import Dict, Iterator, List, Tuple

import pytest
from helpers import CONFIG_DIR, REPO_ROOT
from mmengine.config import Config

from mmdld.models.losses import LogitsDistillLoss, SequenceDistillLoss
from mmdld.registry import MODELS

# ------------------------------------------------------------------ §4.1 (all tables)
#: The teacher's base resolutions S-N.
BASE_SHORT_SIDE = {'icdar2013': 768, 'icdar2015': 1280, 'totaltext': 896}
#: The DRS candidate scales.
SCALES = (0.8, 0.7, 0.6, 0.5, 0.4, 0.3)
#: tau = sigma ** epoch * tau_init.
TAU_INIT, SIGMA = 5.0, 0.965
#: gamma of eq. 4; eta1, eta2 of eq. 10; lambda_1..3 of eq. 11.
GAMMA, ETA1, ETA2, LAMBDA1, LAMBDA2, LAMBDA3 = 0.1, 1.0, 1.0, 1.0, 1.0, 1.0
#: K of eq. 9 ("we simply set K=1") and the beam of "the results with the top-3 scores".
TOPK, BEAM_WIDTH = 1, 3
#: Recognition branch (§3.2, §4.1): RoI size, convolutions, BiLSTM hidden units.
ROI_SIZE, NUM_CONVS, LSTM_HIDDEN = (8, 32), 6, 256
#: Schedule: AdamW, lr 1e-3 divided by 10 at epochs 30 and 40, 50 epochs, batch 3 x 8 GPUs.
LR, MILESTONES, LR_GAMMA, EPOCHS, BATCH, GPUS = 1e-3, [30, 40], 0.1, 50, 3, 8
#: Training augmentation: shorter side scaled to [0.3, 1.0] x S-N, rotation in [-15, 15].
RESIZE_RATIO, MAX_ANGLE = (0.3, 1.0), 15


@dataclass(frozen=True)
class Paper:
    """What the paper sets for one config (defaults: §4.1).

    Attributes:
        table (str): The paper's table(s).
        dataset (str): Key of :data:`BASE_SHORT_SIDE`.
        method (str): ``'spotter'`` (the teacher), ``'vanilla'``, ``'skd_only'``,
            ``'drs_only'`` or ``'dld'``.
        gamma (float): gamma of eq. 4.
        scales (tuple): DRS candidates; SKD-only: its single fixed scale.
        tau_init (float): Initial Gumbel-softmax temperature.
        skd (tuple): Weights of L_roi, L_con (eta1), the sequence term (eta2).
        seq_term (str): The sequence term: L_seq or Table 3's logit distillation.
        teacher_roi (tuple): The teacher's RoI size.
        student_roi (tuple): The RoI size the student crops.
        student_deconv (bool): Table 4's "†": the student's RoI features are super-resolved
            to the teacher's by a deconvolution.
        short_sides (tuple): Vanilla: the test short sides of the tables, the default first.
    """
    table: str
    dataset: str
    method: str
    gamma: float = GAMMA
    scales: Tuple[float, ...] = SCALES
    tau_init: float = TAU_INIT
    skd: Tuple[float, float, float] = (1.0, ETA1, ETA2)
    seq_term: str = 'SequenceDistillLoss'
    teacher_roi: Tuple[int, int] = ROI_SIZE
    student_roi: Tuple[int, int] = ROI_SIZE
    student_deconv: bool = False
    short_sides: Tuple[int, ...] = ()


def _table1(dataset: str, high: int, low: int) -> Dict[str, Paper]:
    """Table 1's seven rows of a dataset (the Vanilla rows are one config, two short sides)."""
    rows = {
        f'spotter/maskrcnn_r50_fpn_spotter_{dataset}.py': Paper('1 (teacher)', dataset,
                                                               'spotter'),
        f'dld/vanilla_r50_{dataset}.py': Paper('1', dataset, 'vanilla', short_sides=(low, high)),
        f'dld/skd_only_r50_{dataset}.py': Paper('1', dataset, 'skd_only', scales=(0.5, )),
        f'dld/dld_r50_{dataset}.py': Paper('1', dataset, 'dld', gamma=0.1),
        f'dld/dld_r50_{dataset}_gamma0.3.py': Paper('1', dataset, 'dld', gamma=0.3),
    }
    for gamma in (0.1, 0.3):
        rows[f'dld/drs_only_r50_{dataset}_gamma{gamma}.py'] = Paper('1', dataset, 'drs_only',
                                                                    gamma=gamma)
    return rows


ABL = 'dld/ablations/'
TT = 'totaltext'
PAPER: Dict[str, Paper] = {
    # Table 1.
    **_table1('icdar2013', 768, 384),
    **_table1('icdar2015', 1280, 640),
    **_table1(TT, 896, 448),
    # Table 8's Vanilla rows test the same Total-Text teacher at S-896 ... S-384.
    'dld/vanilla_r50_totaltext.py': Paper('1, 8', TT, 'vanilla',
                                          short_sides=(448, 896, 768, 640, 512, 384)),
    # Table 2: SKD-only (S-448) with each loss alone and with all three.
    ABL + 'skd_only_r50_totaltext_roi.py': Paper('2', TT, 'skd_only', scales=(0.5, ),
                                                 skd=(1.0, 0.0, 0.0)),
    ABL + 'skd_only_r50_totaltext_con.py': Paper('2', TT, 'skd_only', scales=(0.5, ),
                                                 skd=(0.0, 1.0, 0.0)),
    ABL + 'skd_only_r50_totaltext_seq.py': Paper('2', TT, 'skd_only', scales=(0.5, ),
                                                 skd=(0.0, 0.0, 1.0)),
    ABL + 'skd_only_r50_totaltext_roi_con_seq.py': Paper('2', TT, 'skd_only', scales=(0.5, )),
    # Table 3: "SKD replaced Logits" (the "SKD" row is Table 1's SKD-only config).
    ABL + 'skd_only_r50_totaltext_logits.py': Paper('3', TT, 'skd_only', scales=(0.5, ),
                                                    seq_term='LogitsDistillLoss'),
    # Table 5: candidate scales ({0.5} is SKD-only).
    ABL + 'dld_r50_totaltext_scales_0.5.py': Paper('5', TT, 'skd_only', scales=(0.5, )),
    ABL + 'dld_r50_totaltext_scales_0.8_0.7_0.6.py': Paper('5', TT, 'dld',
                                                           scales=(0.8, 0.7, 0.6)),
    ABL + 'dld_r50_totaltext_scales_0.5_0.4_0.3.py': Paper('5', TT, 'dld',
                                                           scales=(0.5, 0.4, 0.3)),
    ABL + 'dld_r50_totaltext_scales_0.8_to_0.3.py': Paper('5', TT, 'dld', scales=SCALES),
    # Table 6: gamma.
    **{ABL + f'dld_r50_totaltext_gamma{g}.py': Paper('6', TT, 'dld', gamma=g)
       for g in (0.1, 0.2, 0.3, 0.4, 0.5)},
    # Table 7: tau_init.
    **{ABL + f'dld_r50_totaltext_tau{t}.py': Paper('7', TT, 'dld', tau_init=float(t))
       for t in (1, 3, 5, 7, 9)},
}

#: Table 4's rows: the Vanilla teacher with 16 x 64 RoIs, DLD with 16 x 64 in both, and DLD
#: with a 16 x 64 teacher and an 8 x 32 student plus deconv ("†").
TABLE4 = {
    'spotter': Paper('4 (Vanilla H)', TT, 'spotter', teacher_roi=(16, 64)),
    'dld': Paper('4', TT, 'dld', teacher_roi=(16, 64), student_roi=(16, 64)),
    'deconv': Paper('4', TT, 'dld', teacher_roi=(16, 64), student_roi=(8, 32),
                    student_deconv=True),
}


def _table4_row(basename: str) -> Paper:
    if basename.startswith('maskrcnn_'):
        return TABLE4['spotter']
    return TABLE4['deconv' if 'deconv' in basename else 'dld']


def table4_configs() -> Dict[str, Paper]:
    """Table 4's configs present in ``configs/dld/`` (names with ``16x64``)."""
    paths = glob.glob(osp.join(CONFIG_DIR, 'dld', '**', '*16x64*.py'), recursive=True)
    return {osp.relpath(p, CONFIG_DIR): _table4_row(osp.basename(p)) for p in sorted(paths)}


def checked_configs() -> Dict[str, Paper]:
    """Every config this module checks, with the paper's settings for it."""
    return {**PAPER, **table4_configs()}


# ------------------------------------------------------------------ helpers
def _load(name: str) -> Config:
    return Config.fromfile(osp.join(CONFIG_DIR, name))


def _resizes(pipeline: List[dict]) -> List[dict]:
    return [t for t in pipeline if t['type'].endswith('Resize')]


def _types(node) -> Iterator[str]:
    """Every ``type`` in a nested config."""
    if isinstance(node, dict):
        if isinstance(node.get('type'), str):
            yield node['type']
        for value in node.values():
            yield from _types(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _types(value)


def _check_schedule(cfg: Config) -> None:
    assert cfg.train_cfg.type == 'EpochBasedTrainLoop' and cfg.train_cfg.max_epochs == EPOCHS
    optimizer = cfg.optim_wrapper.optimizer
    assert optimizer.type == 'AdamW' and optimizer.lr == LR
    steps = [s for s in cfg.param_scheduler if s.type == 'MultiStepLR']
    assert len(steps) == 1 and steps[0].by_epoch
    assert steps[0].milestones == MILESTONES and steps[0].gamma == LR_GAMMA
    assert cfg.train_dataloader.batch_size == BATCH
    assert cfg.auto_scale_lr.base_batch_size == BATCH * GPUS


def _check_pipelines(cfg: Config, short_side: int, test_short_side: int) -> None:
    train = _resizes(cfg.train_dataloader.dataset.pipeline)
    assert [t.type for t in train] == ['RandomResize']
    assert train[0].scale == (4 * short_side, short_side)
    assert tuple(train[0].ratio_range) == RESIZE_RATIO
    rotate = [t for t in cfg.train_dataloader.dataset.pipeline if t.type.endswith('Rotate')]
    assert len(rotate) == 1 and rotate[0].max_angle == MAX_ANGLE
    test = _resizes(cfg.test_dataloader.dataset.pipeline)
    assert len(test) == 1 and test[0].scale == (4 * test_short_side, test_short_side)
    assert cfg.val_dataloader.dataset.pipeline == cfg.test_dataloader.dataset.pipeline


def _rec_crop_size(extractor: dict) -> Tuple[int, int]:
    """The RoI size an extractor crops (a super-resolving wrapper: its inner extractor's)."""
    inner = extractor.get('extractor', extractor)
    return tuple(inner['output_size'])


def _check_spotter(model: dict, roi: Tuple[int, int], what: str) -> None:
    assert model['type'] == 'MaskRCNNSpotter', what
    assert model['backbone']['depth'] == 50, what
    roi_head = model['roi_head']
    assert _rec_crop_size(roi_head['rec_roi_extractor']) == roi, what
    head = roi_head['rec_head']
    assert head['type'] == 'BiLSTMAttnHead', what
    if 'extractor' not in roi_head['rec_roi_extractor']:  # else it reads the super-resolved
        assert tuple(head['roi_size']) == roi, what
    assert head['num_convs'] == NUM_CONVS and head['lstm_hidden'] == LSTM_HIDDEN, what


def _check_distiller(cfg: Config, paper: Paper) -> None:
    model = cfg.model
    assert model.type == 'DLDDistiller' and model.init_student_from_teacher
    teacher = model.teacher
    if isinstance(teacher, str):  # the path of the teacher's config
        teacher = Config.fromfile(osp.join(REPO_ROOT, teacher)).model
    _check_spotter(teacher, paper.teacher_roi, 'teacher')
    _check_spotter(model.student, paper.student_roi, 'student')
    if paper.student_deconv:
        assert any('Deconv' in t for t in _types(model.student)) or (
            model.get('roi_align') or {}).get('mode') == 'deconv'
    assert model.rec_loss_weight == LAMBDA1
    drs = model.drs_loss
    assert drs.loss_weight == LAMBDA2 and drs.gamma == paper.gamma
    skd = model.skd_loss
    assert skd.loss_weight == (0.0 if paper.method == 'drs_only' else LAMBDA3)
    roi_weight = skd.get('roi_loss', {}).get('loss_weight', 1.0)
    assert (roi_weight, skd.eta1, skd.eta2) == paper.skd
    assert skd.seq_loss.type == paper.seq_term
    if paper.seq_term == 'SequenceDistillLoss':
        assert skd.seq_loss.topk == TOPK and model.teacher_beam_width == BEAM_WIDTH
    if paper.method == 'skd_only':
        assert model.selector is None and (model.fixed_scale, ) == paper.scales
        assert not cfg.custom_hooks
        return
    assert model.get('fixed_scale') is None
    assert tuple(model.selector.scales) == paper.scales
    assert model.selector.temperature == paper.tau_init
    hooks = [h for h in cfg.custom_hooks if h.type == 'GumbelTemperatureHook']
    assert len(hooks) == 1
    assert (hooks[0].tau_init, hooks[0].sigma, hooks[0].by_epoch) == (paper.tau_init, SIGMA,
                                                                      True)


# ------------------------------------------------------------------ tests
def test_every_r50_paper_config_is_in_the_table():
    found = {
        osp.relpath(p, CONFIG_DIR)
        for folder in ('dld', 'spotter')
        for p in glob.glob(osp.join(CONFIG_DIR, folder, '**', '*_r50_*.py'), recursive=True)
        if '_base_' not in p and 'mixture' not in p
    }
    assert found == set(checked_configs())
    # Every table of the paper has its configs.
    tables = {t.strip().split(' ')[0] for p in checked_configs().values()
              for t in p.table.split(',')}
    assert tables == {str(n) for n in range(1, 9)}


@pytest.mark.parametrize('name', sorted(checked_configs()))
def test_config_follows_the_paper(name, monkeypatch):
    monkeypatch.delenv('VANILLA_SHORT_SIDE', raising=False)
    paper = checked_configs()[name]
    base = BASE_SHORT_SIDE[paper.dataset]
    cfg = _load(name)
    _check_schedule(cfg)
    if paper.method == 'vanilla':
        # The spotter tested at a fixed short side, the default and each of the tables'.
        _check_spotter(cfg.model, ROI_SIZE, 'model')
        _check_pipelines(cfg, base, paper.short_sides[0])
        for short_side in paper.short_sides:
            monkeypatch.setenv('VANILLA_SHORT_SIDE', str(short_side))
            _check_pipelines(_load(name), base, short_side)
        return
    # The teacher (and the distiller's input) at the base resolution S-N.
    _check_pipelines(cfg, base, base)
    if paper.method == 'spotter':
        _check_spotter(cfg.model, paper.teacher_roi, 'model')
    else:
        _check_distiller(cfg, paper)


@pytest.mark.parametrize('name, seq_type, topk', [
    ('dld/skd_only_r50_totaltext.py', SequenceDistillLoss, TOPK),
    (ABL + 'skd_only_r50_totaltext_roi.py', SequenceDistillLoss, None),
    (ABL + 'skd_only_r50_totaltext_con.py', SequenceDistillLoss, None),
    (ABL + 'skd_only_r50_totaltext_seq.py', SequenceDistillLoss, TOPK),
    (ABL + 'skd_only_r50_totaltext_logits.py', LogitsDistillLoss, None),
])
def test_sequence_term_of_tables_2_and_3(name, seq_type, topk):
    """The sequence term each config builds, and the beams it asks of the teacher."""
    skd = MODELS.build(_load(name).model.skd_loss)
    assert type(skd.seq_loss) is seq_type
    assert skd.seq_topk == topk
    assert skd.needs_step_log_probs == (seq_type is LogitsDistillLoss)


def test_table4_configs_are_its_three_rows():
    """Table 4's configs (``*16x64*`` under configs/dld/) are exactly its three 16 x 64 rows."""
    found = table4_configs()
    assert found, 'no Table 4 config (``*16x64*``) under configs/dld/'
    assert sorted(found.values(), key=repr) == sorted(TABLE4.values(), key=repr), sorted(found)
