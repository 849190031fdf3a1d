"""Words as symbol sequences of the recognisers' dictionary layout, and words from decoding."""
import math
from typing import Any, Dict, List, Optional, Tuple

import torch
from torch import Tensor


class WordSequenceMixin:
    """The word side of a recogniser head (``BiLSTMAttnHead``, ``MANGOSequenceHead``).

    The dictionary is MMOCR's with one START/END token and a padding token placed last
    (``BiLSTMAttnHead._build_dictionary``); padding is never predicted, so the decoder has
    ``num_classes = dictionary.num_classes - 1`` outputs. Sequence tensors (``encode_texts``
    targets, decoded ``indices``) hold the character indices, then END, then ``padding_idx``.

    The host is an ``nn.Module`` that calls :meth:`_set_words`; :meth:`predict` reads its
    ``extract_context``, ``greedy_decode`` and ``beam_search``, which finish their outputs
    with :meth:`_add_words`.
    """

    def _set_words(self, dictionary: Any, max_seq_len: int, beam_width: int) -> None:
        """Sets ``dictionary``, ``num_classes``, the special token indices, ``max_seq_len``
        and ``beam_width`` (each at least 1)."""
        if max_seq_len < 1:
            raise ValueError(f'{type(self).__name__}: max_seq_len must be >= 1, got '
                             f'{max_seq_len}')
        if beam_width < 1:
            raise ValueError(f'{type(self).__name__}: beam_width must be >= 1, got {beam_width}')
        self.max_seq_len = int(max_seq_len)
        self.beam_width = int(beam_width)
        self.dictionary = dictionary
        self.num_classes = dictionary.num_classes - 1
        self.start_idx = dictionary.start_idx
        self.end_idx = dictionary.end_idx
        self.padding_idx = dictionary.padding_idx
        # Single characters only: the special tokens are multi-character strings.
        self._char2idx = {char: idx for idx, char in enumerate(dictionary.dict) if len(char) == 1}

    # ------------------------------------------------------------------ text <-> indices
    def encode_texts(self, texts: List[str]) -> Tuple[Tensor, Tensor]:
        """Target indices and their valid mask.

        Each row is the word's character indices (at most ``max_seq_len``; longer words are
        truncated and still end with END), the END index, then ``padding_idx``.

        Args:
            texts (list[str]): N words.

        Returns:
            tuple: ``targets`` LongTensor[N, L] and ``valid`` BoolTensor[N, L] with
            ``L = 1 + min(max(len), max_seq_len)``, on the head's device.

        Raises:
            TypeError: If a word is not a ``str``.
            ValueError: If a word holds a character outside the dictionary.
        """
        rows = []
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f'Texts must be str, got {type(text).__name__}: {text!r}')
            for char in text:
                if char not in self._char2idx:
                    raise ValueError(
                        f'Word {text!r} has the character {char!r} which is not in the '
                        f'recognition dictionary (U+{ord(char):04X}); mark such words as '
                        "don't-care in the dataset or use a larger dictionary")
            rows.append([self._char2idx[c] for c in text[:self.max_seq_len]] + [self.end_idx])
        length = max((len(r) for r in rows), default=1)
        targets = torch.full((len(rows), length), self.padding_idx, dtype=torch.long)
        for i, row in enumerate(rows):
            targets[i, :len(row)] = torch.tensor(row, dtype=torch.long)
        targets = targets.to(self._device())
        return targets, targets != self.padding_idx

    def indices_to_texts(self, indices: Tensor) -> List[str]:
        """Words of sequence tensors (..., T): characters up to the first END or padding."""
        flat = indices.reshape(-1, indices.size(-1)).tolist() if indices.numel() else [
            [] for _ in range(int(math.prod(indices.shape[:-1])))
        ]
        texts = []
        for row in flat:
            chars = []
            for idx in row:
                if idx == self.end_idx or idx == self.padding_idx:
                    break
                chars.append(idx)
            texts.append(self.dictionary.idx2str(chars))
        return texts

    # ------------------------------------------------------------------ decoding
    def _search_tokens(self, device: torch.device) -> Dict[str, Any]:
        """The special tokens, step limit (``max_seq_len + 1``) and device that the project's
        ``greedy_search`` and ``beam_search`` take."""
        return dict(start_idx=self.start_idx, end_idx=self.end_idx, pad_idx=self.padding_idx,
                    max_steps=self.max_seq_len + 1, device=device)

    def _add_words(self, out: Dict[str, Any], topk: Optional[int] = None) -> Dict[str, Any]:
        """Adds ``scores`` (mean character probability) and ``texts`` to a search's output.

        Args:
            out (dict): ``indices`` and ``token_log_probs``, ``[N, T]`` (greedy) or
                ``[N, K, T]`` (beam).
            topk (int, optional): ``K`` of a beam output, whose ``texts`` are N lists of K
                words; None: ``texts`` are N words.

        Returns:
            dict: ``out``.
        """
        out['scores'] = self._mean_char_prob(out['indices'], out['token_log_probs'])
        words = self.indices_to_texts(out['indices'])
        out['texts'] = words if topk is None else [
            words[i * topk:(i + 1) * topk] for i in range(out['indices'].size(0))
        ]
        return out

    def predict(self, roi_feats: Tensor) -> Tuple[List[str], Tensor]:
        """Words and text scores (mean character probability) of N ``F_roi`` (the head's RoI
        or sequence features).

        Uses greedy decoding when ``self.beam_width == 1``, else the best beam.
        """
        context = self.extract_context(roi_feats)
        if self.beam_width == 1:
            out = self.greedy_decode(context)
            return out['texts'], out['scores']
        out = self.beam_search(context, self.beam_width, topk=1)
        return [words[0] for words in out['texts']], out['scores'][:, 0]

    # ------------------------------------------------------------------ helpers
    def _mean_char_prob(self, indices: Tensor, token_log_probs: Tensor) -> Tensor:
        """Mean probability of the character tokens (END/padding excluded); 0 for no chars."""
        is_char = (indices != self.end_idx) & (indices != self.padding_idx)
        count = is_char.sum(dim=-1)
        total = (token_log_probs.exp() * is_char).sum(dim=-1)
        return torch.where(count > 0, total / count.clamp(min=1), torch.zeros_like(total))

    def _device(self) -> torch.device:
        return next(self.parameters()).device
