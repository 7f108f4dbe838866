"""Φ(z) and φ(z) of a float32 array in one loop, compiled by Numba when it is installed
(see :mod:`deltaflow.jit`): the part of :func:`deltaflow.ops.activation.normal_cdf_pdf`
after e = e^{−z²/2}, which stays a NumPy pass (NumPy's exp is vectorised, a scalar one in
the loop would not be).

``cdf_pdf``  φ = e/√(2π);  t = 1/(1 + p·|z|/√2);  E = ½·poly(t)·e  (Abramowitz & Stegun
             7.1.26, Horner);  Φ = (1 − 2E)·[z ≥ 0] + E

with the constants and the operations, in order, of the NumPy passes, so both give the
same numbers: one pass over memory instead of about fifteen (GELU on the Transformer
benchmark's (2048, 512) activations: see docs/performance.md). ``for_array(z)`` returns
the compiled loop for NumPy float32 arrays of at least ``MIN_SIZE`` elements, contiguous
in C or F order (the loop walks z, e and the outputs flat in memory order).
"""
from __future__ import annotations

from ..jit import Kernels

MIN_SIZE = 1 << 15


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


_KERNELS = Kernels(cdf_pdf=_cdf_pdf)


def for_array(z):
    """The compiled loop if it applies to ``z`` (see the module docstring), else None."""
    if z.size < MIN_SIZE or z.dtype.name != "float32" or not (
            z.flags.c_contiguous or z.flags.f_contiguous):
        return None
    return _KERNELS.for_array(z)
