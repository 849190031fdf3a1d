"""tools/analysis_tools/compare_results.py on per_image.json files written by hand."""
import json

import numpy as np
import pytest

from mmdld.evaluation.functional import write_per_image

TOOL = 'tools/analysis_tools/compare_results.py'


def records(hits, num_gt=4, scales=None, gflops=None, prefix='img'):
    """One record per image; ``hits[i]`` of ``num_gt`` words found, as many detections."""
    out = []
    for i, hit in enumerate(hits):
        counts = [int(hit), num_gt, num_gt, 0, 0]
        out.append(dict(name=f'{prefix}_{i}', img_path=f'imgs/{prefix}_{i}.jpg',
                        scale=None if scales is None else scales[i],
                        gflops=None if gflops is None else gflops[i],
                        gt_texts=['w'] * num_gt, num_gt_dont_care=0, det_texts=['w'] * num_gt,
                        det_scores=None, matched_texts=['w'] * int(hit),
                        counts={'det': [num_gt, num_gt, num_gt, 0, 0], 'e2e/none': counts},
                        rec=None))
    return out


def write(path, images, **meta):
    path.parent.mkdir(parents=True, exist_ok=True)
    write_per_image(str(path), images, iou_thr=0.5, score_thr=meta.pop('score_thr', 0.0),
                    **meta)
    return str(path)


def test_intervals_costs_scales_and_paired_verdicts(load_tool, tmp_path, capsys):
    rng = np.random.default_rng(0)
    base = rng.integers(0, 5, 300)  # per-image difficulty shared by all three results
    vanilla = write(tmp_path / 'vanilla' / 'metrics' / 'per_image.json', records(base))
    better = np.minimum(base + (rng.random(300) < 0.3), 4)
    scales = [0.5 if i % 3 else 1.0 for i in range(300)]
    dld = write(tmp_path / 'dld' / 'per_image.json',
                records(better, scales=scales, gflops=[10.0 if s == 0.5 else 40.0
                                                       for s in scales])[::-1])  # other order
    same = write(tmp_path / 'same.json', records(base))
    out = tmp_path / 'table.json'
    report = load_tool(TOOL).main([vanilla, dld, same, '--samples', '500', '--out', str(out)])
    printed = capsys.readouterr().out

    vanilla_row, dld_row, same_row = report['results']
    assert [r['name'] for r in report['results']] == ['vanilla', 'dld', 'same']
    assert vanilla_row['hmean']['point'] == pytest.approx(base.sum() / 1200)
    assert dld_row['hmean']['point'] == pytest.approx(better.sum() / 1200)
    assert vanilla_row['gflops_mean'] is None and vanilla_row['scales'] == {}
    assert dld_row['gflops_mean'] == pytest.approx((200 * 10 + 100 * 40) / 300)
    assert dld_row['scales'] == {'0.5': 200, '1': 100}
    to_dld, to_same = report['differences']
    assert to_dld['name'] == 'dld' and to_dld['reference'] == 'vanilla'
    assert to_dld['difference']['point'] == pytest.approx((better.sum() - base.sum()) / 1200)
    assert to_dld['verdict'] == 'above' and to_dld['difference']['low'] > 0
    assert to_same['difference'] == dict(point=0.0, low=0.0, high=0.0, level=0.95,
                                         half_width=0.0)
    assert to_same['verdict'] == 'within'
    assert json.loads(out.read_text()) == report

    interval = f'{100 * dld_row["hmean"]["point"]:.1f} [{100 * dld_row["hmean"]["low"]:.1f}, '
    assert f'| dld | 300 | ' in printed and interval in printed
    assert '| 20.00 | 0.5: 200, 1: 100 |' in printed
    assert '| same | vanilla | +0.0 [+0.0, +0.0] | within |' in printed
    assert f'comparison written to {out}' in printed


def test_markdown_output_names_and_reference(load_tool, tmp_path, capsys):
    a = write(tmp_path / 'a.json', records([4, 0] * 20))
    b = write(tmp_path / 'b.json', records([0, 0] * 20), score_thr=0.5)
    out = tmp_path / 'table.md'
    report = load_tool(TOOL).main([a, b, '--names', 'A', 'B', '--reference', '1',
                                   '--samples', '200', '--out', str(out)])
    captured = capsys.readouterr()
    assert out.read_text() == captured.out.split('comparison written to')[0]
    assert report['differences'][0]['name'] == 'A'
    assert report['differences'][0]['verdict'] == 'above'
    assert '| A | B | +50.0 [' in captured.out
    assert 'different score_thr (A: 0.0, B: 0.5)' in captured.err


def test_bad_inputs_exit_with_a_message(load_tool, tmp_path):
    tool = load_tool(TOOL)
    a = write(tmp_path / 'a.json', records([1, 2, 3]))
    other = write(tmp_path / 'other.json', records([1, 2], prefix='x'))
    with pytest.raises(SystemExit, match=f'compare_results.py: cannot pair the results image '
                                         f'by image: {other} lacks 3 image'):
        tool.main([a, other])
    with pytest.raises(SystemExit, match="image img_0 has no counts 'ws/none'"):
        tool.main([a, '--key', 'ws/none'])
    with pytest.raises(SystemExit, match='1 --names for 2 results'):
        tool.main([a, a, '--names', 'A'])
    with pytest.raises(SystemExit, match='--reference 2 is not the index'):
        tool.main([a, a, '--reference', '2'])
    with pytest.raises(SystemExit, match=r'--out must end in \.md or \.json'):
        tool.main([a, '--out', str(tmp_path / 'x.csv')])
    spotting = tmp_path / 'spotting_results.json'
    spotting.write_text('{"metrics": {}}')
    with pytest.raises(SystemExit, match=f"{spotting}: format is None"):
        tool.main([str(spotting)])
    with pytest.raises(SystemExit, match='No such file'):
        tool.main([str(tmp_path / 'missing.json')])
