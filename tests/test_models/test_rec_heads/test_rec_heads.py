import math

import pytest
import torch

from mmdld.models.rec_heads import DEFAULT_DICT_FILE, BiLSTMAttnHead
from mmdld.registry import MODELS

# These tensors are tiny: intra-op threads only add contention on a shared CPU.
pytestmark = pytest.mark.usefixtures('single_thread')

SMALL = dict(
    in_channels=8,
    conv_channels=16,
    lstm_hidden=16,
    embed_dims=16,
    attn_dims=16,
    decoder_hidden=16)


def small_head(**kwargs) -> BiLSTMAttnHead:
    cfg = dict(type='BiLSTMAttnHead', **SMALL)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def char_idx(char: str) -> int:
    """Index of a printable ASCII character in the default dictionary (' ' is 0)."""
    return ord(char) - 32


# ---------------------------------------------------------------- dictionary and encoding
def test_default_dictionary_layout():
    with open(DEFAULT_DICT_FILE, encoding='utf-8') as f:
        lines = f.read().split('\n')
    assert lines[:95] == [chr(c) for c in range(32, 127)] and lines[95:] == ['']
    head = small_head()
    # 95 characters + START/END + padding; padding is not a decoder class.
    assert head.dictionary.num_classes == 97
    assert head.num_classes == 96
    assert head.start_idx == head.end_idx == 95
    assert head.padding_idx == 96
    assert head.dictionary.dict[char_idx(' ')] == ' '


def test_encode_texts_hand_computed_and_round_trip():
    head = small_head()
    words = ['Ab', '', 'a b!', '#$%&', "'~"]
    targets, valid = head.encode_texts(words)
    end, pad = 95, 96
    assert targets.dtype == torch.long and valid.dtype == torch.bool
    assert targets.tolist() == [
        [33, 66, end, pad, pad],
        [end, pad, pad, pad, pad],
        [65, 0, 66, 1, end],
        [3, 4, 5, 6, end],
        [7, 94, end, pad, pad],
    ]
    assert valid.sum(1).tolist() == [3, 1, 5, 5, 3]
    assert head.indices_to_texts(targets) == words


def test_encode_truncates_to_max_seq_len():
    head = small_head(max_seq_len=5)
    targets, valid = head.encode_texts(['abcdefgh', 'ab'])
    assert targets.shape == (2, 6)
    assert targets[0].tolist() == [char_idx(c) for c in 'abcde'] + [95]
    assert valid.sum(1).tolist() == [6, 3]
    assert head.indices_to_texts(targets) == ['abcde', 'ab']


def test_unknown_character_error_names_word_and_character():
    head = small_head()
    head.encode_texts(['Hello, World!', ''])
    with pytest.raises(ValueError, match=r"'café'.*'é'"):
        head.encode_texts(['ok', 'café'])


def test_dictionary_with_wrong_tokens_is_rejected():
    bad = dict(
        type='mmocr.Dictionary',
        dict_file=DEFAULT_DICT_FILE,
        with_start=True,
        with_end=True,
        same_start_end=False,
        with_padding=True)
    with pytest.raises(ValueError, match='same_start_end'):
        small_head(dictionary=bad)


def test_dictionary_instance_is_accepted():
    from mmocr.models.common import Dictionary
    dictionary = Dictionary(
        DEFAULT_DICT_FILE,
        with_start=True,
        with_end=True,
        same_start_end=True,
        with_padding=True)
    assert small_head(dictionary=dictionary).dictionary is dictionary


# ---------------------------------------------------------------- network shapes
def test_default_head_shapes():
    head = MODELS.build(dict(type='BiLSTMAttnHead'))
    head.eval()
    with torch.no_grad():
        context = head.extract_context(torch.randn(2, 256, 8, 32))
        assert context.shape == (2, 32, 512)  # T = W_r, BiLSTM 2 x 256
        targets, _ = head.encode_texts(['abc', 'hello'])
        assert head.forward_train(context, targets).shape == (2, 6, 96)


