"""tools/analysis_tools/scale_oracle.py: the table from per_image.json files, the report, the
provenance of reused scale folders, and end-to-end runs on the tiny configs."""
import hashlib
import json
import math
import os.path as osp
import re
from types import SimpleNamespace

import pytest
import torch
from helpers import CONFIG_DIR
from mmengine.config import Config

from mmdld.registry import MODELS

SPOTTER_TINY = osp.join(CONFIG_DIR, 'demo', 'spotter_r18w32_demo_tiny.py')
DLD_TINY = osp.join(CONFIG_DIR, 'demo', 'dld_r18w32_demo_tiny.py')
#: Test runs in this process: no dataloader workers.
NO_WORKERS = ['test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False']


@pytest.fixture
def tool(load_tool):
    return load_tool('tools/analysis_tools/scale_oracle.py')


def record(name, counts, gflops=None, scale=None):
    """A per_image.json record with ``e2e/none`` counts ``[matched, care GT, care det]``."""
    matched, num_gt, num_det = counts
    return dict(name=name, img_path=f'imgs/{name}.jpg', scale=scale, gflops=gflops,
                gt_texts=['w'] * num_gt, num_gt_dont_care=0, det_texts=['w'] * num_det,
                det_scores=None, matched_texts=['w'] * matched,
                counts={'e2e/none': [matched, num_gt, num_det, 0, 0]}, rec=None)


def write_records(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(format='mmdld.per_image/1', iou_thr=0.5,
                                    num_images=len(records), images=records)))
    return str(path)


#: Three images at scales 1.0 / 0.6 / 0.3 (as in tests/test_evaluation/test_functional/
#: test_scale_oracle.py): easy reads its 2 words everywhere, medium needs 0.6, hard 1.0.
COUNTS = {1.0: dict(easy=(2, 2, 2), medium=(3, 3, 3), hard=(4, 5, 5)),
          0.6: dict(easy=(2, 2, 2), medium=(3, 3, 3), hard=(2, 5, 3)),
          0.3: dict(easy=(2, 2, 2), medium=(1, 3, 2), hard=(0, 5, 1))}
COSTS = {1.0: 10., 0.6: 4., 0.3: 1.}


def write_scales(work_dir, counted=True):
    """``scale_<s>/per_image.json`` without GFLOPs, and each scale's ``flops.json``."""
    paths = {}
    for scale, counts in COUNTS.items():
        folder = work_dir / f'scale_{scale}'
        paths[scale] = write_records(folder / 'per_image.json',
                                     [record(n, c) for n, c in counts.items()])
        if counted:
            (folder / 'flops.json').write_text(json.dumps(dict(
                per_image={n: COSTS[scale] for n in counts}, scale=scale)))
    return paths


def write_checkpoint(path, fill=b'a'):
    """A checkpoint file of 1 MiB + 3 bytes (only its identity matters to the tool)."""
    path.write_bytes(fill * (2**20 + 3))
    return str(path)


def spotter_provenance(tool, scale, checkpoint, cfg_options=None):
    """The provenance main() expects for the tiny spotter at ``scale``."""
    cfg = Config.fromfile(SPOTTER_TINY)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return tool.scale_provenance(tool.scaled_spotter_cfg(cfg, scale, SPOTTER_TINY),
                                 SPOTTER_TINY, tool.checkpoint_identity(checkpoint), scale,
                                 False)


def write_provenance(tool, work_dir, checkpoint):
    """Each scale folder's provenance.json, as main() writes it for the tiny spotter."""
    for scale in COUNTS:
        (work_dir / f'scale_{scale}' / 'provenance.json').write_text(
            json.dumps(spotter_provenance(tool, scale, checkpoint)))


def no_run(cfg):
    raise AssertionError('a scale with per_image.json was run again')


def write_drs(path):
    """A DRS run: easy at 0.3 (1 GFLOP), medium and hard at 0.6 (4 and 7 GFLOPs with the
    hard image's recognition): 8 of 10 words with 10 detections, hmean 0.8 at 4 GFLOPs."""
    return write_records(path, [record('easy', (2, 2, 2), 1., 0.3),
                                record('medium', (3, 3, 3), 4., 0.6),
                                record('hard', (3, 5, 5), 7., 0.6)])


