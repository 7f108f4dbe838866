"""The elementwise work of a GRU step, as NumPy/CuPy passes and as fused loops compiled by
Numba when it is installed (see :mod:`deltaflow.jit`); ``pick(x)`` returns the loops for
NumPy float32/float64 arrays (Numba present and enabled), else the passes. Both do the
same operations in the same order, so they give the same numbers.

Arrays are batch-major as in :class:`deltaflow.ops.recurrent.GRULayer`: a step's gates
(B, 3H) in the order r, z, n, with the σ-gates' pre-activations halved
(σ(x) = ½·tanh(x/2) + ½). The tanh evaluations stay in NumPy (vectorised there, scalar in
Numba).

``cell``            from gh = W_hh·h_{t−1}:  gh += b_hh;  [r, z] pre-activations += gh[r, z];
                    [r, z] = ½·tanh(·) + ½;  n = tanh(n pre-activation + r ⊙ gh[n]);
                    h_t = (h_{t−1} − n) ⊙ z + n
``backward_steps``  the reverse loop's helper; ``cell_backward(t, dh, gy_t)``, with
                    d = dh + ∂L/∂h_t (from the output):
                    δn = d·(1 − z)·(1 − n²),  δr = δn·gh[n]·σ′(r),  δz = d·(h_{t−1} − n)·σ′(z),
                    input-side δ_t = [δr, δz, δn], recurrent-side δ_t = [δr, δz, δn·r],
                    direct = d·z (the path h_t → h_{t−1} outside the gates), σ′ = σ − σ²;
                    the passes take σ′ and tanh′ of all steps before the loop.
"""
from __future__ import annotations

import numpy as np

from ..backend import xp_of
from ..jit import Compiled, Kernels, Passes


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


class _Passes(Passes):
    def cell(self, a, gh, b_hh, h_prev, h, half):
        xp = xp_of(a)
        H = h.shape[1]
        if b_hh is not None:
            gh += b_hh
        rz, n = a[:, :2 * H], a[:, 2 * H:]
        rz += gh[:, :2 * H]
        xp.tanh(rz, out=rz)
        rz *= half
        rz += half
        r, z = a[:, :H], a[:, H:2 * H]
        xp.multiply(r, gh[:, 2 * H:], out=h)                     # r ⊙ gh[n], before h_t
        n += h
        xp.tanh(n, out=n)
        xp.subtract(h_prev, n, out=h)
        h *= z
        h += n

    def backward_steps(self, acts, hs, ghn, dzx, dzh, direct):
        return _PassesSteps(acts, hs, ghn, dzx, dzh, direct)


class _PassesSteps:
    def __init__(self, acts, hs, ghn, dzx, dzh, direct):
        self.xp = xp_of(acts)
        self.H = H = acts.shape[2] // 3
        self.acts, self.hs, self.ghn, self.dzx, self.dzh, self.direct = \
            acts, hs, ghn, dzx, dzh, direct
        self.deriv = acts - acts * acts                          # σ′ for r, z
        n_all = acts[:, :, 2 * H:]
        self.deriv[:, :, 2 * H:] = 1 - n_all * n_all             # tanh′ for n

    def cell_backward(self, t, dh, gy_t):
        xp, H, direct = self.xp, self.H, self.direct
        dh += gy_t
        a, dv, dw = self.acts[t], self.deriv[t], self.dzx[t]
        r, z, n = a[:, :H], a[:, H:2 * H], a[:, 2 * H:]
        dr, dz, dn = dw[:, :H], dw[:, H:2 * H], dw[:, 2 * H:]
        xp.subtract(self.hs[t], n, out=dz)
        dz *= dh                                                 # dz (before σ′)
        xp.multiply(dh, z, out=direct)                           # ∂h_t/∂h_{t−1} path
        xp.subtract(dh, direct, out=dn)                          # dh·(1 − z)
        dn *= dv[:, 2 * H:]
        xp.multiply(dn, self.ghn[t], out=dr)
        dw[:, :2 * H] *= dv[:, :2 * H]
        dhh = self.dzh[t]
        dhh[:, :2 * H] = dw[:, :2 * H]
        xp.multiply(dn, r, out=dhh[:, 2 * H:])


class _Compiled(Compiled):
    def cell(self, a, gh, b_hh, h_prev, h, half):
        H = h.shape[1]
        rz, n = a[:, :2 * H], a[:, 2 * H:]
        self.loops.gates(a, gh, gh[0] if b_hh is None else b_hh, b_hh is not None)
        np.tanh(rz, out=rz)
        self.loops.candidate(a, gh, half)
        np.tanh(n, out=n)
        self.loops.hidden(h_prev, a, h)

    def backward_steps(self, acts, hs, ghn, dzx, dzh, direct):
        return _CompiledSteps(self.loops, acts, hs, ghn, dzx, dzh, direct)


class _CompiledSteps:
    def __init__(self, loops, acts, hs, ghn, dzx, dzh, direct):
        self.loops, self.acts, self.hs, self.ghn = loops, acts, hs, ghn
        self.dzx, self.dzh, self.direct = dzx, dzh, direct
        self.one = acts.dtype.type(1)

    def cell_backward(self, t, dh, gy_t):
        self.loops.backward(dh, gy_t, self.acts[t], self.hs[t], self.ghn[t], self.dzx[t],
                            self.dzh[t], self.direct, self.one)


pick = Kernels(_Passes(), _Compiled, gates=_gates, candidate=_candidate, hidden=_hidden,
               backward=_backward).pick
