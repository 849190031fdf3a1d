"""Batched greedy and beam search over a step-wise sequence decoder.

Ours because MMOCR's decoders search greedily inside ``forward_test``, with no beam search.

The distillation (paper §3.4, L_seq) needs the teacher's top-K beam sequences with their total
log-probabilities, and both searches must share the decoder step used under teacher forcing.
These functions only see a ``step_fn(prev_symbols, state) -> (log_probs, state)``, so any step
decoder (or a hand-built table in a test) can drive them.

Output convention (the same as :meth:`BiLSTMAttnHead.encode_texts` targets): a sequence is its
character indices, then the END index if it ended, then ``pad_idx`` up to the common length;
``lengths`` counts the valid tokens, END included, so ``arange(T) < lengths[..., None]`` is the
valid mask. The last of the ``max_steps`` steps may only emit END (its log-probability is
counted), so every sequence ends and has at most ``max_steps - 1`` characters, like the targets.
"""
from typing import Any, Callable, Dict, Tuple

import torch
from torch import Tensor

StepFn = Callable[[Tensor, Any], Tuple[Tensor, Any]]


def reorder_state(state: Any, index: Tensor) -> Any:
    """Select rows ``index`` (dim 0) of every tensor in a (nested tuple/list of) state."""
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.index_select(0, index)
    if isinstance(state, (tuple, list)):
        return type(state)(reorder_state(s, index) for s in state)
    raise TypeError(f'Cannot reorder decoder state of type {type(state).__name__}')


def greedy_search(step_fn: StepFn, state: Any, batch_size: int, start_idx: int,
                  end_idx: int, pad_idx: int, max_steps: int,
                  device: torch.device) -> Dict[str, Tensor]:
    """Pick the most likely symbol at every step until every sequence emitted END.

    Args:
        step_fn: ``(prev_symbols LongTensor[N], state) -> (log_probs Tensor[N, C], state)``.
        state: Initial decoder state for the N sequences.
        batch_size (int): N.
        start_idx (int): Symbol fed at the first step.
        end_idx (int): Symbol that ends a sequence.
        pad_idx (int): Filler after END (not a decoder class).
        max_steps (int): Most decoding steps (characters + END).
        device (torch.device): Device of the returned index tensors.

    Returns:
        dict: ``indices`` LongTensor[N, T'], ``lengths`` LongTensor[N] (END included),
        ``token_log_probs`` Tensor[N, T'] (0 after END), ``log_probs`` Tensor[N] (their sum).
    """
    if batch_size == 0:
        return _empty_result((0, ), device)
    prev = torch.full((batch_size, ), start_idx, dtype=torch.long, device=device)
    finished = torch.zeros(batch_size, dtype=torch.bool, device=device)
    tokens, token_log_probs = [], []
    for step in range(max_steps):
        log_probs, state = step_fn(prev, state)
        if step == max_steps - 1:
            log_probs = _only_end(log_probs, end_idx)
        best_log_prob, best = log_probs.max(dim=-1)
        best = torch.where(finished, torch.full_like(best, pad_idx), best)
        best_log_prob = torch.where(finished, torch.zeros_like(best_log_prob), best_log_prob)
        tokens.append(best)
        token_log_probs.append(best_log_prob)
        finished = finished | (best == end_idx)
        if bool(finished.all()):
            break
        # Ended sequences still run through the batched step; feed them END (not a class
        # index problem, their outputs are discarded above).
        prev = torch.where(best == pad_idx, torch.full_like(best, end_idx), best)
    indices = torch.stack(tokens, dim=1)
    token_log_probs = torch.stack(token_log_probs, dim=1)
    return dict(
        indices=indices,
        lengths=(indices != pad_idx).sum(dim=1),
        token_log_probs=token_log_probs,
        log_probs=token_log_probs.sum(dim=1))


