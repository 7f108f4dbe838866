"""Separable linear resampling: nearest / (bi)linear / bicubic interpolation and adaptive
average pooling are all y = A_h · x · A_wᵀ on the last two axes for constant matrices A_h,
A_w.

The matrices (one row per output position, holding that position's weights over the input
positions) are built here by :func:`nearest_matrix`, :func:`linear_matrix`,
:func:`cubic_matrix` and :func:`adaptive_avg_matrix`; the op itself is two matrix products
forward and two back.
"""
from __future__ import annotations

import math

import numpy as np

from ..autograd.function import Function
from ..backend import xp_of


class Resample(Function):
    """y = A_h · x · A_wᵀ over the last two axes (only x · A_wᵀ when ``ah`` is None);
    ∂L/∂x = A_hᵀ · ∂L/∂y · A_w."""

    def forward(self, x, ah=None, aw=None):
        xp = xp_of(x)
        self.ah, self.aw = ah, aw
        y = xp.matmul(x, aw.T)
        return y if ah is None else xp.matmul(ah, y)

    def backward(self, g):
        xp = xp_of(g)
        if self.ah is not None:
            g = xp.matmul(self.ah.T, g)
        return xp.matmul(g, self.aw)


def nearest_matrix(n_in: int, n_out: int, scale: float | None, exact: bool = False):
    """Row o selects input ⌊o·scale⌋ (``exact``: ⌊(o + ½)·scale⌋), clamped to the input;
    ``scale`` is 1/scale_factor when one was given, else n_in/n_out. Computed in float32
    like PyTorch's kernel, so the picks agree at the rounding edges."""
    s = np.float32(n_in / n_out if scale is None else scale)
    o = np.arange(n_out, dtype=np.float32) + np.float32(0.5 if exact else 0.0)
    src = np.minimum(np.floor(o * s).astype(np.int64), n_in - 1)
    a = np.zeros((n_out, n_in))
    a[np.arange(n_out), src] = 1.0
    return a


def linear_matrix(n_in: int, n_out: int, scale: float | None, align_corners: bool):
    """Row o mixes the two inputs around the source coordinate
    src = o·(n_in−1)/(n_out−1) (align_corners) or (o + ½)·scale − ½ clamped at 0, with
    weights 1 − λ and λ, λ = src − ⌊src⌋."""
    o = np.arange(n_out, dtype=np.float64)
    if align_corners:
        src = o * ((n_in - 1) / (n_out - 1)) if n_out > 1 else np.zeros(n_out)
    else:
        s = n_in / n_out if scale is None else scale
        src = np.maximum((o + 0.5) * s - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    lam = src - i0
    a = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    a[rows, i0] = 1.0 - lam
    a[rows, i1] += lam
    return a


CUBIC_A = -0.75   # PyTorch's (and OpenCV's) cubic convolution parameter


def cubic_matrix(n_in: int, n_out: int, scale: float | None, align_corners: bool):
    """Row o mixes the four inputs ⌊src⌋ − 1 … ⌊src⌋ + 2 (clamped to the input) around the
    source coordinate src = o·(n_in−1)/(n_out−1) (align_corners) or (o + ½)·scale − ½ (not
    clamped), with Keys' cubic convolution weights for t = src − ⌊src⌋ (A = −0.75):
    W(x) = (A+2)|x|³ − (A+3)|x|² + 1 for |x| ≤ 1,  A|x|³ − 5A|x|² + 8A|x| − 4A for 1 < |x| < 2,
    at x = t + 1, t, 1 − t, 2 − t."""
    o = np.arange(n_out, dtype=np.float64)
    if align_corners:
        src = o * ((n_in - 1) / (n_out - 1)) if n_out > 1 else np.zeros(n_out)
    else:
        s = n_in / n_out if scale is None else scale
        src = (o + 0.5) * s - 0.5
    base = np.floor(src).astype(np.int64)
    t = src - base
    A = CUBIC_A

    def near(x):                                        # |x| ≤ 1
        return ((A + 2) * x - (A + 3)) * x * x + 1

    def far(x):                                         # 1 < |x| < 2
        return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A

    weights = (far(t + 1), near(t), near(1 - t), far(2 - t))
    a = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    for k, w in enumerate(weights):                     # four taps: a 4-step loop
        np.add.at(a, (rows, np.clip(base - 1 + k, 0, n_in - 1)), w)
    return a


def adaptive_avg_matrix(n_in: int, n_out: int):
    """Row o averages inputs ⌊o·n_in/n_out⌋ … ⌈(o+1)·n_in/n_out⌉ − 1 (PyTorch's bins)."""
    a = np.zeros((n_out, n_in))
    for o in range(n_out):  # one row per output position: a tiny constant matrix
        lo, hi = (o * n_in) // n_out, math.ceil((o + 1) * n_in / n_out)
        a[o, lo:hi] = 1.0 / (hi - lo)
    return a
