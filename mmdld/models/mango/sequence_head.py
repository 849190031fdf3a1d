"""MANGO's lightweight sequence decoder: a BiLSTM and a classifier over the ``L`` positions."""
from typing import Any, Dict, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor

from mmdld.models.rec_heads.bilstm_attn_head import BiLSTMAttnHead
from mmdld.models.rec_heads.sequence_search import greedy_search
from mmdld.models.rec_heads.word_sequences import WordSequenceMixin
from mmdld.models.utils import sequence_log_prob
from mmdld.registry import MODELS


@MODELS.register_module()
class MANGOSequenceHead(WordSequenceMixin, BaseModule):
    """Non-autoregressive recogniser of MANGO's gathered sequence features.

    Reads ``F_roi`` ``[N, C, 1, L]`` (the ``L = max_seq_len + 1`` character-attended features of
    each word, ``MANGOHead.gather``); a BiLSTM over the positions gives ``F_con``
    ``[N, L, 2 * lstm_hidden]``; a linear classifier gives every position's distribution over
    the dictionary's classes, independently of the others.

    Symbols follow ``BiLSTMAttnHead`` (the same MMOCR dictionary layout, so that a MANGO student
    and teacher read words as the project's other spotters do): a word is its characters, END,
    then padding (never predicted); position ``t`` of a word with fewer than ``t`` characters is
    outside its valid mask. A sequence ends at its first END, so its log-probability is the sum
    of its positions' log-probabilities up to and including that END; the last position may
    only emit END, so the sequences' probabilities sum to one, as those of an autoregressive
    decoder whose steps ignore the prefix; words are encoded, decoded and predicted by
    :class:`WordSequenceMixin`. :meth:`greedy_decode` is MANGO's decoding (the
    project's ``greedy_search`` with a step function that returns position ``t``);
    :meth:`beam_search` the exact top ``K`` sequences (:func:`top_k_sequences`). A beam search
    ranked by partial scores would not be exact here: a live prefix outranks a finished word
    it can no longer beat.

    Args:
        in_channels (int): ``C`` of ``F_roi``.
        lstm_hidden (int): BiLSTM hidden units per direction. Defaults to 128.
        dictionary (dict or Dictionary): As ``BiLSTMAttnHead``'s.
        max_seq_len (int): Most characters per word; ``L = max_seq_len + 1``. Defaults to 25.
        beam_width (int): 1 (default): :meth:`predict` decodes with :meth:`greedy_decode`;
            more: with the best sequence of :meth:`beam_search`.
        loss_weight (float): Weight of ``loss_rec``. Defaults to 1.0.
        char_loss_weight (float): Weight of ``loss_rec_char``, an auxiliary cross entropy of a
            linear classifier that reads each position's gathered feature alone (no BiLSTM),
            over the word's characters and END; 0 (default) for none. A training aid of the
            small CPU configs, as the other spotters' auxiliary CTC loss: it gives every
            character's label a direct gradient to the features it is gathered from.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 lstm_hidden: int = 128,
                 dictionary: Union[ConfigType, Any] = dict(
                     type='mmocr.Dictionary', with_start=True, with_end=True,
                     same_start_end=True, with_padding=True, with_unknown=False),
                 max_seq_len: int = 25,
                 beam_width: int = 1,
                 loss_weight: float = 1.0,
                 char_loss_weight: float = 0.,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        # The dictionary checks of the project's recogniser (same token layout).
        self._set_words(BiLSTMAttnHead._build_dictionary(dictionary), max_seq_len, beam_width)
        self.num_positions = self.max_seq_len + 1
        self.loss_weight = float(loss_weight)
        self.in_channels = int(in_channels)
        self.roi_size = (1, self.num_positions)
        self.context_dims = 2 * lstm_hidden
        self.lstm = nn.LSTM(in_channels, lstm_hidden, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(self.context_dims, self.num_classes)
        if char_loss_weight < 0:
            raise ValueError(f'MANGOSequenceHead: char_loss_weight must be >= 0, got '
                             f'{char_loss_weight!r}')
        self.char_loss_weight = float(char_loss_weight)
        if self.char_loss_weight > 0:
            self.char_fc = nn.Linear(self.in_channels, self.num_classes)

    # ------------------------------------------------------------------ network
    def extract_context(self, roi_feats: Tensor) -> Tensor:
        """``F_con`` ``[N, L, 2 * lstm_hidden]`` of ``F_roi`` ``[N, C, 1, L]``."""
        if roi_feats.dim() != 4 or tuple(roi_feats.shape[1:]) != (self.in_channels,
                                                                   *self.roi_size):
            raise ValueError(f'MANGOSequenceHead expects sequence features (N, '
                             f'{self.in_channels}, 1, {self.num_positions}), got '
                             f'{tuple(roi_feats.shape)}')
        if roi_feats.size(0) == 0:
            return roi_feats.new_zeros(0, self.num_positions, self.context_dims)
        context, _ = self.lstm(roi_feats.squeeze(2).transpose(1, 2).contiguous())
        return context

    def position_log_probs(self, context: Tensor) -> Tensor:
        """``[N, L, num_classes]`` log-softmax of every position."""
        return self.fc(context).log_softmax(-1)

    def step_log_probs(self, context: Tensor, targets: Tensor) -> Tensor:
        """``[N, T, num_classes]``: the first ``T`` positions (``targets`` only give ``T``;
        the positions do not read the previous symbols)."""
        length = targets.size(1)
        if length > self.num_positions:
            raise ValueError(f'MANGOSequenceHead: targets of {length} steps, but the decoder has '
                             f'{self.num_positions} positions (max_seq_len + 1)')
        return self.position_log_probs(context)[:, :length]

    def sequence_log_prob(self, context: Tensor, indices: Tensor, valid: Tensor) -> Tensor:
        """``[M]`` sum of the log-probabilities of ``indices`` ``[M, T]`` at their valid
        positions."""
        return sequence_log_prob(self.step_log_probs(context, indices), indices, valid)

    # ------------------------------------------------------------------ losses
    def gt_recognition_loss(self, rec: Any) -> Dict[str, Tensor]:
        """``loss_rec``: ``loss_weight`` x cross entropy over the valid positions of a
        ``GTRecognition`` (and ``loss_rec_char`` with ``char_loss_weight``); with no instance
        a zero on every parameter and on ``F_roi``."""
        if len(rec) == 0 or not bool(rec.valid.any()):
            zero = sum(p.sum() for p in self.parameters()) * 0. + rec.roi_feats.sum() * 0.
            losses = dict(loss_rec=zero + rec.context.sum() * 0.)
            if self.char_loss_weight > 0:
                losses['loss_rec_char'] = zero
            return losses
        log_probs = self.step_log_probs(rec.context, rec.targets)
        loss = F.nll_loss(log_probs[rec.valid], rec.targets[rec.valid])
        losses = dict(loss_rec=self.loss_weight * loss)
        if self.char_loss_weight > 0:
            length = rec.targets.size(1)
            per_position = rec.roi_feats.squeeze(2).transpose(1, 2)[:, :length]  # [N, T, C]
            logits = self.char_fc(per_position)
            losses['loss_rec_char'] = self.char_loss_weight * F.cross_entropy(
                logits[rec.valid], rec.targets[rec.valid])
        return losses

    # ------------------------------------------------------------------ decoding
    def _position_fn(self, log_probs: Tensor):
        """A ``sequence_search`` step function emitting position ``t`` at its ``t``-th call."""
        rows = log_probs
        step = [0]

        def step_fn(prev: Tensor, state: Any) -> Tuple[Tensor, Any]:
            out = rows[:, step[0]]
            step[0] += 1
            return out, state

        return step_fn

    def greedy_decode(self, context: Tensor) -> Dict[str, Any]:
        """MANGO's decoding: the most likely symbol of every position, up to the first END
        (``indices``, ``lengths``, ``log_probs``, ``scores`` (mean character probability),
        ``texts``). Not always the most likely sequence (:meth:`beam_search` finds that)."""
        out = greedy_search(self._position_fn(self.position_log_probs(context)), None,
                            batch_size=context.size(0), **self._search_tokens(context.device))
        return self._add_words(out)

    def beam_search(self, context: Tensor, beam_width: int, topk: int = 1) -> Dict[str, Any]:
        """The exact ``topk`` most likely sequences (:func:`top_k_sequences`).

        ``beam_width`` (at least ``topk``) is checked for the protocol's callers; the search
        keeps ``topk`` prefixes per length, which is exact for independent positions.

        Returns:
            dict: ``indices`` ``[N, K, L]``, ``lengths``, ``log_probs`` ``[N, K]``
            (descending, ``-inf`` where fewer than ``K`` sequences exist),
            ``token_log_probs``, ``scores`` (mean character probability) and ``texts``.
        """
        if not 1 <= topk <= beam_width:
            raise ValueError(f'MANGOSequenceHead: topk must be in [1, beam_width={beam_width}], '
                             f'got {topk}')
        out = top_k_sequences(self.position_log_probs(context), topk, self.end_idx,
                              self.padding_idx)
        return self._add_words(out, topk)


def top_k_sequences(log_probs: Tensor, topk: int, end_idx: int, pad_idx: int) -> Dict[str, Tensor]:
    """The exact ``topk`` most likely sequences of independent positions.

    A sequence is ``m`` non-END symbols at positions ``0..m-1`` then END at position ``m``
    (``m < L``), scored by the sum of those ``m + 1`` log-probabilities. For each length the
    ``topk`` best character prefixes are kept, extending those of the length before: any of
    the ``topk`` best prefixes of length ``m`` extends one of the ``topk`` best of length
    ``m - 1`` (otherwise ``topk`` better prefixes with the same last symbol would exist). The
    answer is the ``topk`` best over all lengths of a kept prefix plus END.

    Args:
        log_probs (Tensor): ``[N, L, C]`` per-position log-probabilities (END is a class).
        topk (int): ``K``.
        end_idx (int): The END class.
        pad_idx (int): Filler after END (not a class).

    Returns:
        dict: ``indices`` ``[N, K, L]`` (symbols, END, padding), ``lengths`` ``[N, K]`` (END
        included), ``token_log_probs`` ``[N, K, L]`` (0 after END) and ``log_probs``
        ``[N, K]`` descending; a missing hypothesis (fewer than ``K`` exist) has
        ``-inf``, length 0 and padding only.
    """
    num, length, num_classes = log_probs.shape
    device = log_probs.device
    if num == 0:
        return dict(indices=torch.zeros(0, topk, length, dtype=torch.long, device=device),
                    lengths=torch.zeros(0, topk, dtype=torch.long, device=device),
                    token_log_probs=log_probs.new_zeros(0, topk, length),
                    log_probs=log_probs.new_zeros(0, topk))
    chars = log_probs.clone()
    chars[..., end_idx] = float('-inf')
    prefix_scores = log_probs.new_zeros(num, 1)
    prefixes = torch.zeros(num, 1, 0, dtype=torch.long, device=device)
    scores, seqs = [], []
    for m in range(length):
        scores.append(prefix_scores + log_probs[:, m, end_idx, None])
        ended = torch.cat([prefixes, prefixes.new_full((*prefixes.shape[:2], 1), end_idx),
                           prefixes.new_full((*prefixes.shape[:2], length - m - 1), pad_idx)],
                          dim=2)
        seqs.append(ended)
        if m == length - 1:
            break
        candidates = (prefix_scores[..., None] + chars[:, m, None, :]).flatten(1)
        prefix_scores, flat = candidates.topk(min(topk, candidates.size(1)), dim=1)
        origin = torch.div(flat, num_classes, rounding_mode='floor')
        prefixes = torch.cat([
            prefixes.gather(1, origin[..., None].expand(-1, -1, m)),
            (flat % num_classes)[..., None]
        ], dim=2)
    scores, seqs = torch.cat(scores, dim=1), torch.cat(seqs, dim=1)
    if scores.size(1) < topk:
        missing = topk - scores.size(1)
        scores = torch.cat([scores, scores.new_full((num, missing), float('-inf'))], dim=1)
        seqs = torch.cat([seqs, seqs.new_full((num, missing, length), pad_idx)], dim=1)
    best, order = scores.topk(topk, dim=1)
    indices = seqs.gather(1, order[..., None].expand(-1, -1, length))
    exists = torch.isfinite(best)
    indices = torch.where(exists[..., None], indices, torch.full_like(indices, pad_idx))
    valid = indices != pad_idx
    token_log_probs = log_probs[:, None].expand(-1, topk, -1, -1).gather(
        3, indices.masked_fill(~valid, 0)[..., None]).squeeze(-1)
    token_log_probs = torch.where(valid, token_log_probs, torch.zeros_like(token_log_probs))
    return dict(indices=indices, lengths=valid.sum(2), token_log_probs=token_log_probs,
                log_probs=best)