def test_wider_roi_size():
    head = small_head(roi_size=(16, 64))
    assert head.extract_context(torch.randn(2, 8, 16, 64)).shape == (2, 64, 32)
    with pytest.raises(ValueError, match='power of two'):
        small_head(roi_size=(12, 32))


def test_wrong_feature_shape_raises():
    head = small_head()
    with pytest.raises(ValueError, match=r'\(N, 8, 8, 32\)'):
        head.extract_context(torch.randn(2, 8, 4, 32))


def test_forward_train_is_log_softmax_with_teacher_forcing(monkeypatch):
    head = small_head().eval()
    context = head.extract_context(torch.randn(3, 8, 8, 32))
    targets, _ = head.encode_texts(['ab', 'c', ''])
    out = head.forward_train(context, targets)
    assert out.shape == (3, 3, 96)
    torch.testing.assert_close(out.exp().sum(-1), torch.ones(3, 3))

    seen = []
    original = head._decode_step

    def recording_step(ctx, prev, state):
        seen.append(prev.clone())
        return original(ctx, prev, state)

    monkeypatch.setattr(head, '_decode_step', recording_step)
    head.forward_train(context, targets)
    a, b, c, end = char_idx('a'), char_idx('b'), char_idx('c'), 95
    # START, then the previous target; padding is fed as END.
    assert [s.tolist() for s in seen] == [[end, end, end], [a, c, end], [b, end, end]]


def test_sequence_log_prob_is_sum_of_gathered_step_log_probs():
    head = small_head().eval()
    context = head.extract_context(torch.randn(3, 8, 8, 32))
    targets, valid = head.encode_texts(['ab', 'xyz!', ''])
    step = head.step_log_probs(context, targets)
    expected = []
    for n in range(3):
        total = 0.
        for t in range(int(valid[n].sum())):
            total = total + step[n, t, targets[n, t]]
        expected.append(total)
    torch.testing.assert_close(
        head.sequence_log_prob(context, targets, valid), torch.stack(expected))


# ---------------------------------------------------------------- losses and training
def test_loss_from_logits_hand_computed():
    head = small_head(loss_weight=2.0)
    targets, valid = head.encode_texts(['ab', ''])
    uniform = torch.zeros(2, 3, 96)
    # Uniform over 96 classes: every valid step costs log(96); weight 2.
    torch.testing.assert_close(
        head.loss_from_logits(uniform, targets, valid), torch.tensor(2 * math.log(96)))
    logits = torch.zeros(2, 3, 96)
    logits[0, 0, char_idx('a')] = 100.  # one step certain, three uniform steps
    torch.testing.assert_close(
        head.loss_from_logits(logits, targets, valid), torch.tensor(2 * 3 / 4 * math.log(96)))


def test_loss_overfits_and_reaches_every_part():
    torch.manual_seed(0)
    head = small_head()
    feats = torch.randn(4, 8, 8, 32)
    texts = ['ab', 'cd!', 'Hi 5', 'x']
    optimizer = torch.optim.Adam(head.parameters(), lr=2e-2)
    losses = []
    for step in range(25):
        optimizer.zero_grad()
        loss = head.loss(feats, texts)['loss_rec']
        loss.backward()
        if step == 0:
            grads = {
                'conv': head.convs[0].conv.weight.grad,
                'last conv': head.convs[-1].conv.weight.grad,
                'lstm': head.lstm.weight_ih_l0.grad,
                'lstm reverse': head.lstm.weight_ih_l0_reverse.grad,
                'attention': head.decoder.key_proj.weight.grad,
                'embedding': head.decoder.embedding.weight.grad,
                'gru': head.decoder.rnn.weight_hh.grad,
                'classifier': head.decoder.classifier.weight.grad,
            }
            for name, grad in grads.items():
                assert grad is not None and grad.abs().sum() > 0, name
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] > math.log(96) * 0.8  # starts near chance
    assert losses[-1] < 0.1 * losses[0]
    head.eval()
    with torch.no_grad():
        assert head.predict(feats)[0] == texts


