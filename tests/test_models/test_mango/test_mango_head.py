"""Tests of MANGO's grid branch, Position-aware Mask Attention and sequence decoder."""
import itertools

import pytest
import torch
import torch.nn.functional as F

from mmdld.models.mango import MANGOHead, MANGOSequenceHead
from mmdld.models.mango.mango_head import coord_channels
from mmdld.models.spotters import GTRecognition
from mmdld.registry import MODELS

pytestmark = pytest.mark.usefixtures('single_thread')


def build_head(**overrides) -> MANGOHead:
    cfg = dict(type='MANGOHead', in_channels=8, feat_channels=8, kernel_channels=4, num_grid=5,
               num_positions=3, num_convs=1)
    cfg.update(overrides)
    return MODELS.build(cfg)


@pytest.fixture
def tiny_dict(tmp_path):
    """Two characters: classes a, b, END (then padding)."""
    path = tmp_path / 'ab.txt'
    path.write_text('a\nb\n')
    return dict(type='mmocr.Dictionary', dict_file=str(path), with_start=True, with_end=True,
                same_start_end=True, with_padding=True, with_unknown=False)


def test_head_maps_have_one_entry_per_cell_and_position():
    head = build_head()
    maps = head(torch.randn(2, 8, 12, 16))
    assert maps.cate_logits.shape == (2, 25)
    assert maps.ima_kernels.shape == (2, 25, 4)
    assert maps.cma_kernels.shape == (2, 25, 3, 4)
    assert maps.mask_feats.shape == (2, 4, 12, 16)
    # The focal-loss prior: every cell starts at probability 0.01 of text.
    torch.testing.assert_close(head.conv_cate.bias, torch.tensor([-torch.log(torch.tensor(99.))]))
    with pytest.raises(ValueError, match=r'expects a \[B, 8, H, W\] map'):
        head(torch.randn(1, 6, 12, 16))


def test_cma_kernels_are_the_cells_l_x_e_channels_in_position_order():
    head = build_head()
    feat = torch.randn(1, 8, 6, 6)
    maps = head(feat)
    grid = head.grid_convs(F.interpolate(coord_channels(feat), size=(5, 5), mode='bilinear',
                                         align_corners=False))
    raw = head.conv_cma(grid)  # [1, L * E, S, S]
    # Cell (2, 3) = 13, position 1, kernel channel 2 is output channel 1 * E + 2.
    assert maps.cma_kernels[0, 13, 1, 2] == raw[0, 1 * 4 + 2, 2, 3]


def test_attention_is_a_distribution_inside_the_instance_mask_and_gathers_its_features():
    # E = 1 mask feature M: +20 on pixels (0, 0) and (1, 2), -20 elsewhere. Instance kernel 1
    # makes those two pixels the instance mask; position l's attention is
    # softmax(c_l * M + log sigmoid(M)) over the 12 pixels, with c = (0, 0.5).
    mask = torch.full((1, 1, 3, 4), -20.)
    mask[0, 0, 1, 2] = mask[0, 0, 0, 0] = 20.
    img_inds = torch.tensor([0])
    ima, cma = torch.tensor([[1.]]), torch.tensor([[[0.], [0.5]]])
    attention = MANGOHead.char_attention(mask, img_inds, ima, cma)
    assert attention.shape == (1, 2, 3, 4)
    torch.testing.assert_close(attention.sum((2, 3)), torch.ones(1, 2))
    expected = (cma[0, :, :, None, None] * mask[0] +
                F.logsigmoid(mask[0])).flatten(1).softmax(-1)
    torch.testing.assert_close(attention[0].flatten(1), expected)
    # Nearly all the mass on the two mask pixels, half each.
    torch.testing.assert_close(attention[0, :, 1, 2], torch.tensor([.5, .5]), atol=1e-6,
                               rtol=0)
    feat = torch.arange(2 * 3 * 4, dtype=torch.float32).view(1, 2, 3, 4)
    gathered = MANGOHead.gather(feat, img_inds, attention)
    assert gathered.shape == (1, 2, 1, 2)
    # Mean of pixels (0, 0) and (1, 2) of each channel: (0 + 6) / 2 and (12 + 18) / 2.
    torch.testing.assert_close(gathered[0, :, 0, 0], torch.tensor([3., 15.]), atol=1e-5,
                               rtol=0)


