"""LayerNorm's elementwise passes, as NumPy/CuPy passes and as loops compiled by Numba when
it is installed (see :mod:`deltaflow.jit`). The per-row means stay BLAS matrix-vector
products, in :class:`deltaflow.ops.norm.LayerNorm`; what runs here is the work between
them, on (rows, K) values, each loop doing the passes' operations in their order (so both
give the same bits):

``center``        x̂ = x − μ_r  and  x̂²  (for the variance's row mean)
``scale_shift``   x̂ ← x̂·s_r  (s = 1/√(σ² + ε), in place),  y = x̂·γ + β  (:func:`affine`)
``grad_products`` g·x̂  and  g·γ
``grad_input``    ∂L/∂x = ((g·γ − a_r) − x̂·b_r)·s_r  (in place of g·γ),
                  a = g·γ/K, b = (g·x̂)·γ/K row means

Forward: five passes and two temporaries become two loops; backward: six passes and three
temporaries become two. ``pick(rows, params, *others)`` returns the loops for C-ordered
2-D NumPy float arrays of at least ``MIN_SIZE`` values when the parameters they read,
``params`` (γ and β, or γ), are given, ``others`` of the same shape and dtype as ``rows``
and C-ordered too, else the passes.
"""
from __future__ import annotations

import numpy as np

from ..jit import MIN_SIZE, Compiled, Kernels, Passes, shared_layout


def affine(xhat, weight, bias):
    """y = γ·x̂ + β with either parameter optional (a copy of x̂ when neither is given);
    BatchNorm's too."""
    if weight is not None:
        y = xhat * weight
        if bias is not None:
            y += bias
        return y
    return xhat + bias if bias is not None else xhat.copy()


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


class _Passes(Passes):
    def center(self, rows, mean):
        xhat = rows - mean[:, None]
        return xhat, xhat * xhat

    def scale_shift(self, xhat, inv_std, weight, bias):
        xhat *= inv_std[:, None]
        return affine(xhat, weight, bias)

    def grad_products(self, g, xhat, weight):
        return g * xhat, g * weight

    def grad_input(self, gx, xhat, a, b, inv_std):
        gx -= a[:, None]
        gx -= xhat * b[:, None]
        gx *= inv_std[:, None]
        return gx


class _Compiled(Compiled):
    def center(self, rows, mean):
        xhat, squares = np.empty_like(rows), np.empty_like(rows)
        self.loops.center(rows, mean, xhat, squares)
        return xhat, squares

    def scale_shift(self, xhat, inv_std, weight, bias):
        y = np.empty_like(xhat)
        self.loops.scale_shift(xhat, inv_std, weight, bias, y)
        return y

    def grad_products(self, g, xhat, weight):
        g_xhat, g_weighted = np.empty_like(g), np.empty_like(g)
        self.loops.grad_products(g, xhat, weight, g_xhat, g_weighted)
        return g_xhat, g_weighted

    def grad_input(self, gx, xhat, a, b, inv_std):
        self.loops.grad_input(gx, xhat, a, b, inv_std)
        return gx


def _applies(rows, params, *others):
    return all(p is not None for p in params) and rows.ndim == 2 and \
        rows.size >= MIN_SIZE and shared_layout(rows, *others) == "C"


pick = Kernels(_Passes(), _Compiled, _applies, center=_center, scale_shift=_scale_shift,
               grad_products=_grad_products, grad_input=_grad_input).pick
