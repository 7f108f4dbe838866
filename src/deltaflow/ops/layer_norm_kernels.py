"""LayerNorm's forward and backward on (rows, K) values, as NumPy/CuPy passes and as
row-fused loops compiled by Numba when it is installed (see :mod:`deltaflow.jit`). Both
implement

``forward(rows, weight, bias, eps)``  →  y, x̂, s  (x̂ and s are what the backward reads):
    μ_r = Σ_j x_rj / K,  σ²_r = Σ_j (x_rj − μ_r)² / K,  s_r = 1/√(σ²_r + ε),
    x̂_rj = (x_rj − μ_r)·s_r,  y_rj = x̂_rj·γ_j + β_j
``backward(g, x̂, s, weight, input_grad, param_grads)``  →  ∂L/∂x, ∂L/∂γ, ∂L/∂β:
    ĝ_rj = γ_j·g_rj,  a_r = Σ_j ĝ_rj / K,  b_r = Σ_j ĝ_rj·x̂_rj / K,
    ∂L/∂x_rj = ((ĝ_rj − a_r) − x̂_rj·b_r)·s_r,  ∂L/∂γ_j = Σ_r g_rj·x̂_rj,  ∂L/∂β_j = Σ_r g_rj
    (None where not wanted: ∂L/∂x unless ``input_grad``, ∂L/∂γ and ∂L/∂β unless
    ``param_grads``, ∂L/∂γ when there is no γ)

with γ and β optional (None: γ = 1, β = 0).

The passes take every sum along a row as a BLAS matrix-vector product (with a vector of
1/K, or of γ/K: a = g·γ/K, b = (g·x̂)·γ/K) and every sum over rows as one with a vector of
ones (:func:`deltaflow.sums.leading_sums`), 3–5× faster than NumPy's reductions along
short rows; with the elementwise passes around them that is seven passes over the whole
array forward and ten backward, and each direction writes three full-size arrays.

The loops visit each row once, while it is in L1:

``_forward``   μ_r, then σ²_r from (x_r − μ_r)² (two passes over the row), each summed in
               ``LANES`` partial sums: lane l adds the x_rj with j ≡ l (mod ``LANES``),
               an elementwise loop that LLVM vectorises (a plain running sum it leaves
               scalar, compiled without fast-math), then the lanes are folded pairwise;
               then x̂_r, then y_r from x̂_r.
``_backward``  ∂L/∂γ += g_r·x̂_r and ∂L/∂β += g_r into float64 arrays (rows in order, each
               product rounded to the dtype, the totals rounded once at the end); a_r and
               b_r in lane sums as above; then ∂L/∂x_r.

All else (sums, x̂, ∂L/∂x) is computed in the dtype. The loops sum in another order than
BLAS, so the two implementations agree to rounding, not bit for bit
(tests/test_layer_norm_kernels.py states the bound and checks both against PyTorch). On
the Transformer's (32, 64, 128) float32 activations, the op with γ and β: forward
0.36 → 0.18 ms, forward + backward 0.95 → 0.60 ms against the previous loops between BLAS
row means (PyTorch on one thread: 0.16 and 0.39 ms).

``pick(rows, params, *others)`` returns the loops for C-ordered 2-D NumPy float32/float64
``rows`` of at least ``MIN_SIZE`` values in rows of at least ``MIN_K`` (shorter rows make
the per-row work cost more than the passes: K = 5, 52 428 rows, forward + backward
3.1 ms as passes, 4.1 ms as loops), with the given ``params`` (γ, β; None for an absent
one) of their dtype and ``others`` of their shape, dtype and order; else the passes.
"""
from __future__ import annotations

import numpy as np

from ..backend import xp_of
from ..jit import MIN_SIZE, Compiled, Kernels, Passes, shared_layout
from ..sums import leading_sums

LANES = 32      # partial sums per row sum, folded pairwise: 32 → 16 → 8 → 4 → 2 → 1
MIN_K = 16      # shorter rows keep the passes


def affine(xhat, weight, bias):
    """y = γ·x̂ + β with either parameter optional (a copy of x̂ when neither is given);
    BatchNorm's too."""
    if weight is not None:
        y = xhat * weight
        if bias is not None:
            y += bias
        return y
    return xhat + bias if bias is not None else xhat.copy()


def _forward(x, weight, bias, eps, inv_k, one, acc, xhat, inv_std, y):
    """Per row r (``acc``: ``LANES`` scratch values; ``eps``, ``inv_k`` = 1/K and ``one``
    of the dtype): μ = Σ_j x_j · (1/K) and σ² = Σ_j (x_j − μ)² · (1/K) in lane sums,
    s = 1/√(σ² + ε) → inv_std[r], x̂_j = (x_j − μ)·s → xhat[r], y_j = x̂_j·γ_j + β_j → y[r]."""
    R, K = x.shape
    for r in range(R):
        row = x[r]
        acc[:] = 0
        for i in range(0, K, LANES):
            seg = row[i:i + LANES]
            for lane in range(seg.size):
                acc[lane] += seg[lane]
        width = LANES // 2                       # fold the lanes pairwise
        while width:
            for lane in range(width):
                acc[lane] += acc[lane + width]
            width //= 2
        mean = acc[0] * inv_k
        acc[:] = 0
        for i in range(0, K, LANES):
            seg = row[i:i + LANES]
            for lane in range(seg.size):
                d = seg[lane] - mean
                acc[lane] += d * d
        width = LANES // 2
        while width:
            for lane in range(width):
                acc[lane] += acc[lane + width]
            width //= 2
        s = one / np.sqrt(acc[0] * inv_k + eps)
        inv_std[r] = s
        h = xhat[r]
        for j in range(K):
            h[j] = (row[j] - mean) * s
        out = y[r]
        for j in range(K):                       # a second loop: 1.5× faster than
            out[j] = h[j] * weight[j] + bias[j]  # storing x̂ and y from one


