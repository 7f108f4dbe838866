"""ReLU's backward, as NumPy/CuPy passes and as one loop compiled by Numba when it is
installed (see :mod:`deltaflow.jit`):

``backward``  grad = 0 where out ≤ 0, else g  (out = max(z, 0): a NaN output passes g).

The loop is one pass over memory as a select, PyTorch's ``threshold_backward``; the passes
are NumPy's mask, negation, multiply and finiteness check (four passes; the multiply also
needs a fallback for ±Inf in g, where g·0 would be NaN). ``pick(g, out)`` returns the loop
when it applies: Numba present and enabled, NumPy float arrays of at least ``MIN_SIZE``
elements (a small model never imports Numba), g and out laid out alike (C, F as
:class:`deltaflow.ops.linear.Linear` may produce, or a convolution's batch-last output seen
as NCHW: :func:`deltaflow.jit.shared_layout`), so that the loop walks both flat in memory
order.
"""
from __future__ import annotations

import numpy as np

from ..backend import xp_of
from ..jit import MIN_SIZE, Compiled, Kernels, Passes, shared_layout


def _backward(g, out, grad):
    for k in range(g.size):
        grad[k] = 0 if out[k] <= 0 else g[k]


class _Passes(Passes):
    def backward(self, g, out):
        xp = xp_of(g)
        keep = ~(out <= 0)  # a NaN output passes the gradient
        # g·keep is 7× faster than where(); it differs only where g is ±Inf/NaN (Inf·0 is
        # NaN, where() gives 0), and then the sum is not finite: fall back to where()
        grad = g * keep
        return grad if xp.isfinite(grad.sum()) else xp.where(keep, g, xp.zeros((), g.dtype))


class _Compiled(Compiled):
    def backward(self, g, out):
        grad = np.empty_like(g)             # same layout as g: flat in memory order below
        self.loops.backward(g.ravel(order="K"), out.ravel(order="K"), grad.ravel(order="K"))
        return grad


def _applies(g, out):
    return g.size >= MIN_SIZE and shared_layout(g, out) is not None


pick = Kernels(_Passes(), _Compiled, _applies, backward=_backward).pick