def test_empty_batch_everywhere():
    head = small_head()
    feats = torch.zeros(0, 8, 8, 32, requires_grad=True)
    loss = head.loss(feats, [])['loss_rec']
    assert loss.item() == 0
    loss.backward()  # stays differentiable
    context = head.extract_context(feats)
    assert context.shape == (0, 32, 32)
    targets, valid = head.encode_texts([])
    assert targets.shape[0] == 0 and valid.shape[0] == 0
    assert head.forward_train(context, targets).shape == (0, 1, 96)
    assert head.sequence_log_prob(context, targets, valid).shape == (0, )
    greedy = head.greedy_decode(context)
    assert greedy['indices'].shape[0] == 0 and greedy['texts'] == []
    beam = head.beam_search(context, beam_width=3, topk=2)
    assert beam['indices'].shape[:2] == (0, 2) and beam['log_probs'].shape == (0, 2)
    assert beam['texts'] == []
    texts, scores = head.predict(feats)
    assert texts == [] and scores.shape == (0, )


def test_loss_rejects_mismatched_inputs():
    head = small_head()
    with pytest.raises(ValueError, match='2 RoI features but 1 texts'):
        head.loss(torch.randn(2, 8, 8, 32), ['a'])


# ---------------------------------------------------------------- decoding
def random_head_and_context(seed: int = 0, num: int = 8):
    """A random model whose greedy words have various lengths.

    Unit-variance weights make the decoder depend strongly on the context, and an END bias
    lets some words end early while others run until they are closed at max_seq_len.
    """
    torch.manual_seed(seed)
    head = small_head().eval()
    with torch.no_grad():
        for param in head.parameters():
            param.normal_(0, 1)
        head.decoder.classifier.bias[95] += 2.0
        context = head.extract_context(torch.randn(num, 8, 8, 32))
    return head, context


def test_beam_width_one_equals_greedy():
    head, context = random_head_and_context()
    with torch.no_grad():
        greedy = head.greedy_decode(context)
        beam = head.beam_search(context, beam_width=1)
    lengths = greedy['lengths'].tolist()
    # The check covers words ended by the model and words closed at max_seq_len.
    assert 33 in lengths and min(lengths) < 33
    assert torch.equal(beam['indices'][:, 0], greedy['indices'])
    assert torch.equal(beam['lengths'][:, 0], greedy['lengths'])
    torch.testing.assert_close(beam['log_probs'][:, 0], greedy['log_probs'])
    assert [t[0] for t in beam['texts']] == greedy['texts']
    # Decoded indices are valid targets: their teacher-forced total is the search's score.
    valid = torch.arange(greedy['indices'].size(1)) < greedy['lengths'][:, None]
    with torch.no_grad():
        torch.testing.assert_close(
            head.sequence_log_prob(context, greedy['indices'], valid), greedy['log_probs'])


def markov_step(*tables: dict, num_classes: int = 96):
    """A decoder step whose distribution depends only on the previous symbol.

    Each table maps a previous symbol to ``{symbol: probability}``; the remaining mass is spread
    evenly over the other classes, and symbols missing from a table lead to END. Row n of the
    batch uses ``tables[int(context[n, 0, 0])]``.
    """
    rows = torch.empty(len(tables), num_classes, num_classes)
    for k, table in enumerate(tables):
        for prev in range(num_classes):
            probs = table.get(prev, {95: 1.0})
            rest = (1.0 - sum(probs.values())) / (num_classes - len(probs))
            row = torch.full((num_classes, ), max(rest, 1e-12))
            for symbol, p in probs.items():
                row[symbol] = p
            rows[k, prev] = row.log()
    calls = []

    def step(context, prev_symbols, state):
        calls.append(prev_symbols.clone())
        return rows[context[:, 0, 0].long(), prev_symbols], state

    return step, calls