def _backward(g, xhat, weight, inv_std, inv_k, input_grad, param_grads, a, b, gx, gw, gb):
    """Per row r (``a``, ``b``: ``LANES`` scratch values; ``inv_k`` = 1/K of the dtype):
    if ``param_grads``, gw_j += g_j·x̂_j and gb_j += g_j (float64 ``gw``, ``gb``); if
    ``input_grad``, a_r = Σ_j γ_j·g_j · (1/K) and b_r = Σ_j γ_j·g_j·x̂_j · (1/K) in lane
    sums, then ∂L/∂x_j = ((γ_j·g_j − a_r) − x̂_j·b_r)·s_r → gx[r]."""
    R, K = g.shape
    for r in range(R):
        if param_grads:
            for j in range(K):
                gw[j] += np.float64(g[r, j] * xhat[r, j])
                gb[j] += g[r, j]
        if input_grad:
            a[:] = 0
            b[:] = 0
            for i in range(0, K, LANES):
                gs, hs, ws = g[r, i:i + LANES], xhat[r, i:i + LANES], weight[i:i + LANES]
                for lane in range(gs.size):
                    gh = ws[lane] * gs[lane]
                    a[lane] += gh
                    b[lane] += gh * hs[lane]
            width = LANES // 2                   # fold the lanes pairwise
            while width:
                for lane in range(width):
                    a[lane] += a[lane + width]
                    b[lane] += b[lane + width]
                width //= 2
            ar, br = a[0] * inv_k, b[0] * inv_k
            s = inv_std[r]
            for j in range(K):
                gx[r, j] = ((weight[j] * g[r, j] - ar) - xhat[r, j] * br) * s


class _Passes(Passes):
    def forward(self, rows, weight, bias, eps):
        xp = xp_of(rows)
        inv_k = xp.full(rows.shape[1], 1.0 / rows.shape[1], dtype=rows.dtype)
        xhat = rows - (rows @ inv_k)[:, None]
        inv_std = 1.0 / xp.sqrt((xhat * xhat) @ inv_k + eps)
        xhat *= inv_std[:, None]
        return affine(xhat, weight, bias), xhat, inv_std

    def backward(self, g, xhat, inv_std, weight, input_grad, param_grads):
        xp = xp_of(g)
        k = g.shape[1]
        g_xhat = g * xhat if input_grad or (param_grads and weight is not None) else None
        gx = None
        if input_grad:
            if weight is not None:                   # ĝ = γ·g
                gx, weight_k = g * weight, weight * (1.0 / k)
            else:                                    # ĝ = g
                gx, weight_k = g.copy(), xp.full(k, 1.0 / k, dtype=g.dtype)
            gx -= (g @ weight_k)[:, None]
            gx -= xhat * (g_xhat @ weight_k)[:, None]
            gx *= inv_std[:, None]
        if not param_grads:
            return gx, None, None
        return gx, (None if weight is None else leading_sums(g_xhat)), leading_sums(g)


class _Compiled(Compiled):
    def forward(self, rows, weight, bias, eps):
        k, dtype = rows.shape[1], rows.dtype
        y, xhat, inv_std = np.empty_like(rows), np.empty_like(rows), np.empty(len(rows), dtype)
        self.loops.forward(rows, np.ones(k, dtype) if weight is None else weight,
                           np.zeros(k, dtype) if bias is None else bias, dtype.type(eps),
                           dtype.type(1.0 / k), dtype.type(1), np.empty(LANES, dtype),
                           xhat, inv_std, y)
        return y, xhat, inv_std

    def backward(self, g, xhat, inv_std, weight, input_grad, param_grads):
        k, dtype = g.shape[1], g.dtype
        gx = np.empty_like(g) if input_grad else np.empty((0, k), dtype)     # (0, k): unused
        gw, gb = np.zeros(k), np.zeros(k)
        self.loops.backward(g, xhat, np.ones(k, dtype) if weight is None else weight, inv_std,
                            dtype.type(1.0 / k), bool(input_grad), bool(param_grads),
                            np.empty(LANES, dtype), np.empty(LANES, dtype), gx, gw, gb)
        gx = gx if input_grad else None
        if not param_grads:
            return gx, None, None
        return gx, (None if weight is None else gw.astype(dtype)), gb.astype(dtype)


def _applies(rows, params, *others):
    return rows.ndim == 2 and rows.size >= MIN_SIZE and rows.shape[1] >= MIN_K and \
        all(p is None or p.dtype == rows.dtype for p in params) and \
        shared_layout(rows, *others) == "C"


pick = Kernels(_Passes(), _Compiled, _applies, forward=_forward, backward=_backward).pick
