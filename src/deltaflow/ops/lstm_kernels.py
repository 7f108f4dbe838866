"""The elementwise work of an LSTM step, as NumPy/CuPy passes and as fused loops compiled
by Numba when it is installed (``pip install "deltaflow[fast]"``, see :mod:`deltaflow.jit`);
``pick(x)`` returns the loops for NumPy float32/float64 arrays (Numba present and enabled),
else the passes. Both do the same operations in the same order (no fast-math
reassociation), so they give the same numbers.

Arrays are feature-major, as in :class:`deltaflow.ops.recurrent.LSTMLayer`: rows are
features in the internal gate order o, i, f, g, columns the batch. A loop is one pass over
the H × B cells of a step instead of five to ten NumPy passes, each with its own call
overhead. The tanh evaluations stay in NumPy (vectorised there, scalar in Numba).

``cell``            from the gates' tanh a = tanh(z) (σ rows of z halved):
                    [o, i, f] = ½·a + ½ (in place),  c_t = f ⊙ c_{t−1} + i ⊙ g,
                    h_t = o ⊙ tanh(c_t), written into column t of an (H, ·, B) array
``backward_steps``  the reverse loop's helper: for a chunk of steps (``chunk(t0, t1)``),
                    ∂L/∂h of those steps feature-major, (n, B, H) → (n, H, B) (the loop
                    reads rows of g in order: NumPy's copy of that transpose gathers one
                    float per row of g, rows 64 KB apart when g is a view of a batch-first
                    array) and, as passes, the chunk's :func:`gate_factors`; then per step
                    (``cell_backward(j, dh, dc)``), with dh += ∂L/∂h_t (from the output):
                    δo = dh·tanh(c_t)·σ′(o),   dc += dh·o·(1 − tanh²(c_t)),
                    δi = dc·g·σ′(i),   δf = dc·c_{t−1}·σ′(f),   δg = dc·i·(1 − g²),   dc ← dc·f
                    with σ′ = σ − σ²; δ_t is written into column j of a (4H, chunk, B)
                    buffer (cache-resident; writing straight into the (4H, T, B) array,
                    8 KB apart per row, made the loop 3–4× slower).
"""
from __future__ import annotations

import numpy as np

from ..backend import xp_of
from ..jit import Compiled, Kernels, Passes


def gate_factors(acts, tc, c_prev):
    """The factors of the backward that depend only on the forward values, for the steps
    of ``acts`` (n, 4H, B), ``tc`` = tanh(c_t) and ``c_prev`` = c_{t−1} (n, H, B):
    Q = tanh(c)·σ′(o), K = o·(1 − tanh²c), P = [g·σ′(i), c_{t−1}·σ′(f), i·(1 − g²)]
    (stacked as (n, 3, H, B)), and f."""
    xp = xp_of(acts)
    n, H4, B = acts.shape
    H = H4 // 4
    o, i, f, g = acts[:, :H], acts[:, H:2 * H], acts[:, 2 * H:3 * H], acts[:, 3 * H:]
    dsig = acts[:, :3 * H] * acts[:, :3 * H]
    xp.subtract(acts[:, :3 * H], dsig, out=dsig)                 # σ′ = σ − σ² (o, i, f)
    q = dsig[:, :H]
    q *= tc
    k = tc * tc
    xp.subtract(1, k, out=k)
    k *= o
    p = xp.empty((n, 3, H, B), dtype=acts.dtype)
    xp.multiply(g, dsig[:, H:2 * H], out=p[:, 0])
    xp.multiply(c_prev, dsig[:, 2 * H:], out=p[:, 1])
    xp.multiply(g, g, out=p[:, 2])
    xp.subtract(1, p[:, 2], out=p[:, 2])
    p[:, 2] *= i
    return q, k, p, f


def _cell_state(a, c_prev, c, half):
    H, B = c.shape
    for r in range(H):
        for b in range(B):
            o = a[r, b] * half + half
            i = a[H + r, b] * half + half
            f = a[2 * H + r, b] * half + half
            a[r, b] = o
            a[H + r, b] = i
            a[2 * H + r, b] = f
            c[r, b] = f * c_prev[r, b] + i * a[3 * H + r, b]


def _hidden(a, tc, h, t):
    H, B = tc.shape
    for r in range(H):
        for b in range(B):
            h[r, t, b] = a[r, b] * tc[r, b]


