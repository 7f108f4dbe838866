"""Attention functions: ``scaled_dot_product_attention`` and the multi-head attention forward."""
from __future__ import annotations

import math

import numpy as np

from ... import functional as Fn
from ... import random as _random
from ...backend import xp_of
from ...ops.attention import ScaledDotProductAttention
from ...tensor import Tensor
from .linear import linear


def _additive_mask(mask, like: Tensor, op: str):
    """A bool mask (True = attend) or a float mask becomes an additive float Tensor."""
    if mask is None:
        return None
    if not isinstance(mask, Tensor):
        mask = Tensor(np.asarray(mask))
    if mask.dtype == np.bool_:
        xp = xp_of(mask.data)
        add = xp.where(mask.data, 0.0, -np.inf).astype(like.dtype)
        return Tensor.constant(add)
    if mask.dtype.kind != "f":
        raise TypeError(f"{op}: attn_mask must be bool or floating point, got dtype {mask.dtype}")
    return mask if mask.dtype == like.dtype else mask.to(like.dtype)


def _causal_mask(L, S, like: Tensor):
    """0 on and below the diagonal (query i sees keys j ≤ i), −∞ above."""
    xp = xp_of(like.data)
    return Tensor.constant(xp.triu(xp.full((L, S), -np.inf, dtype=like.dtype), 1))


def _dropout_keep(shape, p, device):
    return _random.generator(device).random(shape) >= p


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, need_weights=False):
    """softmax(Q·Kᵀ·scale + mask)·V, like ``torch.nn.functional.scaled_dot_product_attention``.

    ``attn_mask``: bool (True = may attend) or float (added to the scores), broadcastable to
    (..., L, S). ``is_causal``: query i attends to keys 0..i. ``scale`` defaults to 1/√E.
    ``dropout_p`` drops attention probabilities (always, as in PyTorch's function; pass 0.0
    in evaluation). A query whose keys are all masked gets a zero output row.
    ``need_weights=True`` (deltaflow extension) also returns the attention probabilities.
    """
    op = "scaled_dot_product_attention"
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor) or t.ndim < 2:
            raise ValueError(f"{op}: {name} must be a Tensor with at least 2 dims (..., L, E)")
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(f"{op}: query has embedding size {query.shape[-1]} but key has "
                         f"{key.shape[-1]}")
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(f"{op}: key has {key.shape[-2]} positions but value has "
                         f"{value.shape[-2]}")
    if is_causal and attn_mask is not None:
        raise ValueError(f"{op}: give either attn_mask or is_causal=True, not both")
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"{op}: dropout_p must be in [0, 1), got {dropout_p}")
    L, S = query.shape[-2], key.shape[-2]
    mask = _causal_mask(L, S, query) if is_causal else _additive_mask(attn_mask, query, op)
    if mask is not None and mask.ndim >= 2 and mask.shape[-2:] != (L, S) and not all(
            a in (1, b) for a, b in zip(mask.shape[-2:], (L, S))):
        raise ValueError(f"{op}: attn_mask of shape {tuple(mask.shape)} does not broadcast to "
                         f"the scores' (..., {L}, {S})")
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    keep = None
    if dropout_p > 0.0:
        batch = np.broadcast_shapes(query.shape[:-2], key.shape[:-2])
        keep = _dropout_keep(tuple(batch) + (L, S), dropout_p, query.device)
    inputs = (query, key, value) + ((mask,) if mask is not None else ())
    return ScaledDotProductAttention.apply(*inputs, scale=scale, keep=keep, p=dropout_p,
                                           return_weights=need_weights)


