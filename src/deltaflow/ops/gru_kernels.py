"""Fused GRU step kernels, compiled by Numba when it is installed (see
:mod:`deltaflow.jit`); without it :class:`deltaflow.ops.recurrent.GRULayer` does the same
arithmetic as NumPy passes, in the same order, so both paths give the same numbers.

Arrays are batch-major as in ``GRULayer``: a step's gates (B, 3H) in the order r, z, n,
with the σ-gates' pre-activations halved (σ(x) = ½·tanh(x/2) + ½). The tanh evaluations
stay in NumPy (vectorised there, scalar in Numba).

``gates``     gh ← W_hh·h + b_hh;  [r, z] pre-activations += gh[r, z]
``candidate`` [r, z] = ½·u + ½ (u their tanh);  n pre-activation += r ⊙ gh[n]
``hidden``    h_t = (h_{t−1} − n) ⊙ z + n
``backward``  with dh = ∂L/∂h_t (carried + from the output):
              δn = dh·(1 − z)·(1 − n²),  δr = δn·gh[n]·σ′(r),  δz = dh·(h_{t−1} − n)·σ′(z),
              input-side δ = [δr, δz, δn], recurrent-side δ = [δr, δz, δn·r],
              direct = dh·z (the path h_t → h_{t−1} outside the gates), σ′ = σ − σ².
"""
from __future__ import annotations

from ..jit import Kernels


def _gates(a, gh, b_hh, has_bias):
    B, H3 = a.shape
    H2 = 2 * (H3 // 3)
    for b in range(B):
        for j in range(H3):
            g = gh[b, j]
            if has_bias:
                g = g + b_hh[j]
                gh[b, j] = g
            if j < H2:
                a[b, j] = a[b, j] + g


def _candidate(a, gh, half):
    B, H3 = a.shape
    H = H3 // 3
    for b in range(B):
        for j in range(H):
            r = a[b, j] * half + half
            a[b, j] = r
            a[b, H + j] = a[b, H + j] * half + half
            a[b, 2 * H + j] = a[b, 2 * H + j] + r * gh[b, 2 * H + j]


def _hidden(h_prev, a, h):
    B, H = h.shape
    for b in range(B):
        for j in range(H):
            n = a[b, 2 * H + j]
            h[b, j] = (h_prev[b, j] - n) * a[b, H + j] + n


def _backward(dh, gy, a, h_prev, ghn, dzx, dzh, direct, one):
    B, H = dh.shape
    for b in range(B):
        for j in range(H):
            d = dh[b, j] + gy[b, j]
            r = a[b, j]
            z = a[b, H + j]
            n = a[b, 2 * H + j]
            dz = (h_prev[b, j] - n) * d
            through = d * z
            dn = (d - through) * (one - n * n)
            dr = (dn * ghn[b, j]) * (r - r * r)
            dz = dz * (z - z * z)
            dzx[b, j] = dr
            dzx[b, H + j] = dz
            dzx[b, 2 * H + j] = dn
            dzh[b, j] = dr
            dzh[b, H + j] = dz
            dzh[b, 2 * H + j] = dn * r
            direct[b, j] = through


for_array = Kernels(gates=_gates, candidate=_candidate, hidden=_hidden,
                    backward=_backward).for_array