def test_beam_search_beats_greedy_on_hand_built_distribution(monkeypatch):
    head = small_head()
    a, b, c, d, e = (char_idx(x) for x in 'abcde')
    end = 95
    step, _ = markov_step({
        end: {a: 0.5, b: 0.4},  # START
        a: {c: 0.32, d: 0.3, e: 0.28},
        b: {c: 0.9},
        c: {end: 0.95},
        d: {end: 0.95},
        e: {end: 0.95},
    })
    monkeypatch.setattr(head, '_decode_step', step)
    context = torch.zeros(2, 32, 32)
    greedy = head.greedy_decode(context)
    assert greedy['texts'] == ['ac', 'ac']
    torch.testing.assert_close(greedy['log_probs'], torch.full((2, ), math.log(.5 * .32 * .95)))
    beam = head.beam_search(context, beam_width=2, topk=2)
    assert beam['texts'] == [['bc', 'ac'], ['bc', 'ac']]
    torch.testing.assert_close(
        beam['log_probs'],
        torch.tensor([[math.log(.4 * .9 * .95), math.log(.5 * .32 * .95)]] * 2))
    assert torch.all(beam['log_probs'][:, 0] > greedy['log_probs'])
    assert beam['indices'][0, 0].tolist() == [b, c, end]
    # predict() uses the beam when beam_width > 1; text score = mean character probability.
    head.beam_width = 2
    monkeypatch.setattr(head, 'extract_context', lambda feats: torch.zeros(len(feats), 32, 32))
    texts, scores = head.predict(torch.zeros(2, 8, 8, 32))
    assert texts == ['bc', 'bc']
    torch.testing.assert_close(scores, torch.full((2, ), (.4 + .9) / 2))


def test_beam_search_keeps_finished_hypotheses(monkeypatch):
    head = small_head()
    a, b, c, end, pad = char_idx('a'), char_idx('b'), char_idx('c'), 95, 96
    step, calls = markov_step({
        end: {a: 0.6, b: 0.4},
        a: {end: 0.9},
        b: {c: 0.99},
        c: {end: 0.99},
    })
    monkeypatch.setattr(head, '_decode_step', step)
    beam = head.beam_search(torch.zeros(1, 32, 32), beam_width=2, topk=2)
    # 'a' ends at step 2 with .54 and keeps its slot while 'bc' (.392) goes on.
    assert beam['texts'] == [['a', 'bc']]
    assert beam['indices'][0].tolist() == [[a, end, pad], [b, c, end]]
    assert beam['lengths'].tolist() == [[2, 3]]
    torch.testing.assert_close(
        beam['log_probs'], torch.tensor([[math.log(.54), math.log(.4 * .99 * .99)]]))
    torch.testing.assert_close(beam['token_log_probs'][0, 0, 2], torch.tensor(0.))
    assert len(calls) == 3
    # With topk=1 the search stops as soon as the best hypothesis has ended.
    calls.clear()
    top1 = head.beam_search(torch.zeros(1, 32, 32), beam_width=2, topk=1)
    assert top1['texts'] == [['a']] and len(calls) == 2


def test_greedy_stops_early_pads_and_closes_long_words(monkeypatch):
    head = small_head(max_seq_len=4)
    a, b, end, pad = char_idx('a'), char_idx('b'), 95, 96
    step, calls = markov_step(
        {end: {a: 0.7}, a: {end: 0.8}},  # row type 0: 'a' then END
        {end: {b: 0.9}, b: {b: 0.6, end: 0.3}},  # row type 1: 'b' forever
    )
    monkeypatch.setattr(head, '_decode_step', step)
    context = torch.zeros(2, 32, 32)
    context[1] = 1
    out = head.greedy_decode(context)
    # Row 1 is closed with END after max_seq_len = 4 characters (5 steps in all).
    assert out['texts'] == ['a', 'bbbb']
    assert out['indices'].tolist() == [[a, end, pad, pad, pad], [b, b, b, b, end]]
    assert out['lengths'].tolist() == [2, 5]
    torch.testing.assert_close(
        out['log_probs'],
        torch.tensor([math.log(.7 * .8), math.log(.9 * .6**3 * .3)]))
    torch.testing.assert_close(out['scores'], torch.tensor([.7, (.9 + .6 * 3) / 4]))
    assert len(calls) == 5
    # Beam width 1 agrees, including the forced END.
    beam = head.beam_search(context, beam_width=1)
    assert torch.equal(beam['indices'][:, 0], out['indices'])
    # A batch whose words all end early stops early.
    calls.clear()
    out = head.greedy_decode(torch.zeros(1, 32, 32))
    assert out['indices'].tolist() == [[a, end]] and len(calls) == 2


