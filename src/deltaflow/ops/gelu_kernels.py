"""Φ(z) and φ(z) of a float32 or float16 array by Abramowitz & Stegun 7.1.26, and GELU's
backward, as NumPy/CuPy passes and as loops compiled by Numba when it is installed (see
:mod:`deltaflow.jit`). Both take e = e^{−z²/2}, which
:func:`deltaflow.ops.activation.normal_cdf_pdf` computes as a NumPy pass (NumPy's exp is
vectorised, a scalar one in the loop would not be).

``cdf_pdf``        φ = e/√(2π);  t = 1/(1 + p·|z|/√2);  E = ½·poly(t)·e  (Horner, the ½
                   folded into the coefficients);  Φ = (1 − 2E)·[z ≥ 0] + E  (branch-free:
                   where() costs 7× more on mixed signs)
``gelu_backward``  ∂L/∂z = (z·φ + Φ)·g, GELU's derivative times the incoming gradient

The loops do the passes' operations with their constants, in order, so both give the same
numbers: one pass over memory instead of about fifteen, and one instead of three (GELU on
the Transformer benchmark's (2048, 512) activations: see docs/performance.md).
``pick(z, *others)`` returns the loops for NumPy float32 arrays of at least ``MIN_SIZE``
elements, contiguous in C or F order, ``others`` (arrays the loop reads beside z) in the
same order as z: the loops walk all of them flat in memory order.
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
# the constants of _cdf_pdf after its arrays, as float32
_LOOP_CONSTANTS = tuple(np.float32(c) for c in (
    INV_SQRT_2PI, _P_SCALE, *(0.5 * a for a in _AS_A[::-1]), 1, 0, -2))


def _cdf_pdf(z, e, cdf, pdf, inv_sqrt_2pi, p_scale, c4, c3, c2, c1, c0, one, zero, minus_two):
    for k in range(z.size):
        ek = e[k]
        pdf[k] = ek * inv_sqrt_2pi
        t = one / (abs(z[k]) * p_scale + one)
        h = t * c4
        h = (h + c3) * t
        h = (h + c2) * t
        h = (h + c1) * t
        h = (h + c0) * t
        h = h * ek
        c = (h * minus_two + one) * (one if z[k] >= zero else zero)
        cdf[k] = c + h


def _gelu_backward(z, pdf, cdf, g, out):
    for k in range(z.size):
        out[k] = (z[k] * pdf[k] + cdf[k]) * g[k]


class _Passes(Passes):
    def cdf_pdf(self, z, e):
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

    def gelu_backward(self, z, pdf, cdf, g):
        d = z * pdf
        d += cdf
        d *= g
        return d


class _Compiled(Compiled):
    def cdf_pdf(self, z, e):
        cdf, pdf = np.empty_like(e), np.empty_like(e)            # e's layout is z's
        self.loops.cdf_pdf(z.ravel(order="K"), e.ravel(order="K"), cdf.ravel(order="K"),
                           pdf.ravel(order="K"), *_LOOP_CONSTANTS)
        return cdf, pdf

    def gelu_backward(self, z, pdf, cdf, g):
        d = np.empty_like(z)
        self.loops.gelu_backward(*(a.ravel(order="K") for a in (z, pdf, cdf, g, d)))
        return d


def _applies(z, *others):
    return z.size >= MIN_SIZE and z.dtype.name == "float32" and \
        shared_layout(z, *others) is not None


pick = Kernels(_Passes(), _Compiled, _applies, cdf_pdf=_cdf_pdf,
               gelu_backward=_gelu_backward).pick
