"""One step of the additive-attention (Bahdanau) decoder of the recognition branch."""
from typing import Tuple

import torch
import torch.nn as nn
from mmdet.utils import OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor


class AdditiveAttentionDecoderCell(BaseModule):
    """A GRU step with additive attention over the BiLSTM context, as in FAN's decoder.

    The paper decodes ``F_con`` with the attention decoder of Focusing Attention Network
    (Cheng et al., 2017), itself the Bahdanau decoder: at step t the previous hidden state
    ``s_{t-1}`` queries the context, ``e_{t,i} = v^T tanh(W s_{t-1} + V c_i)``,
    ``alpha_t = softmax(e_t)``, glimpse ``g_t = sum_i alpha_{t,i} c_i``; then
    ``s_t = GRU([embed(y_{t-1}), g_t], s_{t-1})`` and ``y_t ~ softmax(W_o [s_t, g_t])``.
    FAN's focusing network needs character-level boxes and is not used.

    Ours because MMOCR's decoders decode inside ``forward_test``, without the step-level API
    that beam search and the step-wise distillation losses need.

    The state is ``(hidden Tensor[N, hidden_dims], keys Tensor[N, T, attn_dims])``: the
    attention keys ``V c_i`` are computed once per sequence and carried along (and reordered
    with the hidden state in beam search) instead of being recomputed at every step.

    Args:
        num_classes (int): Output symbols (characters + START/END); also the embedding size.
        context_dims (int): D of ``F_con``. Defaults to 512.
        embed_dims (int): Symbol embedding size. Defaults to 256.
        attn_dims (int): Additive-attention size. Defaults to 256.
        hidden_dims (int): GRU hidden size. Defaults to 256.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 num_classes: int,
                 context_dims: int = 512,
                 embed_dims: int = 256,
                 attn_dims: int = 256,
                 hidden_dims: int = 256,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_classes = num_classes
        self.hidden_dims = hidden_dims
        self.embedding = nn.Embedding(num_classes, embed_dims)
        self.key_proj = nn.Linear(context_dims, attn_dims)
        self.query_proj = nn.Linear(hidden_dims, attn_dims, bias=False)
        self.energy = nn.Linear(attn_dims, 1, bias=False)
        self.rnn = nn.GRUCell(embed_dims + context_dims, hidden_dims)
        self.classifier = nn.Linear(hidden_dims + context_dims, num_classes)

    def init_state(self, context: Tensor) -> Tuple[Tensor, Tensor]:
        """Zero hidden state and the attention keys of ``context`` (N, T, D)."""
        hidden = context.new_zeros(context.size(0), self.hidden_dims)
        return hidden, self.key_proj(context)

    def forward(self, context: Tensor, prev_symbols: Tensor,
                state: Tuple[Tensor, Tensor]) -> Tuple[Tensor, Tuple[Tensor, Tensor]]:
        """Advance one step.

        Args:
            context (Tensor): (N, T, D) ``F_con``.
            prev_symbols (LongTensor): (N,) previous symbols (START at the first step).
            state (tuple[Tensor, Tensor]): From :meth:`init_state` or the previous step.

        Returns:
            tuple: (N, num_classes) log-probabilities and the new state.
        """
        hidden, keys = state
        query = self.query_proj(hidden)[:, None]
        attn = self.energy(torch.tanh(keys + query)).softmax(dim=1)  # (N, T, 1)
        glimpse = (attn * context).sum(dim=1)
        rnn_input = torch.cat([self.embedding(prev_symbols), glimpse], dim=-1)
        hidden = self.rnn(rnn_input, hidden)
        logits = self.classifier(torch.cat([hidden, glimpse], dim=-1))
        return logits.log_softmax(dim=-1), (hidden, keys)
