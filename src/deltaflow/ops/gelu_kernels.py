"""Φ(z) and φ(z) of a float32 array in one loop, compiled by Numba when it is installed
(see :mod:`deltaflow.jit`): the part of :func:`deltaflow.ops.activation.normal_cdf_pdf`
after e = e^{−z²/2}, which stays a NumPy pass (NumPy's exp is vectorised, a scalar one in
the loop would not be).

``cdf_pdf``  φ = e/√(2π);  t = 1/(1 + p·|z|/√2);  E = ½·poly(t)·e  (Abramowitz & Stegun
             7.1.26, Horner);  Φ = (1 − 2E)·[z ≥ 0] + E

``gelu_backward``  ∂L/∂z = (z·φ + Φ)·g, GELU's derivative times the incoming gradient

with the constants and the operations, in order, of the NumPy passes, so both give the
same numbers: one pass over memory instead of about fifteen, and one instead of three
(GELU on the Transformer benchmark's (2048, 512) activations: see docs/performance.md).
``for_array(z, *others)`` returns the compiled loops for NumPy float32 arrays of at least
``MIN_SIZE`` elements, contiguous in C or F order, ``others`` (arrays the loop reads
beside z) in the same order as z: the loops walk all of them flat in memory order.
"""
from __future__ import annotations

from ..jit import MIN_SIZE, Kernels, shared_layout


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


_KERNELS = Kernels(cdf_pdf=_cdf_pdf, gelu_backward=_gelu_backward)


def for_array(z, *others):
    """The compiled loops if they apply to ``z`` and ``others`` (see the module
    docstring), else None."""
    if z.size < MIN_SIZE or z.dtype.name != "float32" or shared_layout(z, *others) is None:
        return None
    return _KERNELS.for_array(z)
