"""Recognition head of the spotter: 6 convs + BiLSTM + attention decoder (paper §3.2)."""
import math
import os.path as osp
from typing import Any, Dict, List, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor

from mmdld.registry import MODELS, TASK_UTILS
from .attention_decoder import AdditiveAttentionDecoderCell
from .sequence_search import beam_search, greedy_search
from .word_sequences import WordSequenceMixin

#: 95 printable ASCII characters (' ' to '~'), one per line; the first line is a space.
DEFAULT_DICT_FILE = osp.join(osp.dirname(osp.abspath(__file__)), 'dicts', 'printable_ascii.txt')


@MODELS.register_module()
class BiLSTMAttnHead(WordSequenceMixin, BaseModule):
    """Text recogniser on RoI features: ``F_roi -> 6 convs -> BiLSTM (F_con) -> attention``.

    ``num_convs`` 3 x 3 conv-BN-ReLU layers keep the width (the sequence length
    ``T = W_r``) and halve the height with stride (2, 1) in ``log2(H_r)`` of them, spread over
    the stack, until it is 1; a bidirectional LSTM over the width gives ``F_con``
    (N, T, 2 * lstm_hidden); an additive-attention GRU decoder
    (:class:`AdditiveAttentionDecoderCell`) emits one symbol distribution per step.

    Ours because MMOCR's recognisers are whole image models without a step-level decoding API.

    Symbols come from MMOCR's ``Dictionary`` with one START/END token (``same_start_end``) and
    a padding token placed last; padding is never predicted, so the decoder has
    ``num_classes = dictionary.num_classes - 1`` outputs and ``padding_idx == num_classes``
    only fills target/indices tensors. Every decoding entry point (teacher forcing, greedy,
    beam) goes through :meth:`_decode_step`.

    Sequence tensors (``encode_texts`` targets and decoded ``indices``) hold the character
    indices, then END, then ``padding_idx``; their valid mask / ``lengths`` count END. Words
    are encoded, decoded and predicted by :class:`WordSequenceMixin`.

    Args:
        in_channels (int): Channels of ``F_roi``. Defaults to 256.
        roi_size (tuple[int, int]): (H_r, W_r) of ``F_roi``; H_r must be a power of two
            reachable with ``num_convs`` stride-2 convs. Defaults to (8, 32).
        conv_channels (int): Channels of the convs. Defaults to 256.
        num_convs (int): Conv layers. Defaults to 6.
        lstm_hidden (int): BiLSTM hidden units per direction. Defaults to 256.
        embed_dims (int): Decoder symbol embedding size. Defaults to 256.
        attn_dims (int): Additive-attention size. Defaults to 256.
        decoder_hidden (int): Decoder GRU hidden size. Defaults to 256.
        dictionary (dict or Dictionary): MMOCR dictionary or its config (``dict_file`` defaults
            to :data:`DEFAULT_DICT_FILE`). Must have ``with_start=True, with_end=True,
            same_start_end=True, with_padding=True, with_unknown=False``.
        max_seq_len (int): Most characters per word; decoding runs at most
            ``max_seq_len + 1`` steps. Defaults to 32.
        beam_width (int): Beam width of :meth:`predict` (1 = greedy). Defaults to 1.
        loss_weight (float): Weight of ``loss_rec``. Defaults to 1.0.
        aux_ctc_weight (float): Weight of an auxiliary CTC loss on ``F_con``
            (:meth:`aux_ctc_loss`, a linear classifier per BiLSTM position), a training aid for
            models trained from scratch on a small budget: joint CTC-attention training (Kim
            et al., ICASSP 2017) teaches the encoder per-position characters early, so that
            the attention decoder learns to read instead of first learning the words' spelling
            statistics alone. 0 (default, the paper's recogniser): no classifier is built.
            The classifier is not used at inference, and a head without it ignores its
            weights in a checkpoint.
        conv_cfg, norm_cfg, act_cfg (dict): Of the convs (mmcv ``ConvModule``).
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int = 256,
                 roi_size: Sequence[int] = (8, 32),
                 conv_channels: int = 256,
                 num_convs: int = 6,
                 lstm_hidden: int = 256,
                 embed_dims: int = 256,
                 attn_dims: int = 256,
                 decoder_hidden: int = 256,
                 dictionary: Union[ConfigType, Any] = dict(
                     type='mmocr.Dictionary',
                     dict_file=DEFAULT_DICT_FILE,
                     with_start=True,
                     with_end=True,
                     same_start_end=True,
                     with_padding=True,
                     with_unknown=False),
                 max_seq_len: int = 32,
                 beam_width: int = 1,
                 loss_weight: float = 1.0,
                 aux_ctc_weight: float = 0.0,
                 conv_cfg: OptConfigType = None,
                 norm_cfg: ConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='ReLU'),
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self._set_words(self._build_dictionary(dictionary), max_seq_len, beam_width)
        self.loss_weight = loss_weight
        self.in_channels = in_channels
        self.roi_size = (int(roi_size[0]), int(roi_size[1]))
        self.context_dims = 2 * lstm_hidden

        self.convs = nn.Sequential(*[
            ConvModule(
                in_channels if i == 0 else conv_channels,
                conv_channels,
                3,
                stride=(2, 1) if i in self._strided_layers(self.roi_size[0], num_convs)
                else 1,
                padding=1,
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg) for i in range(num_convs)
        ])
        self.lstm = nn.LSTM(
            conv_channels, lstm_hidden, batch_first=True, bidirectional=True)
        self.decoder = AdditiveAttentionDecoderCell(
            num_classes=self.num_classes,
            context_dims=self.context_dims,
            embed_dims=embed_dims,
            attn_dims=attn_dims,
            hidden_dims=decoder_hidden)
        if aux_ctc_weight < 0:
            raise ValueError(f'aux_ctc_weight must be >= 0, got {aux_ctc_weight}')
        self.aux_ctc_weight = float(aux_ctc_weight)
        # Outputs: the decoder's classes, then the CTC blank at index num_classes (the
        # padding index, never a target).
        self.aux_ctc_fc = (nn.Linear(self.context_dims, self.num_classes + 1)
                           if aux_ctc_weight > 0 else None)

    # ------------------------------------------------------------------ network
    def extract_context(self, roi_feats: Tensor) -> Tensor:
        """``F_con``: (N, C, H_r, W_r) RoI features -> (N, T = W_r, 2 * lstm_hidden)."""
        if roi_feats.dim() != 4 or roi_feats.size(1) != self.in_channels or tuple(
                roi_feats.shape[-2:]) != self.roi_size:
            raise ValueError(
                f'BiLSTMAttnHead expects RoI features (N, {self.in_channels}, '
                f'{self.roi_size[0]}, {self.roi_size[1]}), got {tuple(roi_feats.shape)}')
        if roi_feats.size(0) == 0:
            return roi_feats.new_zeros(0, self.roi_size[1], self.context_dims)
        feats = self.convs(roi_feats)  # (N, C', 1, W_r)
        context, _ = self.lstm(feats.squeeze(2).permute(0, 2, 1).contiguous())
        return context

    def _init_state(self, context: Tensor) -> Any:
        """Decoder state before the first step."""
        return self.decoder.init_state(context)

    def _decode_step(self, context: Tensor, prev_symbols: Tensor,
                     state: Any) -> Tuple[Tensor, Any]:
        """One decoder step: (N,) previous symbols -> (N, num_classes) log-probs, state."""
        return self.decoder(context, prev_symbols, state)

    def forward_train(self, context: Tensor, targets: Tensor) -> Tensor:
        """Per-step outputs under teacher forcing.

        The input at step t is START for t = 0, else ``targets[:, t - 1]`` (padding positions
        feed END; they are outside the valid mask anyway).

        Returns:
            Tensor: (N, L, num_classes) log-softmax-normalised logits. They differ from raw
            logits by a per-step constant, so any softmax-based loss (also with a
            temperature) gives the same result on them.
        """
        num, length = targets.shape
        if num == 0:
            return context.new_zeros(0, length, self.num_classes)
        inputs = torch.cat([targets.new_full((num, 1), self.start_idx), targets[:, :-1]], 1)
        inputs = inputs.masked_fill((inputs < 0) | (inputs >= self.num_classes), self.end_idx)
        state = self._init_state(context)
        outputs = []
        for t in range(length):
            log_probs, state = self._decode_step(context, inputs[:, t], state)
            outputs.append(log_probs)
        return torch.stack(outputs, dim=1)

    def step_log_probs(self, context: Tensor, targets: Tensor) -> Tensor:
        """(N, L, num_classes) log-softmax of every step under teacher forcing."""
        return self.forward_train(context, targets)

    def sequence_log_prob(self, context: Tensor, targets: Tensor, valid: Tensor) -> Tensor:
        """(N,) total log-probability of the target sequences (END included)."""
        log_probs = self.step_log_probs(context, targets)
        return self._gather_targets(log_probs, targets, valid).sum(dim=1)

    # ------------------------------------------------------------------ losses
    def loss(self, roi_feats: Tensor, texts: List[str]) -> Dict[str, Tensor]:
        """Recognition loss of N RoI features and their N words: ``dict(loss_rec=...)``."""
        if roi_feats.size(0) != len(texts):
            raise ValueError(
                f'Got {roi_feats.size(0)} RoI features but {len(texts)} texts')
        targets, valid = self.encode_texts(texts)
        if len(texts) == 0:
            # Keep every parameter in the graph so that DDP sees them all used.
            zero = roi_feats.sum() * 0 + sum(p.sum() * 0 for p in self.parameters())
            return dict(loss_rec=zero)
        context = self.extract_context(roi_feats)
        logits = self.forward_train(context, targets)
        return dict(loss_rec=self.loss_from_logits(logits, targets, valid))

    def gt_recognition_loss(self, rec: Any) -> Dict[str, Tensor]:
        """``loss_rec`` (and ``loss_rec_ctc`` with the auxiliary CTC classifier) of the GT
        instances of a spotter's ``GTRecognition`` (``roi_feats``, ``context``, ``targets``,
        ``valid``): the protocol's ``recognition_loss`` of every spotter that reads words with
        this head.

        With no instance the losses are zeros that still depend on every parameter and on
        ``rec.roi_feats`` (hence the features), so that backward and distributed training
        see the branch.
        """
        if len(rec) == 0:
            zero = sum(p.sum() for p in self.parameters()) * 0. + rec.roi_feats.sum() * 0.
            losses = dict(loss_rec=zero)
        else:
            logits = self.forward_train(rec.context, rec.targets)
            losses = dict(loss_rec=self.loss_from_logits(logits, rec.targets, rec.valid))
        if self.aux_ctc_fc is not None:
            losses['loss_rec_ctc'] = self.aux_ctc_loss(rec.context, rec.targets, rec.valid)
        return losses

    def aux_ctc_loss(self, context: Tensor, targets: Tensor, valid: Tensor) -> Tensor:
        """``aux_ctc_weight`` x CTC loss of the per-position classifier on ``F_con``.

        Args:
            context (Tensor): (N, T, D) ``F_con`` from :meth:`extract_context`.
            targets (LongTensor): (N, L) from :meth:`encode_texts` (END is not a CTC target).
            valid (BoolTensor): (N, L) valid steps.

        Returns:
            Tensor: The weighted loss, averaged over the words (each word's loss divided by
            its length, as ``F.ctc_loss``'s ``'mean'``); words longer than ``T`` cannot be
            aligned and count 0.
        """
        if self.aux_ctc_fc is None:
            raise RuntimeError('aux_ctc_loss needs aux_ctc_weight > 0')
        is_char = valid & (targets != self.end_idx)
        if context.size(0) == 0 or not bool(is_char.any()):
            return context.sum() * 0 + sum(p.sum() for p in self.aux_ctc_fc.parameters()) * 0
        log_probs = self.aux_ctc_fc(context).float().log_softmax(-1)  # (N, T, C + 1)
        steps = log_probs.size(1)
        lengths = is_char.sum(1)
        loss = F.ctc_loss(
            log_probs.transpose(0, 1), targets[is_char],
            torch.full_like(lengths, steps), lengths, blank=self.num_classes,
            reduction='mean', zero_infinity=True)
        return self.aux_ctc_weight * loss

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs) -> None:
        # The auxiliary CTC classifier is a training aid: a head built without it (e.g. a
        # distilled student, or a test config) loads a checkpoint that has it.
        if self.aux_ctc_fc is None:
            for key in [k for k in state_dict if k.startswith(prefix + 'aux_ctc_fc.')]:
                state_dict.pop(key)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def loss_from_logits(self, logits: Tensor, targets: Tensor, valid: Tensor) -> Tensor:
        """``loss_weight`` x cross entropy averaged over the valid steps (0 if there are none).

        Args:
            logits (Tensor): (N, L, num_classes) from :meth:`forward_train`.
            targets (LongTensor): (N, L) from :meth:`encode_texts`.
            valid (BoolTensor): (N, L) valid steps.
        """
        if logits.shape[:2] != targets.shape or targets.shape != valid.shape:
            raise ValueError(
                f'logits {tuple(logits.shape)}, targets {tuple(targets.shape)} and valid '
                f'{tuple(valid.shape)} disagree on (N, L)')
        if not bool(valid.any()):
            return logits.sum() * 0
        loss = F.cross_entropy(logits[valid], targets[valid])
        return self.loss_weight * loss

    # ------------------------------------------------------------------ decoding
    def greedy_decode(self, context: Tensor) -> Dict[str, Any]:
        """Most likely symbol per step, stopping at END.

        Returns:
            dict: ``indices`` LongTensor[N, T'] (END included, then padding), ``lengths``
            LongTensor[N] (valid tokens, END included), ``scores`` Tensor[N] (mean character
            probability), ``log_probs`` Tensor[N], ``token_log_probs`` Tensor[N, T'] and
            ``texts`` list[str].
        """
        state = self._init_state(context) if context.size(0) else None
        out = greedy_search(
            lambda prev, st: self._decode_step(context, prev, st),
            state,
            batch_size=context.size(0),
            **self._search_tokens(context.device))
        return self._add_words(out)

    def beam_search(self, context: Tensor, beam_width: int, topk: int = 1) -> Dict[str, Any]:
        """Batched beam search; hypotheses ranked by total log-probability (END included).

        Returns:
            dict: ``indices`` LongTensor[N, K, T'], ``lengths`` LongTensor[N, K],
            ``log_probs`` Tensor[N, K] (descending), ``token_log_probs`` Tensor[N, K, T'],
            ``scores`` Tensor[N, K] (mean character probability) and ``texts``
            list[list[str]] (N lists of K words).
        """
        num = context.size(0)
        expanded = context.repeat_interleave(beam_width, dim=0) if beam_width >= 1 else context
        state = self._init_state(expanded) if num else None
        out = beam_search(
            lambda prev, st: self._decode_step(expanded, prev, st),
            state,
            batch_size=num,
            beam_width=beam_width,
            topk=topk,
            **self._search_tokens(context.device))
        return self._add_words(out, topk)

    # ------------------------------------------------------------------ helpers
    def _gather_targets(self, log_probs: Tensor, targets: Tensor, valid: Tensor) -> Tensor:
        """(N, L) log-prob of each target token, 0 at invalid steps."""
        safe = targets.masked_fill(~valid, 0)
        picked = log_probs.gather(-1, safe[..., None]).squeeze(-1)
        return picked * valid

    @staticmethod
    def _strided_layers(height: int, num_convs: int) -> set:
        """Indices of the stride-(2, 1) convs that bring ``height`` down to 1."""
        num_strided = int(round(math.log2(height))) if height > 0 else -1
        if height <= 0 or 2**num_strided != height or num_strided > num_convs:
            raise ValueError(
                f'roi_size height must be a power of two <= 2**num_convs ({2**num_convs}), '
                f'got {height}')
        # Spread the strided layers over the stack, the last one at the top.
        return {
            num_convs - 1 - (j * num_convs) // num_strided
            for j in range(num_strided)
        }

    @staticmethod
    def _build_dictionary(dictionary: Union[ConfigType, Any]):
        """Build (or check) the MMOCR ``Dictionary`` and its required token layout."""
        if isinstance(dictionary, dict):
            cfg = dict(dictionary)
            cfg.setdefault('dict_file', DEFAULT_DICT_FILE)
            dictionary = TASK_UTILS.build(cfg)
        required = dict(
            with_start=True,
            with_end=True,
            same_start_end=True,
            with_padding=True,
            with_unknown=False)
        wrong = {k: v for k, v in required.items() if getattr(dictionary, k, None) != v}
        if wrong:
            raise ValueError(
                'BiLSTMAttnHead needs a dictionary with '
                + ', '.join(f'{k}={v}' for k, v in required.items())
                + f'; got {", ".join(f"{k}={getattr(dictionary, k, None)}" for k in wrong)}')
        if dictionary.padding_idx != dictionary.num_classes - 1:
            raise ValueError('The padding token must be the last dictionary entry')
        return dictionary
