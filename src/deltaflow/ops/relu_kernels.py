"""Fused ReLU backward, compiled by Numba when it is installed (see :mod:`deltaflow.jit`).

``backward``  grad = 0 where out ≤ 0, else g  (out = max(z, 0): a NaN output passes g),

one pass over memory as a select, PyTorch's ``threshold_backward``, instead of NumPy's
mask, negation, multiply and finiteness check (four passes; the multiply also needs a
fallback for ±Inf in g, where g·0 would be NaN). ``for_arrays(g, out)`` returns the
compiled loop when it applies: Numba present and enabled, NumPy float arrays of at least
``MIN_SIZE`` elements (a small model never imports Numba), g and out contiguous in the
same order (C, or F as :class:`deltaflow.ops.linear.Linear` may produce), so that the loop
walks both flat in memory order.
"""
from __future__ import annotations

from ..jit import MIN_SIZE, Kernels, shared_layout


def _backward(g, out, grad):
    for k in range(g.size):
        grad[k] = 0 if out[k] <= 0 else g[k]


_KERNELS = Kernels(backward=_backward)


def for_arrays(g, out):
    """The compiled loop if it applies to ∂L/∂out ``g`` and the saved output ``out``."""
    if g.size < MIN_SIZE or shared_layout(g, out) is None:
        return None
    return _KERNELS.for_array(g)