def test_table_from_per_image_files(tool, tmp_path):
    paths = write_scales(tmp_path, counted=False)
    counted = {s: {n: COSTS[s] for n in COUNTS[s]} for s in COUNTS}
    counted[0.3] = dict(easy=1.5)  # one image counted: its cost stands for all
    table, sources = tool.load_scale_table(paths, 'e2e/none', counted)
    assert table.scales == (1.0, 0.6, 0.3) and table.reference == 0
    assert table.names == ('easy', 'medium', 'hard')
    assert table.matched.tolist() == [[2, 2, 2], [3, 3, 1], [4, 2, 0]]
    assert table.num_det.tolist() == [[2, 2, 2], [3, 3, 2], [5, 3, 1]]
    assert table.num_gt.tolist() == [2, 3, 5]
    assert table.gflops.tolist() == [[10., 4., 1.5]] * 3
    assert sources == {1.0: 'counted per image', 0.6: 'counted per image',
                       0.3: 'counted mean of 1 images'}
    # The records' own GFLOPs win over a count.
    write_records(tmp_path / 'scale_0.3' / 'per_image.json',
                  [record(n, c, gflops=0.5) for n, c in COUNTS[0.3].items()])
    table, sources = tool.load_scale_table(paths, 'e2e/none', counted)
    assert table.gflops[:, 2].tolist() == [0.5] * 3 and sources[0.3] == 'records'


def test_table_refuses_mismatched_files(tool, tmp_path):
    paths = write_scales(tmp_path)
    write_records(tmp_path / 'scale_0.6' / 'per_image.json',
                  [record('easy', (2, 2, 2)), record('medium', (3, 3, 3)),
                   record('other', (0, 1, 0))])
    with pytest.raises(ValueError, match=r"scale_0.6/per_image.json and .*scale_1.0/"
                       r"per_image.json hold different images: \['hard'\] only in the latter, "
                       r"\['other'\] only in the former"):
        tool.load_scale_table(paths, 'e2e/none', {s: {} for s in paths})
    write_records(tmp_path / 'scale_0.6' / 'per_image.json',
                  [record('easy', (2, 2, 2)), record('medium', (3, 4, 3)),
                   record('hard', (2, 5, 3))])
    with pytest.raises(ValueError, match=r'image medium has 4 care GT \(e2e/none\) in .*'
                       r'scale_0.6/per_image.json but 3 in .*scale_1.0/per_image.json'):
        tool.load_scale_table(paths, 'e2e/none')
    paths = write_scales(tmp_path / 'uncounted', counted=False)
    with pytest.raises(ValueError, match=r'scale_1.0/per_image.json: the records have no '
                       r'gflops and no FLOPs were counted \(flops.json\)'):
        tool.load_scale_table(paths, 'e2e/none')


