"""GELU's forward, y = z·Φ(z), and its derivative, f′(z) = Φ(z) + z·φ(z), for a float32 or
float16 array, with Φ by Abramowitz & Stegun 7.1.26, as NumPy/CuPy passes and as a loop
compiled by Numba when it is installed (see :mod:`deltaflow.jit`). Both take
e = e^{−z²/2}, which :func:`deltaflow.ops.activation.normal_cdf_pdf` computes with NumPy's exp
(vectorised; a scalar one in the loop would not be) of −z²/2 from here:

``half_square``  −z²/2 as (z·z)·(−½), in a new array (one pass instead of two)
``cdf_pdf``  φ = e/√(2π);  t = 1/(1 + p·|z|/√2);  E = ½·poly(t)·e  (Horner, the ½ folded
             into the coefficients);  Φ = (1 − 2E)·[z ≥ 0] + E  (branch-free: where() costs
             7× more on mixed signs)
``gelu``     Φ and φ as above, then y = z·Φ and f′ = z·φ + Φ: what GELU's backward
             multiplies the incoming gradient with (one array kept instead of Φ and φ)

The loop does the passes' operations with their constants, in order, so both give the same
numbers: one pass over memory instead of about eighteen (GELU on the Transformer
benchmark's (2048, 512) activations: see docs/performance.md).
``pick(z)`` returns the loops for NumPy float32 arrays of at least ``MIN_SIZE`` elements
that are C, F or one dense permuted array (:func:`deltaflow.jit.shared_layout`: the loops
walk z and e flat in memory order).
"""
from __future__ import annotations

import math

import numpy as np

from ..backend import xp_of
from ..jit import MIN_SIZE, Compiled, Kernels, Passes, shared_layout

INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
# Abramowitz & Stegun 7.1.26: erfc(x) ≈ (a₁t + a₂t² + a₃t³ + a₄t⁴ + a₅t⁵)·e^{−x²}, t = 1/(1 + p·x)
_AS_P = 0.3275911
_AS_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)
_P_SCALE = _AS_P / math.sqrt(2.0)                    # p/√2: x = |z|/√2
# the constants of _gelu after its arrays, as float32
_LOOP_CONSTANTS = tuple(np.float32(c) for c in (
    INV_SQRT_2PI, _P_SCALE, *(0.5 * a for a in _AS_A[::-1]), 1, 0, -2))


def _half_square(z, out, minus_half):
    for k in range(z.size):
        out[k] = (z[k] * z[k]) * minus_half


def _gelu(z, e, y, slope, inv_sqrt_2pi, p_scale, c4, c3, c2, c1, c0, one, zero, minus_two):
    for k in range(z.size):
        ek = e[k]
        pdf = ek * inv_sqrt_2pi
        t = one / (abs(z[k]) * p_scale + one)
        h = t * c4
        h = (h + c3) * t
        h = (h + c2) * t
        h = (h + c1) * t
        h = (h + c0) * t
        h = h * ek
        c = (h * minus_two + one) * (one if z[k] >= zero else zero)
        cdf = c + h
        y[k] = z[k] * cdf
        slope[k] = z[k] * pdf + cdf


def cdf_pdf(z, e):
    """Φ(z) and φ(z) from e = e^{−z²/2} as NumPy/CuPy passes (see the module docstring)."""
    xp = xp_of(z)
    pdf = e * INV_SQRT_2PI
    t = xp.abs(z)
    t *= _P_SCALE
    t += 1
    xp.reciprocal(t, out=t)
    half_erfc = t * (0.5 * _AS_A[4])
    for a in _AS_A[3::-1]:
        half_erfc += 0.5 * a
        half_erfc *= t
    half_erfc *= e                                           # E
    cdf = half_erfc * -2
    cdf += 1
    cdf *= z >= 0
    cdf += half_erfc
    return cdf, pdf


class _Passes(Passes):
    def half_square(self, z):
        out = z * z
        out *= -0.5
        return out

    def gelu(self, z, e):
        cdf, pdf = cdf_pdf(z, e)
        slope = z * pdf
        slope += cdf
        return z * cdf, slope


class _Compiled(Compiled):
    def half_square(self, z):
        out = np.empty_like(z)                                      # z's layout
        self.loops.half_square(z.ravel(order="K"), out.ravel(order="K"), z.dtype.type(-0.5))
        return out

    def gelu(self, z, e):
        y, slope = np.empty_like(e), np.empty_like(e)              # e's layout is z's
        self.loops.gelu(z.ravel(order="K"), e.ravel(order="K"), y.ravel(order="K"),
                        slope.ravel(order="K"), *_LOOP_CONSTANTS)
        return y, slope


def _applies(z):
    return z.size >= MIN_SIZE and z.dtype.name == "float32" and \
        shared_layout(z) is not None


pick = Kernels(_Passes(), _Compiled, _applies, half_square=_half_square, gelu=_gelu).pick
