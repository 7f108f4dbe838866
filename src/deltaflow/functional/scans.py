"""Running ops along one dim: ``cumsum cumprod logcumsumexp cummax cummin``, and ``diff``
(forward differences, the inverse of ``cumsum``). ``_one_dim`` (a 0-d input counts as one
element) is shared with the order statistics in :mod:`.sorting`.
"""
from __future__ import annotations

from .. import backend
from ..ops import scan as Scan
from ..tensor import Tensor
from ..ufunc_methods import accumulate
from ._common import _dim, _floating, values_indices
from .arithmetic import sub
from .indexing import gather, getitem
from .shape import cat, reshape


def _one_dim(op, x, dim, apply):
    """``apply(x, axis)`` along ``dim``; a 0-d ``x`` counts as one element (as PyTorch)."""
    d = _dim(dim, x.ndim, op)
    if x.ndim:
        return apply(x, d)
    out = apply(reshape(x, 1), 0)
    if isinstance(out, tuple):
        return type(out)(*(reshape(o, ()) for o in out))
    return reshape(out, ())


def _scan_input(x, dtype):
    """The input of a running sum or product: cast to ``dtype``, integers and bools to int64."""
    if dtype is not None:
        return x.to(dtype)
    return x.to(backend.int64) if x.data.dtype.kind in "biu" else x


def cumsum(x, dim, dtype=None):
    """yᵢ = Σ_{j≤i} xⱼ along ``dim`` (integer and bool inputs give int64)."""
    return _one_dim("cumsum", _scan_input(x, dtype), dim,
                    lambda t, d: Scan.Cumsum.apply(t, dim=d))


def cumprod(x, dim, dtype=None):
    """yᵢ = Π_{j≤i} xⱼ along ``dim``; the gradient is exact where x has zeros."""
    return _one_dim("cumprod", _scan_input(x, dtype), dim,
                    lambda t, d: Scan.Cumprod.apply(t, dim=d))


def logcumsumexp(x, dim):
    """yᵢ = ln Σ_{j≤i} e^{xⱼ} along ``dim``, without overflow."""
    _floating(x, "logcumsumexp")
    return _one_dim("logcumsumexp", x, dim, lambda t, d: Scan.LogCumSumExp.apply(t, dim=d))


def _running_extreme(x, dim, mode):
    """``(values, indices)`` of the running max/min; an index is that of the latest element
    equal to the running extreme (ties move it forward, as PyTorch; NaN sticks)."""
    def run(t, d):
        xp = backend.xp_of(t.data)
        a = t.data
        running = accumulate("maximum" if mode == "max" else "minimum", a, d)
        shape = [1] * a.ndim
        shape[d] = a.shape[d]
        positions = xp.arange(a.shape[d]).reshape(shape)
        reached = (a == running) | (xp.isnan(a) if a.dtype.kind == "f" else False)
        idx = accumulate("maximum", xp.where(reached, positions, 0), d)
        return values_indices(gather(t, d, Tensor.constant(idx)), Tensor.constant(idx))
    return _one_dim("cum" + mode, x, dim, run)


def cummax(x, dim):
    """``(values, indices)``: the running maximum along ``dim`` and where it was found; the
    gradient goes to those positions (adding up where one is repeated)."""
    return _running_extreme(x, dim, "max")


def cummin(x, dim):
    """``(values, indices)``: the running minimum along ``dim`` (see ``cummax``)."""
    return _running_extreme(x, dim, "min")


def diff(x, n=1, dim=-1, prepend=None, append=None):
    """The ``n``-th forward difference along ``dim`` (out[i] = x[i + 1] − x[i], n times),
    after concatenating ``prepend`` and ``append``."""
    if x.ndim == 0:
        raise RuntimeError("diff: expected a tensor with at least 1 dim, got a 0-d tensor")
    if n < 0:
        raise RuntimeError(f"diff: order must be non-negative, got {n}")
    d = _dim(dim, x.ndim, "diff")
    parts = [p for p in (prepend, x, append) if p is not None]
    if len(parts) > 1:
        x = cat(parts, dim=d)
    before = (slice(None),) * d
    for _ in range(n):
        x = sub(getitem(x, before + (slice(1, None),)), getitem(x, before + (slice(None, -1),)))
    return x
