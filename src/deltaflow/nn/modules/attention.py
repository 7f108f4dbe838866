"""``MultiheadAttention``, as in ``torch.nn`` (same parameters, names, shapes and init)."""
from __future__ import annotations

from ... import creation
from ... import functional as Fn
from .. import init
from ..functional.attention import multi_head_attention_forward
from ..parameter import Parameter
from .linear import Linear
from .module import Module

__all__ = ["MultiheadAttention"]


class MultiheadAttention(Module):
    """MultiHead(Q, K, V) = Concat(head₁, …, head_h)·W_Oᵀ + b_O,
    headᵢ = softmax(QW_Qᵢᵀ·(KW_Kᵢᵀ)ᵀ/√d + mask)·VW_Vᵢᵀ,  d = embed_dim / num_heads.

    Parameters: ``in_proj_weight`` (3E, E) and ``in_proj_bias`` (3E,) when key and value
    have ``embed_dim`` features, else ``q_proj_weight`` (E, E), ``k_proj_weight`` (E, kdim),
    ``v_proj_weight`` (E, vdim); ``out_proj`` (a Linear E → E); ``bias_k``/``bias_v`` (1, 1, E)
    with ``add_bias_kv``. Inputs are (L, N, E) or, with ``batch_first``, (N, L, E); a 2-D
    input is one unbatched sequence. Boolean masks are True where attention is NOT allowed.
    Returns ``(output, weights)``; weights are (N, L, S) averaged over heads, (N, h, L, S)
    with ``average_attn_weights=False``, or None with ``need_weights=False``.
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False,
                 add_zero_attn=False, kdim=None, vdim=None, batch_first=False, device=None,
                 dtype=None):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0 or embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be a positive "
                             f"multiple of num_heads ({num_heads})")
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.kdim = embed_dim if kdim is None else kdim
        self.vdim = embed_dim if vdim is None else vdim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.dropout, self.batch_first = float(dropout), batch_first
        self.head_dim = embed_dim // num_heads
        E = embed_dim

        def param(*shape):
            return Parameter(creation.empty(*shape, dtype=dtype, device=device))

        if self._qkv_same_embed_dim:
            self.in_proj_weight = param(3 * E, E)
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = param(E, E)
            self.k_proj_weight = param(E, self.kdim)
            self.v_proj_weight = param(E, self.vdim)
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = param(3 * E)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(E, E, bias=bias, device=device, dtype=dtype)
        if add_bias_kv:
            self.bias_k, self.bias_v = param(1, 1, E), param(1, 1, E)
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True,
                attn_mask=None, average_attn_weights=True, is_causal=False):
        name = "MultiheadAttention"
        if query.ndim not in (2, 3) or query.shape[-1] != self.embed_dim:
            raise ValueError(f"{name}(embed_dim={self.embed_dim}): expected query of shape "
                             f"(L, N, {self.embed_dim}) (or (N, L, E) with batch_first, or "
                             f"(L, E) unbatched), got {tuple(query.shape)}")
        if key.shape[-1] != self.kdim or value.shape[-1] != self.vdim:
            raise ValueError(f"{name}: key/value must have {self.kdim}/{self.vdim} features, "
                             f"got {tuple(key.shape)} and {tuple(value.shape)}")
        batched = query.ndim == 3
        same_kv = key is value
        same_qk = query is key

        def seq_first(t):
            if not batched:
                return Fn.unsqueeze(t, 1)
            return Fn.transpose(t, 0, 1) if self.batch_first else t

        q = seq_first(query)
        k = q if same_qk else seq_first(key)
        v = k if same_kv else seq_first(value)
        if not batched and key_padding_mask is not None:
            key_padding_mask = Fn.unsqueeze(key_padding_mask, 0)
        out, weights = multi_head_attention_forward(
            q, k, v, self.num_heads, self.in_proj_weight, self.in_proj_bias,
            self.out_proj.weight, self.out_proj.bias, dropout_p=self.dropout,
            training=self.training, key_padding_mask=key_padding_mask,
            need_weights=need_weights, attn_mask=attn_mask,
            average_attn_weights=average_attn_weights, is_causal=is_causal,
            q_proj_weight=self.q_proj_weight, k_proj_weight=self.k_proj_weight,
            v_proj_weight=self.v_proj_weight, bias_k=self.bias_k, bias_v=self.bias_v,
            add_zero_attn=self.add_zero_attn)
        if not batched:
            out = Fn.squeeze(out, 1)
            weights = None if weights is None else Fn.squeeze(weights, 0)
        elif self.batch_first:
            out = Fn.transpose(out, 0, 1)
        return out, weights

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"