def test_predict_greedy_and_beam_shapes():
    head, context = random_head_and_context(seed=1, num=4)
    feats = torch.randn(4, 8, 8, 32)
    with torch.no_grad():
        texts, scores = head.predict(feats)
        greedy = head.greedy_decode(head.extract_context(feats))
        assert texts == greedy['texts']
        torch.testing.assert_close(scores, greedy['scores'])
        head.beam_width = 3
        beam_texts, beam_scores = head.predict(feats)
    assert len(beam_texts) == 4 and beam_scores.shape == (4, )
    assert torch.all((beam_scores >= 0) & (beam_scores <= 1))


def test_beam_search_argument_errors():
    head, context = random_head_and_context(num=1)
    with pytest.raises(ValueError, match='topk'):
        head.beam_search(context, beam_width=2, topk=3)
    with pytest.raises(ValueError, match='beam_width'):
        head.beam_search(context, beam_width=0)


def test_aux_ctc_loss_hand_computed_with_uniform_classifier():
    head = small_head(aux_ctc_weight=0.5)
    num_out = head.num_classes + 1  # the classes plus the blank
    torch.nn.init.zeros_(head.aux_ctc_fc.weight)
    torch.nn.init.zeros_(head.aux_ctc_fc.bias)
    context = torch.randn(1, 2, head.context_dims)  # T = 2 positions
    targets, valid = head.encode_texts(['a'])
    # Paths of 'a' over 2 steps: a-, -a, aa; each has probability 1 / num_out^2.
    expected = -math.log(3 / num_out**2) / 1  # divided by the target length
    loss = head.aux_ctc_loss(context, targets, valid)
    assert loss.item() == pytest.approx(0.5 * expected, rel=1e-5)
    # A word longer than T cannot be aligned: it counts 0 instead of inf.
    targets, valid = head.encode_texts(['abc'])
    assert head.aux_ctc_loss(context, targets, valid).item() == 0.0


def test_aux_ctc_loss_trains_encoder_and_classifier_not_decoder():
    head = small_head(aux_ctc_weight=1.0)
    roi = torch.randn(3, 8, 8, 32)
    targets, valid = head.encode_texts(['ab', 'cde', 'f'])
    head.aux_ctc_loss(head.extract_context(roi), targets, valid).backward()
    assert head.aux_ctc_fc.weight.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in head.lstm.parameters())
    assert all(p.grad is None for p in head.decoder.parameters())


def test_head_without_aux_ctc_loads_checkpoint_with_it_and_defaults_to_none():
    trained = small_head(aux_ctc_weight=1.0)
    plain = small_head()
    assert plain.aux_ctc_fc is None and not any('aux_ctc' in k for k in plain.state_dict())
    plain.load_state_dict(trained.state_dict(), strict=True)
    assert torch.equal(plain.lstm.weight_ih_l0, trained.lstm.weight_ih_l0)
    with pytest.raises(RuntimeError, match='aux_ctc_loss needs aux_ctc_weight > 0'):
        plain.aux_ctc_loss(torch.zeros(1, 2, plain.context_dims), *plain.encode_texts(['a']))
    with pytest.raises(ValueError, match='aux_ctc_weight must be >= 0'):
        small_head(aux_ctc_weight=-1.0)
