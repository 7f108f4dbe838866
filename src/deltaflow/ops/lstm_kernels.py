"""Fused LSTM step kernels, compiled by Numba when it is installed (``pip install
"deltaflow[fast]"``, see :mod:`deltaflow.jit`). Without Numba, or with ``DELTAFLOW_NUMBA=0``
in the environment, :class:`deltaflow.ops.recurrent.LSTMLayer` does the same arithmetic as
NumPy passes; ``for_array(x)`` says which path applies to ``x``.

Each kernel is one loop over the H × B cells of one time step (feature-major, as in
``LSTMLayer``: rows are features in the internal gate order o, i, f, g, columns the batch),
so a step costs one pass over memory instead of five to ten NumPy passes, each with its own
call overhead. The tanh evaluations stay in NumPy (vectorised there, scalar in Numba).

``cell_state``    σ-gates from u = tanh(z/2):  [o, i, f] = ½·u + ½  (in place),
                  c_t = f ⊙ c_{t−1} + i ⊙ g
``hidden``        h_t = o ⊙ tanh(c_t), written into the stacked column z_{t+1}[:H]
``cell_backward`` dh += ∂L/∂h_t (from the layer's output),
                  δo = dh·tanh(c_t)·σ′(o),   dc += dh·o·(1 − tanh²(c_t)),
                  δi = dc·g·σ′(i),   δf = dc·c_{t−1}·σ′(f),   δg = dc·i·(1 − g²),   dc ← dc·f
                  with σ′ = σ − σ²; δ_t is written into column j of a (4H, chunk, B) buffer
                  (cache-resident; writing straight into the (4H, T, B) array, 8 KB apart
                  per row, made the kernel 3–4× slower).
``feature_major`` out[t] = g[t]ᵀ: ∂L/∂h of a chunk of steps, (n, B, H) → (n, H, B), reading
                  rows of g in order (NumPy's copy of that transpose gathers one float per
                  row of g, rows 64 KB apart when g is a view of a batch-first array).
The operations and their order are those of the NumPy passes, so both paths give the same
numbers (no fast-math reassociation).
"""
from __future__ import annotations

from ..jit import Kernels


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


def _hidden(a, tc, z, t):
    H, B = tc.shape
    for r in range(H):
        for b in range(B):
            z[r, t, b] = a[r, b] * tc[r, b]


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


for_array = Kernels(cell_state=_cell_state, hidden=_hidden, cell_backward=_cell_backward,
                    feature_major=_feature_major).for_array