def test_main_resumes_from_existing_scales_and_reports_the_drs(tool, tmp_path, monkeypatch):
    work_dir = tmp_path / 'oracle'
    checkpoint = write_checkpoint(tmp_path / 'model.pth')
    write_scales(work_dir)
    write_provenance(tool, work_dir, checkpoint)
    drs = write_drs(tmp_path / 'drs' / 'per_image.json')
    monkeypatch.setattr(tool, 'run_test', no_run)
    result = tool.main([SPOTTER_TINY, checkpoint, '--scales', '0.3', '1.0', '0.6',
                        '--work-dir', str(work_dir), '--drs', drs])
    assert [p['hmean'] for p in result['fixed']] == pytest.approx([0.9, 14 / 18, 6 / 15])
    cheapest = result['cheapest_keeping_matches']
    assert cheapest['choices'] == dict(easy=0.3, medium=0.6, hard=1.0)
    assert cheapest['images_per_scale'] == {1.0: 1, 0.6: 1, 0.3: 1}
    assert (cheapest['gflops'], cheapest['hmean']) == pytest.approx((5., 0.9))
    capped = result['oracles']['capped']
    assert capped['points']['gflops'] == pytest.approx([1., 2., 3., 5.])
    assert capped['upgrades'] == [['medium', 0.3, 0.6], ['hard', 0.3, 0.6], ['hard', 0.6, 1.0]]
    # The DRS (hmean 0.8 at 4 GFLOPs) against the fixed scales at 4 GFLOPs (0.6: 7/9) and the
    # oracle there (16/19): it reaches 19/55 of the oracle's gain.
    report = result['drs'][drs]
    assert report['hmean'] == pytest.approx(0.8) and report['gflops'] == pytest.approx(4.)
    assert report['fixed_at']['hmean'] == pytest.approx(7 / 9)
    assert report['oracle_at']['capped/interpolate']['hmean'] == pytest.approx(16 / 19)
    assert report['oracle_at']['capped/step']['hmean'] == pytest.approx(7 / 9)
    assert report['share_of_oracle_gain']['capped'] == pytest.approx(19 / 55)
    assert report['picks_cheapest_keeping_matches'] == pytest.approx(2 / 3)
    assert result['gflops_source'] == {'1.0': 'counted per image', '0.6': 'counted per image',
                                       '0.3': 'counted per image'}
    with open(work_dir / 'oracle.json') as f:
        assert json.load(f)['oracles']['capped']['upgrades'] == capped['upgrades']
    markdown = (work_dir / 'oracle.md').read_text()
    assert '| 0.6 | 4.000 | 77.8 | 84.2 | 77.8 | 84.2 | 77.8 |' in markdown
    assert f'| {drs} | 4.000 | 80.0 | 77.8 | 84.2 | 0.35 | 84.2 | 0.35 | 67% |' in markdown
    assert ('hmean 90.0 (capped 90.0) at 5.000 GFLOPs (images per scale: 1: 1, 0.6: 1, '
            '0.3: 1)') in markdown


def test_provenance_names_the_config_its_settings_the_checkpoint_and_the_scale(tool, tmp_path):
    checkpoint = write_checkpoint(tmp_path / 'model.pth')
    identity = tool.checkpoint_identity(checkpoint)
    # Size and the hash of the first MiB (the 3 bytes past it are not hashed).
    assert identity == dict(checkpoint=checkpoint, checkpoint_size=2**20 + 3,
                            checkpoint_sha256_1mib=hashlib.sha256(b'a' * 2**20).hexdigest())
    cfg = Config.fromfile(SPOTTER_TINY)
    provenance = tool.scale_provenance(cfg, SPOTTER_TINY, identity, 0.5, False)
    settings = json.dumps(cfg.to_dict(), sort_keys=True).encode('utf-8')
    assert provenance == dict(format='mmdld.scale_oracle.provenance/1', config=SPOTTER_TINY,
                              config_sha256=hashlib.sha256(settings).hexdigest(), **identity,
                              scale=0.5, force_dld_scale=False)
    # The same config loaded again hashes the same; a changed setting does not.
    assert tool.config_sha256(Config.fromfile(SPOTTER_TINY)) == provenance['config_sha256']
    cfg.merge_from_dict({'model.test_cfg.rcnn.score_thr': 0.9})
    assert tool.config_sha256(cfg) != provenance['config_sha256']
    assert tool.checkpoint_identity('https://host/model.pth') == dict(
        checkpoint='https://host/model.pth', checkpoint_size=None, checkpoint_sha256_1mib=None)
    with pytest.raises(FileNotFoundError, match=r'scale_oracle: checkpoint .*missing.pth does '
                       r'not exist'):
        tool.checkpoint_identity(str(tmp_path / 'missing.pth'))


