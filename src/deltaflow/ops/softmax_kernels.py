"""The row softmax of attention and its backward, as NumPy/CuPy passes and as loops compiled
by Numba when it is installed (see :mod:`deltaflow.jit`). Scores are viewed as (rows, K):
one row per query, K keys. The exponential stays NumPy's vectorised pass and the row sums
a BLAS matrix-vector product (:func:`deltaflow.sums.row_sums`); what runs here is
the work between them, each loop doing the passes' operations in their order, so both give
the same bits. (A row with a NaN score is all NaN either way: its sum is NaN. Only its
maximum may differ, which NumPy takes as NaN and the loop from the other scores, with four
running maxima, independent chains, 2.3× faster than one.)

``shift``      s_rj ← s_rj·scale (+ M_rj, the additive mask),  m_r = max_j s_rj (0 when it
               is ±∞, so a fully masked row stays −∞ and becomes zeros),  s_rj ← s_rj − m_r
               (in place; the passes make a new array when M broadcasts s to a larger
               shape)
``normalize``  t_r ← 1 where t_r = 0 (a fully masked row),  e_rj ← e_rj · (1/t_r)  (in place)
``grad``       ∂L/∂s_rj = (∂L/∂p_rj − c_r)·p_rj  (in place of ∂L/∂p; c_r = Σ_j ∂L/∂p_rj·p_rj)

NumPy reduces and broadcasts along rows as short as attention's (64 keys) slowly: the
maximum alone took 1.0 ms of a 2.4 ms softmax over the Transformer benchmark's
(32, 4, 64, 64) scores, the broadcast subtraction 0.4 ms and the scaling 0.4 ms; each loop
is one pass over a row while it is in L1 (docs/performance.md).
``pick(scores, *others)`` returns the loops for C-ordered NumPy float arrays of at least
``MIN_SIZE`` values when each of ``others`` (a mask, row sums, the probabilities) is None or
a C-ordered array of their dtype that the loops read row by row: of the scores' shape, of
their row sums' shape (…, 1), or one (L, K) mask for every leading index (the causal mask);
else the passes.
"""
from __future__ import annotations

import math

import numpy as np

from ..backend import xp_of
from ..jit import MIN_SIZE, Compiled, Kernels, Passes


def _shift(s, scale, mask, zero):
    R, K = s.shape
    L = mask.shape[0]                            # mask: (L, K), row r takes mask[r % L]
    quads = K - K % 4
    for r in range(R):
        m_row = mask[r % L]
        for j in range(K):
            s[r, j] = s[r, j] * scale + m_row[j]
        m0 = m1 = m2 = m3 = s[r, 0]              # four running maxima: independent chains
        for j in range(0, quads, 4):
            a, b, c, d = s[r, j], s[r, j + 1], s[r, j + 2], s[r, j + 3]
            m0 = a if a > m0 else m0
            m1 = b if b > m1 else m1
            m2 = c if c > m2 else m2
            m3 = d if d > m3 else m3
        m0 = m1 if m1 > m0 else m0
        m2 = m3 if m3 > m2 else m2
        m = m2 if m2 > m0 else m0
        for j in range(quads, K):
            m = s[r, j] if s[r, j] > m else m
        if not math.isfinite(m):
            m = zero
        for j in range(K):
            s[r, j] = s[r, j] - m


def _normalize(e, total, zero, one):
    R, K = e.shape
    for r in range(R):
        t = total[r]
        if t == zero:
            t = one
        inv = one / t
        for j in range(K):
            e[r, j] = e[r, j] * inv


def _grad(dp, c, p):
    R, K = dp.shape
    for r in range(R):
        cr = c[r]
        for j in range(K):
            dp[r, j] = (dp[r, j] - cr) * p[r, j]


class _Passes(Passes):
    def shift(self, s, scale, mask):
        xp = xp_of(s)
        s *= scale
        if mask is not None:
            if np.broadcast_shapes(s.shape, mask.shape) == s.shape:
                s += mask                        # in place: s is a fresh array
            else:
                s = s + mask
        m = s.max(axis=-1, keepdims=True)
        m[~xp.isfinite(m)] = 0
        return xp.subtract(s, m, out=s)

    def normalize(self, e, total):
        xp = xp_of(e)
        total[total == 0] = 1
        e *= xp.reciprocal(total, out=total)
        return e

    def grad(self, dp, c, p):
        dp -= c
        dp *= p
        return dp


def _rows(a):
    return a.reshape(-1, a.shape[-1])


class _Compiled(Compiled):
    def shift(self, s, scale, mask):
        K = s.shape[-1]
        mask = np.zeros((1, K), s.dtype) if mask is None else mask.reshape(-1, K)
        self.loops.shift(_rows(s), s.dtype.type(scale), mask, s.dtype.type(0))
        return s

    def normalize(self, e, total):
        self.loops.normalize(_rows(e), total.reshape(-1), e.dtype.type(0), e.dtype.type(1))
        return e

    def grad(self, dp, c, p):
        self.loops.grad(_rows(dp), c.reshape(-1), _rows(p))
        return dp


def _applies(scores, *others):
    return scores.size >= MIN_SIZE and scores.ndim >= 2 and scores.flags.c_contiguous and \
        all(a is None or _read_by_rows(a, scores) for a in others)


def _read_by_rows(a, scores):
    """Whether a loop over the rows of ``scores`` can read ``a`` row by row."""
    if a.dtype != scores.dtype or not a.flags.c_contiguous:
        return False
    if a.shape in (scores.shape, scores.shape[:-1] + (1,)):
        return True
    lead = a.shape[:-2]
    return a.shape[-2:] == scores.shape[-2:] and all(n == 1 for n in lead) and \
        len(lead) + 2 <= scores.ndim


pick = Kernels(_Passes(), _Compiled, _applies, shift=_shift, normalize=_normalize,
               grad=_grad).pick