def test_sequence_features_reach_the_attention_and_grid_parameters():
    head = build_head()
    feat = torch.randn(2, 8, 10, 10, requires_grad=True)
    maps = head(feat)
    roi = head.sequence_features(feat, maps, torch.tensor([0, 1, 1]), torch.tensor([3, 0, 24]))
    assert roi.shape == (3, 8, 1, 3)
    roi.pow(2).sum().backward()
    for name in ('grid_convs.0.conv.weight', 'conv_ima.weight', 'conv_cma.weight',
                 'mask_convs.0.conv.weight', 'conv_mask.weight'):
        grad = dict(head.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name
    assert feat.grad.abs().sum() > 0
    # No cell: an empty [0, C, 1, L] that still reaches the kernels.
    head.zero_grad()
    empty = head.sequence_features(feat, head(feat), torch.zeros(0, dtype=torch.long),
                                   torch.zeros(0, dtype=torch.long))
    assert empty.shape == (0, 8, 1, 3)
    empty.sum().backward()
    assert head.conv_cma.weight.grad is not None


def test_position_prior_is_a_gaussian_around_the_predicted_character_offset():
    # S = 5 over a 10 x 10 map: a cell is 2 pixels, pixel (y, x) has centre ((x + 0.5) / 2,
    # (y + 0.5) / 2) in cell units. Cell 7 = row 1, column 2: centre (2.5, 1.5). Character 0 is
    # 1 cell right of it, at (3.5, 1.5), with precision softplus(0) = log 2.
    head = build_head(char_position_prior=True)
    positions = torch.tensor([[[1., 0., 0.], [0., 0., 5.], [-2., 1., -30.]]])
    prior = head.position_prior(torch.tensor([7]), positions, (10, 10))
    assert prior.shape == (1, 3, 10, 10)
    ys, xs = torch.meshgrid(torch.arange(10.) + .5, torch.arange(10.) + .5, indexing='ij')
    xs, ys = xs / 2, ys / 2
    expected = -torch.log(torch.tensor(2.)) * ((xs - 3.5)**2 + (ys - 1.5)**2)
    torch.testing.assert_close(prior[0, 0], expected)
    # Its peak: the four pixels (rows 2-3, columns 6-7) whose centres are nearest (3.5, 1.5).
    assert prior[0, 0].max() == prior[0, 0, 2, 6] == prior[0, 0, 2, 7]
    # Character 1 sits on the cell's centre; character 2's near-zero precision: a flat prior.
    assert prior[0, 1].argmax() in (2 * 10 + 4, 2 * 10 + 5, 3 * 10 + 4, 3 * 10 + 5)
    assert prior[0, 2].abs().max() < 1e-9


def test_position_prior_moves_the_attention_to_the_character_and_trains_its_offsets():
    head = build_head(char_position_prior=True)
    feat = torch.randn(1, 8, 10, 10)
    maps = head(feat)
    assert maps.char_positions.shape == (1, 25, 3, 3)
    # At initialisation a broad prior centred on the cell: precision softplus(-3).
    torch.testing.assert_close(F.softplus(maps.char_positions[..., 2]).mean(),
                               F.softplus(torch.tensor(-3.)), atol=0.02, rtol=0)
    # With the content kernels silenced and a sharp prior, the attention peaks at the offset.
    sel = head.select(maps, torch.tensor([0]), torch.tensor([7]))
    positions = torch.tensor([[[1., 0., 5.], [-2., 1., 5.], [0., 0., 5.]]])
    prior = head.position_prior(torch.tensor([7]), positions, (10, 10))
    attention = head.char_attention(maps.mask_feats, torch.tensor([0]), sel.ima_kernels * 0,
                                    sel.cma_kernels * 0, prior=prior)
    peaks = [divmod(int(a.argmax()), 10) for a in attention[0]]
    # Offsets (1, 0), (-2, 1), (0, 0) from (2.5, 1.5): pixel rows 2/3, 4/5, 2/3 and columns
    # 6/7, 0/1, 4/5 (each peak is one of four tied pixels).
    assert peaks[0][0] in (2, 3) and peaks[0][1] in (6, 7)
    assert peaks[1][0] in (4, 5) and peaks[1][1] in (0, 1)
    assert peaks[2][0] in (2, 3) and peaks[2][1] in (4, 5)
    # The prior's conv gets the gradient of the sequence features.
    roi = head.sequence_features(feat, maps, torch.tensor([0]), torch.tensor([7]))
    roi.pow(2).sum().backward()
    assert head.conv_char_pos.weight.grad.abs().sum() > 0
    # Off by default (the authors' head): no prior conv and no positions.
    plain = build_head()
    assert not hasattr(plain, 'conv_char_pos') and plain(feat).char_positions is None


def test_recognition_tower_is_what_the_attentions_gather_from():
    head = build_head(num_recog_convs=2)
    assert len(head.recog_convs) == 2
    feat = torch.randn(1, 8, 10, 10, requires_grad=True)
    maps = head(feat)
    assert maps.recog_feats.shape == feat.shape
    torch.testing.assert_close(maps.recog_feats, head.recog_convs(feat))
    img_inds, cells = torch.tensor([0]), torch.tensor([7])
    roi = head.sequence_features(feat, maps, img_inds, cells)
    sel = head.select(maps, img_inds, cells)
    attention = head.char_attention(maps.mask_feats, img_inds, sel.ima_kernels, sel.cma_kernels)
    torch.testing.assert_close(roi, head.gather(maps.recog_feats, img_inds, attention))
    assert not torch.allclose(roi, head.gather(feat, img_inds, attention))
    roi.pow(2).sum().backward()
    assert head.recog_convs[0].conv.weight.grad.abs().sum() > 0
    # No cell: the tower still gets a (zero) gradient.
    head.zero_grad()
    empty = head.sequence_features(feat, head(feat), torch.zeros(0, dtype=torch.long),
                                   torch.zeros(0, dtype=torch.long))
    empty.sum().backward()
    assert head.recog_convs[0].conv.weight.grad is not None
    # None by default: the input map is gathered.
    assert build_head()(feat).recog_feats is None
    with pytest.raises(ValueError, match='num_recog_convs'):
        build_head(num_recog_convs=-1)


def build_decoder(tiny_dict, **overrides) -> MANGOSequenceHead:
    cfg = dict(type='MANGOSequenceHead', in_channels=4, lstm_hidden=3, dictionary=tiny_dict,
               max_seq_len=3)
    cfg.update(overrides)
    return MODELS.build(cfg)


def test_decoder_shapes_texts_and_teacher_forced_positions(tiny_dict):
    dec = build_decoder(tiny_dict)
    assert (dec.num_classes, dec.end_idx, dec.padding_idx, dec.roi_size) == (3, 2, 3, (1, 4))
    targets, valid = dec.encode_texts(['ab', 'b', 'abba'])
    # Truncated to max_seq_len = 3, always with END.
    assert targets.tolist() == [[0, 1, 2, 3], [1, 2, 3, 3], [0, 1, 1, 2]]
    assert valid.sum(1).tolist() == [3, 2, 4]
    assert dec.indices_to_texts(targets) == ['ab', 'b', 'abb']
    with pytest.raises(ValueError, match="'c' which is not in the recognition dictionary"):
        dec.encode_texts(['ac'])
    context = dec.extract_context(torch.randn(3, 4, 1, 4))
    assert context.shape == (3, 4, 6)
    full = dec.position_log_probs(context)
    short, _ = dec.encode_texts(['a', 'b', ''])
    # Targets only give the length: the first 2 positions, whatever the symbols.
    torch.testing.assert_close(dec.step_log_probs(context, short), full[:, :2])
    torch.testing.assert_close(dec.step_log_probs(context, short.flip(0)), full[:, :2])
    seq = dec.sequence_log_prob(context, targets, valid)
    expected = full[0, 0, 0] + full[0, 1, 1] + full[0, 2, 2]
    torch.testing.assert_close(seq[0], expected)
    with pytest.raises(ValueError, match=r'expects sequence features \(N, 4, 1, 4\)'):
        dec.extract_context(torch.randn(1, 4, 1, 5))


def all_sequences(log_probs, end_idx, max_len):
    """Every sequence (chars, END) and its log-probability, by enumeration."""
    chars = [c for c in range(log_probs.size(-1)) if c != end_idx]
    out = []
    for length in range(max_len + 1):
        for word in itertools.product(chars, repeat=length):
            score = sum(float(log_probs[t, c]) for t, c in enumerate(word))
            out.append((score + float(log_probs[length, end_idx]), list(word) + [end_idx]))
    return sorted(out, key=lambda s: -s[0])


def test_beam_search_is_the_exact_top_k_of_independent_positions(tiny_dict):
    dec = build_decoder(tiny_dict)
    # A flat distribution makes many sequences compete: random logits, scaled down.
    with torch.no_grad():
        dec.fc.weight.mul_(0.2)
    context = dec.extract_context(torch.randn(4, 4, 1, 4))
    out = dec.beam_search(context, beam_width=4, topk=4)
    log_probs = dec.position_log_probs(context)
    for n in range(4):
        best = all_sequences(log_probs[n].detach(), dec.end_idx, dec.max_seq_len)[:4]
        torch.testing.assert_close(out['log_probs'][n], torch.tensor([s for s, _ in best]))
        for k, (_, seq) in enumerate(best):
            assert out['indices'][n, k, :out['lengths'][n, k]].tolist() == seq
        # The search's totals are what sequence_log_prob gives for its sequences.
        steps = out['indices'].size(-1)
        valid = torch.arange(steps) < out['lengths'][n, :, None]
        torch.testing.assert_close(
            dec.sequence_log_prob(context[n:n + 1].expand(4, -1, -1), out['indices'][n], valid),
            out['log_probs'][n])
    # Asked for more than exist: 3 sequences of at most 1 character (END, a END, b END).
    short = build_decoder(tiny_dict, max_seq_len=1)
    out = short.beam_search(short.extract_context(torch.randn(2, 4, 1, 2)), 5, topk=5)
    assert torch.isfinite(out['log_probs']).sum(1).tolist() == [3, 3]
    assert out['lengths'][:, 3:].eq(0).all() and out['indices'][:, 3:].eq(3).all()
    assert sorted(out['indices'][0, :3].tolist()) == [[0, 2], [1, 2], [2, 3]]
    with pytest.raises(ValueError, match=r'topk must be in \[1, beam_width=2\]'):
        dec.beam_search(context, 2, topk=3)


def test_greedy_decoding_is_the_per_position_argmax_up_to_the_first_end(tiny_dict):
    dec = build_decoder(tiny_dict)
    table = torch.log_softmax(torch.tensor([[[0., 5., 1.], [5., 0., 1.], [0., 0., 5.],
                                             [5., 0., 0.]]]), -1)  # b, a, END, (a)
    dec.position_log_probs = lambda context: table
    out = dec.greedy_decode(torch.zeros(1, 4, 6))
    assert out['texts'] == ['ba'] and out['indices'].tolist() == [[1, 0, 2]]
    torch.testing.assert_close(out['log_probs'][0],
                               table[0, 0, 1] + table[0, 1, 0] + table[0, 2, 2])
    torch.testing.assert_close(out['scores'][0],
                               (table[0, 0, 1].exp() + table[0, 1, 0].exp()) / 2)


def test_recognition_loss_is_the_mean_cross_entropy_of_the_valid_positions(tiny_dict):
    dec = build_decoder(tiny_dict, loss_weight=2.)
    roi = torch.randn(2, 4, 1, 4)
    context = dec.extract_context(roi)
    targets, valid = dec.encode_texts(['ab', 'b'])
    rec = GTRecognition(roi, context, targets, valid, [2])
    loss = dec.gt_recognition_loss(rec)['loss_rec']
    lp = dec.position_log_probs(context)
    expected = -(lp[0, 0, 0] + lp[0, 1, 1] + lp[0, 2, 2] + lp[1, 0, 1] + lp[1, 1, 2]) / 5 * 2
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert dec.lstm.weight_ih_l0.grad.abs().sum() > 0 and dec.fc.weight.grad.abs().sum() > 0
    # No instance: a zero on every parameter.
    dec.zero_grad()
    empty_roi = torch.zeros(0, 4, 1, 4, requires_grad=True)
    empty = GTRecognition(empty_roi, dec.extract_context(empty_roi),
                          torch.zeros(0, 1, dtype=torch.long), torch.zeros(0, 1, dtype=bool), [0])
    zero = dec.gt_recognition_loss(empty)['loss_rec']
    assert float(zero.detach()) == 0
    zero.backward()
    assert all(p.grad is not None for p in dec.parameters()) and empty_roi.grad is not None


def test_auxiliary_character_loss_reads_each_gathered_feature_alone(tiny_dict):
    dec = build_decoder(tiny_dict, char_loss_weight=0.5)
    roi = torch.randn(2, 4, 1, 4, requires_grad=True)
    context = dec.extract_context(roi)
    targets, valid = dec.encode_texts(['ab', 'b'])
    losses = dec.gt_recognition_loss(GTRecognition(roi, context, targets, valid, [2]))
    # Classes a = 0, b = 1, END = 2: 'ab' + END at positions 0-2, 'b' + END at 0-1.
    lp = dec.char_fc(roi.squeeze(2).transpose(1, 2)).log_softmax(-1)
    expected = -(lp[0, 0, 0] + lp[0, 1, 1] + lp[0, 2, 2] + lp[1, 0, 1] + lp[1, 1, 2]) / 5 * 0.5
    torch.testing.assert_close(losses['loss_rec_char'], expected)
    # Its gradient reaches the features and its own classifier, not the BiLSTM.
    dec.zero_grad()
    losses['loss_rec_char'].backward()
    assert roi.grad.abs().sum() > 0 and dec.char_fc.weight.grad.abs().sum() > 0
    assert dec.lstm.weight_ih_l0.grad is None
    # Off by default; a negative weight is refused.
    plain = build_decoder(tiny_dict)
    assert not hasattr(plain, 'char_fc')
    assert set(plain.gt_recognition_loss(GTRecognition(roi, plain.extract_context(roi), targets,
                                                       valid, [2]))) == {'loss_rec'}
    with pytest.raises(ValueError, match='char_loss_weight'):
        build_decoder(tiny_dict, char_loss_weight=-1.)
    # No instance: still a zero on every parameter.
    empty_roi = torch.zeros(0, 4, 1, 4)
    empty = dec.gt_recognition_loss(GTRecognition(
        empty_roi, dec.extract_context(empty_roi), torch.zeros(0, 1, dtype=torch.long),
        torch.zeros(0, 1, dtype=bool), [0]))
    assert float(empty['loss_rec_char']) == 0