def test_records_of_another_checkpoint_or_config_are_refused(tool, tmp_path, monkeypatch):
    work_dir = tmp_path / 'oracle'
    checkpoint = write_checkpoint(tmp_path / 'model.pth')
    write_scales(work_dir)
    write_provenance(tool, work_dir, checkpoint)
    monkeypatch.setattr(tool, 'run_test', no_run)
    args = [SPOTTER_TINY, checkpoint, '--scales', '0.3', '1.0', '0.6', '--work-dir',
            str(work_dir)]
    folder = re.escape(str(work_dir / 'scale_1.0'))  # the first scale checked
    # Retrained in place: same path and size, other weights.
    write_checkpoint(tmp_path / 'model.pth', fill=b'b')
    there = hashlib.sha256(b'a' * 2**20).hexdigest()
    now = hashlib.sha256(b'b' * 2**20).hexdigest()
    with pytest.raises(SystemExit, match=rf"^scale_oracle.py: {folder} holds the records of "
                       rf"another run \(checkpoint_sha256_1mib: '{there}' there, '{now}' now\); "
                       r'pass --overwrite to recompute it, or use another --work-dir$'):
        tool.main(args)
    write_checkpoint(tmp_path / 'model.pth')
    with pytest.raises(SystemExit, match=rf'^scale_oracle.py: {folder} holds the records of '
                       r"another run \(config_sha256: '[0-9a-f]{64}' there, '[0-9a-f]{64}' "
                       r'now\); pass --overwrite'):
        tool.main(args + ['--cfg-options', 'model.test_cfg.rcnn.score_thr=0.9'])
    # A folder of an older version of the tool has no provenance.
    (work_dir / 'scale_1.0' / 'provenance.json').unlink()
    with pytest.raises(SystemExit, match=rf'^scale_oracle.py: {folder} holds the records of '
                       r'another run \(no provenance.json: written by an older version of this '
                       r'tool, its config and checkpoint are unknown\); pass --overwrite to '
                       r'recompute it, or use another --work-dir$'):
        tool.main(args)


def test_overwrite_recomputes_only_the_folders_of_another_run(tool, tmp_path, monkeypatch):
    work_dir = tmp_path / 'oracle'
    checkpoint = write_checkpoint(tmp_path / 'model.pth')
    write_scales(work_dir)
    write_provenance(tool, work_dir, checkpoint)
    stale = work_dir / 'scale_0.6'
    (stale / 'provenance.json').write_text(json.dumps(dict(
        spotter_provenance(tool, 0.6, checkpoint), config='/elsewhere/spotter.py')))
    (stale / 'flops.json').write_text(json.dumps(dict(per_image=dict(easy=99.), scale=0.6)))
    expected = spotter_provenance(tool, 0.6, checkpoint)
    runs = []

    def fake_run(cfg):
        out_dir = cfg.test_evaluator.outfile_dir
        # The old records and count are gone and this run's provenance is written first.
        assert sorted(p.name for p in stale.iterdir()) == ['provenance.json']
        assert json.loads((stale / 'provenance.json').read_text()) == expected
        runs.append(out_dir)
        write_records(stale / 'per_image.json', [record(n, c) for n, c in COUNTS[0.6].items()])
        return SimpleNamespace(model='the tested model')

    counts = []

    def fake_count(model, cfg, num_images):
        counts.append((model, num_images))
        return {n: COSTS[0.6] for n in COUNTS[0.6]}

    monkeypatch.setattr(tool, 'run_test', fake_run)
    monkeypatch.setattr(tool, 'count_gflops', fake_count)
    result = tool.main([SPOTTER_TINY, checkpoint, '--scales', '0.3', '1.0', '0.6',
                        '--work-dir', str(work_dir), '--overwrite', '--flops-images', '0'])
    assert runs == [str(stale)] and counts == [('the tested model', 0)]
    assert json.loads((stale / 'flops.json').read_text()) == dict(
        per_image=dict(easy=4., medium=4., hard=4.), scale=0.6)
    assert [p['hmean'] for p in result['fixed']] == pytest.approx([0.9, 14 / 18, 6 / 15])
    # Now every folder is this run's: nothing runs again, with or without --overwrite.
    monkeypatch.setattr(tool, 'run_test', no_run)
    assert tool.main([SPOTTER_TINY, checkpoint, '--scales', '0.3', '1.0', '0.6',
                      '--work-dir', str(work_dir), '--overwrite']) == result


