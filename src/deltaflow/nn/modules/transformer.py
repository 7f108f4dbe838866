"""Transformer encoder blocks (as in ``torch.nn``) and positional embeddings."""
from __future__ import annotations

import copy
import math

import numpy as np

from ... import creation
from ... import functional as Fn
from .. import init
from ..functional.activation import gelu, relu
from ..parameter import Parameter
from .attention import MultiheadAttention
from .container import ModuleList
from .dropout import Dropout
from .linear import Linear
from .module import Module
from .normalization import LayerNorm

__all__ = ["TransformerEncoderLayer", "TransformerEncoder", "LearnedPositionalEmbedding",
           "SinusoidalPositionalEncoding"]

_ACTIVATIONS = {"relu": relu, "gelu": gelu}


class TransformerEncoderLayer(Module):
    """Self-attention block + feed-forward block, each with a residual connection:

    post-norm (default):  x = LN₁(x + SA(x)),   x = LN₂(x + FF(x))
    pre-norm (``norm_first=True``):  x = x + SA(LN₁(x)),   x = x + FF(LN₂(x))
    with FF(x) = W₂·dropout(act(W₁·x + b₁)) + b₂ and dropout after SA and FF.

    Submodule names are PyTorch's (``self_attn``, ``linear1``, ``dropout``, ``linear2``,
    ``norm1``, ``norm2``, ``dropout1``, ``dropout2``), so state dicts interchange.
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True,
                 device=None, dtype=None):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        if isinstance(activation, str):
            if activation not in _ACTIVATIONS:
                raise ValueError(f"TransformerEncoderLayer: activation must be 'relu' or "
                                 f"'gelu' (or a callable), got {activation!r}")
            activation = _ACTIVATIONS[activation]
        self.activation = activation

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal and attn_mask is None)[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerEncoder(Module):
    """``num_layers`` deep copies of ``encoder_layer`` applied in turn, then ``norm`` if given."""

    def __init__(self, encoder_layer, num_layers, norm=None, enable_nested_tensor=True,
                 mask_check=True):
        super().__init__()
        self.layers = ModuleList([copy.deepcopy(encoder_layer) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                      is_causal=bool(is_causal))
        return x if self.norm is None else self.norm(x)


class LearnedPositionalEmbedding(Module):
    """x + P[:L] with a learned table ``weight`` (max_len, d_model), init N(0, 0.02²).

    Input (L, N, E), or (N, L, E) with ``batch_first``."""

    def __init__(self, max_len, d_model, batch_first=False, device=None, dtype=None):
        super().__init__()
        self.max_len, self.d_model, self.batch_first = max_len, d_model, batch_first
        self.weight = Parameter(creation.empty(max_len, d_model, dtype=dtype, device=device))
        init.normal_(self.weight, 0.0, 0.02)

    def forward(self, x):
        L = x.shape[1] if self.batch_first else x.shape[0]
        if L > self.max_len:
            raise ValueError(f"LearnedPositionalEmbedding(max_len={self.max_len}): sequence "
                             f"of length {L} is too long")
        pos = self.weight[:L]
        return x + (pos if self.batch_first else Fn.unsqueeze(pos, 1))

    def extra_repr(self) -> str:
        return f"{self.max_len}, {self.d_model}"


class SinusoidalPositionalEncoding(Module):
    """x + PE[:L] with the fixed table of "Attention Is All You Need":
    PE[p, 2i] = sin(p / 10000^(2i/d)),  PE[p, 2i+1] = cos(p / 10000^(2i/d)).

    The table is a non-persistent buffer ``pe`` (max_len, d_model); input (L, N, E), or
    (N, L, E) with ``batch_first``."""

    def __init__(self, d_model, max_len=5000, batch_first=False, dtype=None):
        super().__init__()
        self.d_model, self.max_len, self.batch_first = d_model, max_len, batch_first
        pos = np.arange(max_len)[:, None]
        freq = np.exp(np.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        pe = np.zeros((max_len, d_model))
        pe[:, 0::2] = np.sin(pos * freq)
        pe[:, 1::2] = np.cos(pos * freq)[:, :d_model // 2]
        self.register_buffer("pe", creation.tensor(pe, dtype=dtype or "float32"),
                             persistent=False)

    def forward(self, x):
        L = x.shape[1] if self.batch_first else x.shape[0]
        if L > self.max_len:
            raise ValueError(f"SinusoidalPositionalEncoding(max_len={self.max_len}): sequence "
                             f"of length {L} is too long")
        pe = self.pe[:L].to(x.dtype)
        return x + (pe if self.batch_first else Fn.unsqueeze(pe, 1))

    def extra_repr(self) -> str:
        return f"{self.d_model}, max_len={self.max_len}"