def beam_search(step_fn: StepFn, state: Any, batch_size: int, beam_width: int, topk: int,
                start_idx: int, end_idx: int, pad_idx: int, max_steps: int,
                device: torch.device) -> Dict[str, Tensor]:
    """Batched beam search ranked by total log-probability (END included, no length penalty).

    All ``N * beam_width`` hypotheses go through ``step_fn`` together; row ``n * beam_width + b``
    is beam ``b`` of sequence ``n``, so ``state`` must already be expanded that way
    (e.g. ``repeat_interleave(beam_width, 0)`` of the context before building it). A hypothesis
    that emitted END keeps its slot and score and competes with the live ones (its only
    continuation costs nothing); since log-probabilities are <= 0 a live hypothesis can only
    lose score, so the search stops once the best ``topk`` of every sequence have ended.

    Args:
        step_fn: ``(prev_symbols LongTensor[N*B], state) -> (log_probs Tensor[N*B, C], state)``.
        state: Initial decoder state for the ``N * B`` rows.
        batch_size (int): N.
        beam_width (int): B >= 1; B = 1 is greedy search.
        topk (int): How many hypotheses to return per sequence, 1 <= topk <= B.
        start_idx, end_idx, pad_idx, max_steps, device: As in :func:`greedy_search`.

    Returns:
        dict: ``indices`` LongTensor[N, K, T'], ``lengths`` LongTensor[N, K],
        ``token_log_probs`` Tensor[N, K, T'], ``log_probs`` Tensor[N, K] (sorted descending).
    """
    if beam_width < 1:
        raise ValueError(f'beam_width must be >= 1, got {beam_width}')
    if not 1 <= topk <= beam_width:
        raise ValueError(f'topk must be in [1, beam_width={beam_width}], got {topk}')
    if batch_size == 0:
        return _empty_result((0, topk), device)
    n, b = batch_size, beam_width
    scores = torch.full((n, b), float('-inf'), device=device)
    scores[:, 0] = 0.  # all beams start identical: expand only the first one at step 0
    finished = torch.zeros(n, b, dtype=torch.bool, device=device)
    seqs = torch.empty(n, b, 0, dtype=torch.long, device=device)
    seq_log_probs = torch.empty(n, b, 0, device=device)
    prev = torch.full((n * b, ), start_idx, dtype=torch.long, device=device)
    batch_offset = torch.arange(n, device=device)[:, None] * b
    for step in range(max_steps):
        log_probs, state = step_fn(prev, state)
        if step == max_steps - 1:
            log_probs = _only_end(log_probs, end_idx)
        num_classes = log_probs.size(-1)
        log_probs = log_probs.view(n, b, num_classes)
        scores = scores.to(log_probs.dtype)
        ended_row = torch.full_like(log_probs[0, 0], float('-inf'))
        ended_row[end_idx] = 0.
        log_probs = torch.where(finished[..., None], ended_row, log_probs)
        candidates = (scores[..., None] + log_probs).view(n, b * num_classes)
        scores, flat_idx = candidates.topk(b, dim=1)
        origin = torch.div(flat_idx, num_classes, rounding_mode='floor')
        token = flat_idx % num_classes
        token_log_prob = log_probs.view(n, b * num_classes).gather(1, flat_idx)
        was_finished = finished.gather(1, origin)
        token = torch.where(was_finished, torch.full_like(token, pad_idx), token)
        token_log_prob = torch.where(was_finished, torch.zeros_like(token_log_prob),
                                     token_log_prob)
        steps = seqs.size(2)
        seqs = torch.cat(
            [seqs.gather(1, origin[..., None].expand(-1, -1, steps)), token[..., None]], dim=2)
        seq_log_probs = torch.cat([
            seq_log_probs.gather(1, origin[..., None].expand(-1, -1, steps)),
            token_log_prob[..., None]
        ], dim=2)
        finished = was_finished | (token == end_idx)
        if bool(finished[:, :topk].all()):
            break
        state = reorder_state(state, (batch_offset + origin).view(-1))
        prev = torch.where(token == pad_idx, torch.full_like(token, end_idx), token).view(-1)
    seqs = seqs[:, :topk]
    return dict(
        indices=seqs,
        lengths=(seqs != pad_idx).sum(dim=2),
        token_log_probs=seq_log_probs[:, :topk],
        log_probs=scores[:, :topk])


def _only_end(log_probs: Tensor, end_idx: int) -> Tensor:
    """Keep only END's log-probability (the others -inf): the step that closes sequences."""
    keep = torch.zeros_like(log_probs, dtype=torch.bool)
    keep[..., end_idx] = True
    return log_probs.masked_fill(~keep, float('-inf'))


def _empty_result(batch_shape: Tuple[int, ...], device: torch.device) -> Dict[str, Tensor]:
    """Search output for zero sequences (no decoding step is run)."""
    return dict(
        indices=torch.zeros(*batch_shape, 0, dtype=torch.long, device=device),
        lengths=torch.zeros(*batch_shape, dtype=torch.long, device=device),
        token_log_probs=torch.zeros(*batch_shape, 0, device=device),
        log_probs=torch.zeros(*batch_shape, device=device))