def test_cheapest_selection_is_also_reported_with_capped_words(tool):
    from mmdld.evaluation.functional.scale_oracle import ScaleTable

    # lucky matches 2 words at 0.6 but 1 at full resolution; plain 3 at both.
    table = ScaleTable(matched=[[1, 2, 0], [3, 3, 1]], num_det=[[2, 2, 1], [3, 3, 2]],
                       num_gt=[3, 3], gflops=[10., 4., 1.], reference=0, scales=[1.0, 0.6, 0.3],
                       names=['lucky', 'plain'])
    cheapest = tool.analyse(table)['cheapest_keeping_matches']
    assert cheapest['choices'] == dict(lucky=0.6, plain=0.6)
    assert cheapest['hmean'] == pytest.approx(10 / 11)  # 5 of 6 words, 5 detections
    assert cheapest['capped_hmean'] == pytest.approx(8 / 11)  # lucky's second word not counted


def test_drs_without_gflops_or_with_other_images_is_refused(tool, tmp_path):
    path = write_records(tmp_path / 'drs.json', [record('easy', (2, 2, 2), None, 0.3)])
    with pytest.raises(ValueError, match=r'drs.json: image easy has no gflops'):
        tool.drs_point(path, 'e2e/none', ['easy'])
    with pytest.raises(ValueError, match=r"drs.json: the DRS run holds other test images than "
                       r"the scale runs \(e.g. \['hard'\]\)"):
        tool.drs_point(path, 'e2e/none', ['easy', 'hard'])


def test_dld_config_needs_force_dld_scale_and_spotter_refuses_it(tool, tmp_path):
    with pytest.raises(SystemExit, match='is a DLDDistiller, whose DRS picks the scale; pass '
                       '--force-dld-scale'):
        tool.main([DLD_TINY, 'x.pth', '--work-dir', str(tmp_path)])
    with pytest.raises(ValueError, match=r"spotter_r18w32_demo_tiny.py: --force-dld-scale "
                       r"needs a DLDDistiller config, model.type is 'MaskRCNNSpotter'"):
        tool.forced_dld_cfg(Config.fromfile(SPOTTER_TINY), 0.5, SPOTTER_TINY, {})


def test_forced_dld_cfg_is_skd_only_with_the_known_cost(tool, tmp_path):
    cfg = Config.fromfile(DLD_TINY)
    checkpoint = str(tmp_path / 'dld.pth')
    stored = torch.tensor([4., 3.5, 3., 2.5, 2., 1.5], dtype=torch.float64)
    torch.save(dict(state_dict={'cost_table.stored_scale_gflops': stored}), checkpoint)
    known = tool.checkpoint_scale_gflops(cfg, checkpoint)
    assert known == {0.8: 4., 0.7: 3.5, 0.6: 3., 0.5: 2.5, 0.4: 2., 0.3: 1.5}
    forced = tool.forced_dld_cfg(cfg, 0.7, DLD_TINY, known)
    assert forced.model.selector is None and forced.model.fixed_scale == 0.7
    assert forced.model.scale_gflops == [3.5] and forced.model.scale_costs is None
    assert cfg.model.selector is not None  # the config itself is untouched
    assert tool.forced_dld_cfg(cfg, 1.0, DLD_TINY, known).model.scale_gflops is None
    # The config's own GFLOPs win over the checkpoint's; NaN (not measured) gives none.
    cfg.model.scale_gflops = [9., 8., 7., 6., 5., 4.]
    assert tool.checkpoint_scale_gflops(cfg, checkpoint)[0.8] == 9.
    cfg.model.scale_gflops = None
    torch.save(dict(state_dict={'cost_table.stored_scale_gflops': stored * math.nan}),
               checkpoint)
    assert tool.checkpoint_scale_gflops(cfg, checkpoint) == {}