def _cell_backward(dh, gy, acts, tc, cs, t, dc, dz, j, one):
    H, B = dh.shape
    for r in range(H):
        for b in range(B):
            o = acts[t, r, b]
            i = acts[t, H + r, b]
            f = acts[t, 2 * H + r, b]
            g = acts[t, 3 * H + r, b]
            tanh_c = tc[t, r, b]
            d = dh[r, b] + gy[r, b]
            dz[r, j, b] = d * (tanh_c * (o - o * o))
            c = dc[r, b] + d * (o * (one - tanh_c * tanh_c))
            dz[H + r, j, b] = c * (g * (i - i * i))
            dz[2 * H + r, j, b] = c * (cs[t, r, b] * (f - f * f))
            dz[3 * H + r, j, b] = c * (i * (one - g * g))
            dc[r, b] = c * f


def _feature_major(g, out):
    T, B, H = g.shape
    for t in range(T):
        for b in range(B):
            for r in range(H):
                out[t, r, b] = g[t, b, r]


class _Passes(Passes):
    def cell(self, a, c_prev, c, tanh_c, h, t, half):
        xp = xp_of(a)
        H = c.shape[0]
        sig = a[:3 * H]                                          # o, i, f
        sig *= half
        sig += half
        o, i, f, g = a[:H], a[H:2 * H], a[2 * H:3 * H], a[3 * H:]
        xp.multiply(f, c_prev, out=c)
        xp.multiply(i, g, out=tanh_c)                            # i ⊙ g, before tanh(c_t)
        c += tanh_c
        xp.tanh(c, out=tanh_c)
        xp.multiply(o, tanh_c, out=h[:H, t])

    def backward_steps(self, gy, acts, tc, cs, dz):
        return _PassesSteps(gy, acts, tc, cs, dz)


class _PassesSteps:
    def __init__(self, gy, acts, tc, cs, dz):
        self.xp = xp_of(gy)
        H, chunk, B = tc.shape[1], dz.shape[1], gy.shape[1]
        self.gy, self.acts, self.tc, self.cs, self.H = gy, acts, tc, cs, H
        self.dz, self.dz_ifg = dz, dz[H:].reshape(3, H, chunk, B)
        self.tmp = self.xp.empty((H, B), dtype=gy.dtype)

    def chunk(self, t0, t1):
        self.gyc = self.xp.ascontiguousarray(self.gy[t0:t1].transpose(0, 2, 1))  # (n, H, B)
        self.q, self.k, self.p, self.f = gate_factors(self.acts[t0:t1], self.tc[t0:t1],
                                                      self.cs[t0:t1])

    def cell_backward(self, j, dh, dc):
        xp, tmp = self.xp, self.tmp
        dh += self.gyc[j]
        xp.multiply(dh, self.q[j], out=self.dz[:self.H, j])     # δo
        xp.multiply(dh, self.k[j], out=tmp)
        dc += tmp
        xp.multiply(dc, self.p[j], out=self.dz_ifg[:, :, j])     # δi, δf, δg
        dc *= self.f[j]


class _Compiled(Compiled):
    def cell(self, a, c_prev, c, tanh_c, h, t, half):
        self.loops.cell_state(a, c_prev, c, half)
        np.tanh(c, out=tanh_c)
        self.loops.hidden(a, tanh_c, h, t)

    def backward_steps(self, gy, acts, tc, cs, dz):
        return _CompiledSteps(self.loops, gy, acts, tc, cs, dz)


class _CompiledSteps:
    def __init__(self, loops, gy, acts, tc, cs, dz):
        T, B, H = gy.shape
        self.loops, self.gy, self.acts, self.tc, self.cs, self.dz = loops, gy, acts, tc, cs, dz
        self.gy_fm = np.empty((dz.shape[1], H, B), dtype=gy.dtype)   # ∂L/∂h_t as (H, B)
        self.one = gy.dtype.type(1)

    def chunk(self, t0, t1):
        self.t0, self.gyc = t0, self.gy_fm[:t1 - t0]
        self.loops.feature_major(self.gy[t0:t1], self.gyc)

    def cell_backward(self, j, dh, dc):
        self.loops.cell_backward(dh, self.gyc[j], self.acts, self.tc, self.cs, self.t0 + j,
                                 dc, self.dz, j, self.one)


pick = Kernels(_Passes(), _Compiled, cell_state=_cell_state, hidden=_hidden,
               cell_backward=_cell_backward, feature_major=_feature_major).pick
