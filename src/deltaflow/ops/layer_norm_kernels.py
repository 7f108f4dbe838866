"""LayerNorm's elementwise passes fused, compiled by Numba when it is installed (see
:mod:`deltaflow.jit`). The per-row means stay BLAS matrix-vector products, as in
:class:`deltaflow.ops.norm.LayerNorm`; what runs here are the passes between them, each a
loop over the (rows, K) values doing the NumPy passes' operations in their order (so both
paths give the same bits):

``center``        x̂ = x − μ_r  and  x̂²  (for the variance's row mean)
``scale_shift``   x̂ ← x̂·s_r  (s = 1/√(σ² + ε)),  y = x̂·γ + β
``grad_products`` g·x̂  and  g·γ
``grad_input``    ∂L/∂x = ((g·γ − a_r) − x̂·b_r)·s_r,  a = g·γ/K, b = (g·x̂)·γ/K row means

Forward: five NumPy passes and two temporaries become two loops; backward: six passes and
three temporaries become two. ``for_rows(rows, *others)`` returns the loops for C-ordered
2-D NumPy float arrays of at least ``MIN_SIZE`` values, ``others`` of the same shape and
dtype and C-ordered too, else None.
"""
from __future__ import annotations

from ..jit import MIN_SIZE, Kernels, shared_layout


def _center(x, mean, xhat, sq):
    R, K = x.shape
    for r in range(R):
        m = mean[r]
        for j in range(K):
            d = x[r, j] - m
            xhat[r, j] = d
            sq[r, j] = d * d


def _scale_shift(xhat, inv_std, weight, bias, y):
    R, K = xhat.shape
    for r in range(R):
        s = inv_std[r]
        for j in range(K):
            h = xhat[r, j] * s
            xhat[r, j] = h
            y[r, j] = h * weight[j] + bias[j]


def _grad_products(g, xhat, weight, g_xhat, g_weighted):
    R, K = g.shape
    for r in range(R):
        for j in range(K):
            g_xhat[r, j] = g[r, j] * xhat[r, j]
            g_weighted[r, j] = g[r, j] * weight[j]


def _grad_input(gx, xhat, a, b, inv_std):
    R, K = gx.shape
    for r in range(R):
        ar, br, s = a[r], b[r], inv_std[r]
        for j in range(K):
            gx[r, j] = ((gx[r, j] - ar) - xhat[r, j] * br) * s


_KERNELS = Kernels(center=_center, scale_shift=_scale_shift, grad_products=_grad_products,
                   grad_input=_grad_input)


def for_rows(rows, *others):
    """The compiled loops if they apply (see the module docstring), else None."""
    if rows.ndim != 2 or rows.size < MIN_SIZE or shared_layout(rows, *others) != "C":
        return None
    return _KERNELS.for_array(rows)