def test_scaled_spotter_cfg_multiplies_the_test_resize(tool):
    cfg = Config.fromfile(SPOTTER_TINY)
    resize = [t for t in cfg.test_dataloader.dataset.pipeline if t['type'].endswith('Resize')]
    scaled = tool.scaled_spotter_cfg(cfg, 0.5, SPOTTER_TINY)
    scaled_resize = [t for t in scaled.test_dataloader.dataset.pipeline
                     if t['type'].endswith('Resize')]
    assert tuple(resize[0]['scale']) == (1280, 320)
    assert tuple(scaled_resize[0]['scale']) == (640, 160)


@pytest.mark.slow
def test_teacher_at_two_scales_end_to_end(tool, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the tiny data are generated under ./data
    checkpoint = str(tmp_path / 'random.pth')
    torch.save(dict(state_dict=MODELS.build(Config.fromfile(SPOTTER_TINY).model).state_dict(),
                    meta={}), checkpoint)
    args = [SPOTTER_TINY, checkpoint, '--scales', '1.0', '0.5', '--work-dir', 'oracle',
            '--flops-images', '1', '--cfg-options', *NO_WORKERS]
    result = tool.main(args)
    for scale in ('1.0', '0.5'):
        with open(osp.join('oracle', f'scale_{scale}', 'per_image.json')) as f:
            assert [r['name'] for r in json.load(f)['images']] == ['000000', '000001']
    dumped = Config.fromfile(osp.join('oracle', 'scale_0.5', 'work_dir',
                                      osp.basename(SPOTTER_TINY)))
    assert [tuple(t['scale']) for t in dumped.test_dataloader.dataset.pipeline
            if t['type'].endswith('Resize')] == [(640, 160)]
    assert result['gflops_source'] == {'1.0': 'counted mean of 1 images',
                                       '0.5': 'counted mean of 1 images'}
    full, half = result['fixed']
    assert (full['scale'], half['scale']) == (1.0, 0.5)
    assert 0 < half['gflops'] < full['gflops']
    assert full['num_gt'] == half['num_gt'] > 0
    assert len(result['cheapest_keeping_matches']['choices']) == 2
    with open(osp.join('oracle', 'scale_0.5', 'provenance.json')) as f:
        provenance = json.load(f)
    assert (provenance['config'], provenance['checkpoint'], provenance['scale'],
            provenance['force_dld_scale']) == (SPOTTER_TINY, checkpoint, 0.5, False)
    monkeypatch.setattr(tool, 'run_test', no_run)
    assert tool.main(args) == result


@pytest.mark.slow
def test_dld_student_forced_to_two_scales_end_to_end(tool, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    teacher = f'model.teacher={SPOTTER_TINY}'  # the config names it relative to the repository
    cfg = Config.fromfile(DLD_TINY)
    cfg.model.teacher = SPOTTER_TINY
    state_dict = MODELS.build(cfg.model).state_dict()
    # The costs a trained student carries for its candidate scales 0.8 ... 0.3.
    state_dict['cost_table.stored_scale_gflops'] = torch.tensor(
        [4., 3.5, 3., 2.5, 2., 1.5], dtype=torch.float64)
    checkpoint = str(tmp_path / 'dld.pth')
    torch.save(dict(state_dict=state_dict, meta={}), checkpoint)
    result = tool.main([DLD_TINY, checkpoint, '--scales', '1.0', '0.8', '--work-dir', 'oracle',
                        '--force-dld-scale', '--cfg-options', teacher, *NO_WORKERS])
    with open(osp.join('oracle', 'scale_0.8', 'per_image.json')) as f:
        records = json.load(f)['images']
    # The forced student reports the checkpoint's cost of 0.8; 1.0, not a candidate, is
    # measured.
    assert [(r['scale'], r['gflops']) for r in records] == [(0.8, 4.), (0.8, 4.)]
    assert result['gflops_source'] == {'1.0': 'records', '0.8': 'records'}
    assert result['fixed'][1]['gflops'] == pytest.approx(4.)
    assert result['fixed'][0]['gflops'] > 0
