"""Sums along the axes of gradients and activations as matrix-vector products with a vector
of ones, the form BLAS computes 3–5× faster than NumPy's reductions along short rows or
down columns (∂L/∂b of the Transformer's Linear(128, 384): Σ over 2048 rows 163 → 55 µs;
docs/performance.md), summing in float32 SIMD lanes with no larger error (float32 over
2048 rows: max error 5.6e-5 against 2.5e-4 for ``sum(axis=0)``):

``row_sums(a)``         r_i = Σ_j a[i…, j]  (over the last axis, kept as a size-1 axis)
``leading_sums(a, n)``  s[k…] = Σ_{i₁…iₙ} a[i₁, …, iₙ, k…]  (over the first n axes)

Arrays that are not floating point, or whose layout would need a copy to be seen as a
matrix, are summed by NumPy/CuPy.
"""
from __future__ import annotations

import math

from .backend import xp_of


def row_sums(a):
    """Σ over the last axis, keepdims: (a viewed as rows) · 1."""
    xp = xp_of(a)
    if a.dtype.kind != "f" or a.size == 0 or not a.flags.c_contiguous:
        return a.sum(axis=-1, keepdims=True)
    rows = a.reshape(-1, a.shape[-1]) @ xp.ones(a.shape[-1], dtype=a.dtype)
    return rows.reshape(a.shape[:-1] + (1,))


def leading_sums(a, n=1):
    """Σ over the first ``n`` axes: 1ᵀ · (a viewed as (rows, rest))."""
    if n == 0:
        return a
    xp = xp_of(a)
    lead = math.prod(a.shape[:n])
    if a.dtype.kind != "f" or a.size == 0:
        return a.sum(axis=tuple(range(n)))
    if a.ndim == 2 and n == 1:                # any 2-D layout: BLAS reads a or aᵀ in place
        return xp.ones(lead, dtype=a.dtype) @ a
    if not a.flags.c_contiguous:
        return a.sum(axis=tuple(range(n)))
    rest = a.shape[n:]
    return (xp.ones(lead, dtype=a.dtype) @ a.reshape(lead, -1)).reshape(rest)