def multi_head_attention_forward(query, key, value, num_heads, in_proj_weight, in_proj_bias,
                                 out_proj_weight, out_proj_bias, dropout_p=0.0, training=True,
                                 key_padding_mask=None, need_weights=True, attn_mask=None,
                                 average_attn_weights=True, is_causal=False,
                                 q_proj_weight=None, k_proj_weight=None, v_proj_weight=None,
                                 bias_k=None, bias_v=None, add_zero_attn=False):
    """Multi-head attention on sequence-first inputs (L, N, E), like PyTorch's function.

    Q, K, V are projected (one packed ``in_proj_weight`` (3E, E) or separate
    ``q/k/v_proj_weight``), split into ``num_heads`` heads of size E/h, attended with
    :func:`scaled_dot_product_attention`, concatenated and projected by ``out_proj``.
    Returns ``(output (L, N, E), weights (N, L, S) averaged over heads, or (N, h, L, S), or
    None)``.

    When the query lies batch-major in memory (the (L, N, E) transposed view a
    ``batch_first`` module passes in), the work runs in that order, (N, L, E): the
    projections read the inputs without a transposing copy, and each head's (L, hd) matrix
    has its rows 3E floats apart instead of N·3E (at N·3E·4 bytes a multiple of 4 KiB, all
    rows of a head fall into one L1 cache set). Same arithmetic, rows in another order.
    """
    op = "multi_head_attention"
    L, N, E = query.shape
    S = key.shape[0]
    if E % num_heads:
        raise ValueError(f"{op}: embed_dim {E} is not divisible by num_heads {num_heads}")
    hd = E // num_heads
    batch_major = _lies_batch_major(query)
    seq_dim = 1 if batch_major else 0                  # the positions' axis of q, k, v
    one_position = (N, 1, E) if batch_major else (1, N, E)
    if batch_major:                                    # (N, L, E) views, identities kept
        same_qk, same_kv = key is query, value is key
        query = Fn.transpose(query, 0, 1)
        key = query if same_qk else Fn.transpose(key, 0, 1)
        value = key if same_kv else Fn.transpose(value, 0, 1)
    if q_proj_weight is None:
        if query is key and key is value:
            q, k, v = Fn.split(linear(query, in_proj_weight, in_proj_bias), E, dim=-1)
        else:
            wq, wk, wv = Fn.split(in_proj_weight, E, dim=0)
            bq, bk, bv = (None,) * 3 if in_proj_bias is None else Fn.split(in_proj_bias, E)
            q, k, v = linear(query, wq, bq), linear(key, wk, bk), linear(value, wv, bv)
    else:
        bq, bk, bv = (None,) * 3 if in_proj_bias is None else Fn.split(in_proj_bias, E)
        q, k, v = (linear(query, q_proj_weight, bq), linear(key, k_proj_weight, bk),
                   linear(value, v_proj_weight, bv))

    mask = _blocking_mask(attn_mask, q, op)
    if mask is not None:
        if mask.ndim == 2:
            if tuple(mask.shape) != (L, S):
                raise ValueError(f"{op}: 2-D attn_mask must have shape ({L}, {S}), got "
                                 f"{tuple(mask.shape)}")
        elif mask.ndim == 3:
            if tuple(mask.shape) != (N * num_heads, L, S):
                raise ValueError(f"{op}: 3-D attn_mask must have shape ({N * num_heads}, {L}, "
                                 f"{S}), got {tuple(mask.shape)}")
            mask = Fn.reshape(mask, N, num_heads, L, S)
        else:
            raise ValueError(f"{op}: attn_mask must be 2-D or 3-D, got {mask.ndim}-D")
    elif is_causal:
        mask = _causal_mask(L, S, q)
    kpm = _blocking_mask(key_padding_mask, q, op)
    if kpm is not None and tuple(kpm.shape) != (N, S):
        raise ValueError(f"{op}: key_padding_mask must have shape ({N}, {S}), got "
                         f"{tuple(kpm.shape)}")
    appended = []   # extra key/value positions every query may attend to
    if bias_k is not None:
        appended.append((Fn.reshape(bias_k, 1, 1, E), Fn.reshape(bias_v, 1, 1, E)))
    if add_zero_attn:
        zero = Tensor.constant(xp_of(k.data).zeros((1, 1, E), dtype=k.dtype))
        appended.append((zero, zero))
    for extra_k, extra_v in appended:
        k = Fn.cat([k, Fn.expand(extra_k, *one_position)], dim=seq_dim)   # extra: (1, 1, E)
        v = Fn.cat([v, Fn.expand(extra_v, *one_position)], dim=seq_dim)
        mask = None if mask is None else Fn.pad(mask, (0, 1))
        kpm = None if kpm is None else Fn.pad(kpm, (0, 1))
        S += 1
    if kpm is not None:
        kpm = Fn.reshape(kpm, N, 1, 1, S)
        mask = kpm if mask is None else mask + kpm

    # (L, N, E) or (N, L, E) -> (N, h, L, hd)
    def heads(t, n):
        if batch_major:
            return Fn.permute(Fn.reshape(t, N, n, num_heads, hd), 0, 2, 1, 3)
        return Fn.permute(Fn.reshape(t, n, N, num_heads, hd), 1, 2, 0, 3)

    q, k, v = heads(q, L), heads(k, S), heads(v, S)
    p = dropout_p if training else 0.0
    if need_weights:
        out, weights = scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p,
                                                    need_weights=True)
    else:
        out, weights = scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p), None
    if batch_major:
        out = Fn.reshape(Fn.permute(out, 0, 2, 1, 3), N, L, E)
        out = Fn.transpose(linear(out, out_proj_weight, out_proj_bias), 0, 1)
    else:
        out = Fn.reshape(Fn.permute(out, 2, 0, 1, 3), L, N, E)
        out = linear(out, out_proj_weight, out_proj_bias)
    if weights is not None and average_attn_weights:
        weights = Fn.mean(weights, dim=1)
    return out, weights


def _lies_batch_major(t) -> bool:
    """Whether an (L, N, E) tensor has its batch axis outermost in memory (a transposed
    view of an (N, L, E) array)."""
    strides = getattr(t.data, "strides", None)
    return (t.ndim == 3 and strides is not None and min(t.shape[:2]) > 1
            and abs(strides[1]) > abs(strides[0]))


def _blocking_mask(mask, like: Tensor, op: str):
    """``nn.MultiheadAttention``'s convention: a bool mask is True where attention is NOT
    allowed; a float mask is added to the scores. Returns an additive float Tensor."""
    if mask is None:
        return None
    if not isinstance(mask, Tensor):
        mask = Tensor(np.asarray(mask))
    if mask.dtype == np.bool_:
        xp = xp_of(mask.data)
        return Tensor.constant(xp.where(mask.data, -np.inf, 0.0).astype(like.dtype))
    return _additive_mask(mask, like, op)


__all__ = ["scaled_dot_product_attention", "multi_head_attention_forward"]
