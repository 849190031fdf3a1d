from .bilstm_attn_head import DEFAULT_DICT_FILE, BiLSTMAttnHead

__all__ = ['BiLSTMAttnHead', 'DEFAULT_DICT_FILE']
