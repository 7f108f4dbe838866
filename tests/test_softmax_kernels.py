"""Attention's fused softmax loops (deltaflow.ops.softmax_kernels, compiled by Numba) give
bit for bit the output and gradients of the NumPy passes, with fully masked rows, ±Inf
scores and key counts that are not a multiple of the loop's four lanes, with a mask per
score, one causal (L, S) mask for all rows, none, or one the passes must broadcast; a row with a NaN
score is NaN on both paths; small or strided arrays take the NumPy passes."""
from __future__ import annotations

import numpy as np
import pytest

import deltaflow as dl
from deltaflow.ops import softmax_kernels

pytest.importorskip("numba")


def _attention(q, k, v, mask, g, enabled, set_jit):
    set_jit(enabled)
    Q, K, V = (dl.tensor(a, requires_grad=True) for a in (q, k, v))
    M = None if mask is None else dl.tensor(mask, requires_grad=True)
    with np.errstate(invalid="ignore"):
        out = dl.nn.functional.scaled_dot_product_attention(Q, K, V, attn_mask=M)
        out.backward(dl.tensor(g))
    return [out.numpy()] + [t.grad.numpy() for t in (Q, K, V, M) if t is not None]


def _mask(kind, rng, batch, heads, queries, keys, dtype):
    """An additive mask: per score ("full"), one (L, S) mask for every batch and head
    ("causal", read row by row by the loop), one per batch broadcast over heads and queries
    ("padding": the passes add it), or None."""
    if kind == "none":
        return None
    if kind == "causal":
        return np.triu(np.full((queries, keys), -np.inf), 1).astype(dtype)
    if kind == "padding":
        return np.where(rng.random((batch, 1, 1, keys)) < 0.2, -np.inf, 0).astype(dtype)
    mask = np.where(rng.random((batch, heads, queries, keys)) < 0.3, -np.inf, 0).astype(dtype)
    mask[0, 0, 0] = -np.inf                          # a fully masked query: a zero row
    mask[0, 0, 1, -1] = np.inf                       # +Inf score: the row's maximum is Inf
    mask[0, 0, 2] = -1e30                            # huge but finite
    return mask


@pytest.mark.parametrize("kind, loop", [("full", True), ("causal", True), ("none", True),
                                        ("padding", False)])
@pytest.mark.parametrize("keys", [64, 63, 5])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_attention_softmax_is_bitwise_the_numpy_passes(dtype, keys, kind, loop, set_jit):
    rng = np.random.default_rng(0)
    batch, heads, queries, width = 32, 4, 64, 8
    q = (rng.standard_normal((batch, heads, queries, width)) * 3).astype(dtype)
    k = (rng.standard_normal((batch, heads, keys, width)) * 3).astype(dtype)
    v = rng.standard_normal((batch, heads, keys, width)).astype(dtype)
    g = rng.standard_normal((batch, heads, queries, width)).astype(dtype)
    mask = _mask(kind, rng, batch, heads, queries, keys, dtype)
    set_jit(True)
    scores = np.zeros((batch, heads, queries, keys), dtype)
    assert softmax_kernels.pick(scores, mask).compiled is loop
    fused = _attention(q, k, v, mask, g, True, set_jit)
    passes = _attention(q, k, v, mask, g, False, set_jit)
    for a, b in zip(fused, passes):
        assert a.dtype == b.dtype == dtype
        np.testing.assert_array_equal(a, b)
    if kind == "full":
        assert not fused[0][0, 0, 0].any() and np.isfinite(fused[0][0, 0, 3:]).all()


def test_a_nan_score_makes_its_row_nan_on_both_paths(set_jit):
    rng = np.random.default_rng(1)
    s = rng.standard_normal((64, 8, 64)).astype(np.float32)
    s[3, 2, 5] = np.nan
    from deltaflow.ops.attention import _masked_softmax
    set_jit(True)
    fused = _masked_softmax(s.copy(), np)
    set_jit(False)
    passes = _masked_softmax(s.copy(), np)
    np.testing.assert_array_equal(fused, passes)
    assert np.isnan(fused[3, 2]).all() and np.isfinite(np.delete(fused.reshape(-1, 64),
                                                                  3 * 8 + 2, axis=0)).all()


def test_fused_softmax_applies_only_to_large_c_ordered_scores(set_jit):
    set_jit(True)
    big = np.zeros((32, 4, 64, 64), np.float32)
    rows = np.zeros((32, 4, 64, 1), np.float32)
    assert softmax_kernels.pick(big).compiled
    assert softmax_kernels.pick(big, rows, big).compiled
    assert not softmax_kernels.pick(big.swapaxes(-1, -2)).compiled
    assert not softmax_kernels.pick(big, rows.astype(np.float64)).compiled
    assert not softmax_kernels.pick(np.zeros((4, 64, 64), np.float32)).compiled
    assert softmax_kernels.pick(big, np.zeros((64, 64), np.float32)).compiled
    assert softmax_kernels.pick(big, np.zeros((1, 1, 64, 64), np.float32)).compiled
    assert not softmax_kernels.pick(big, np.zeros((32, 1, 64, 64), np.float32)).compiled
    assert not softmax_kernels.pick(big, np.zeros((64, 64), np.float64)).compiled
    set_jit(False)
    assert not softmax_kernels.pick(big).compiled
