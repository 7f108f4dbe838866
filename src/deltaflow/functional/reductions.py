"""Reductions over all elements or along ``dim``: ``sum mean prod``, ``max min amax amin aminmax
argmax argmin``, ``var std var_mean std_mean``, ``logsumexp norm dist``, the NaN-ignoring
``nansum nanmean``, and counts (``count_nonzero bincount histc``).
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from .. import backend
from ..ops import reduce as R
from ..tensor import Tensor
from ._common import _dim, _floating, _pair, values_indices
from .arithmetic import div, maximum, minimum, sub, where
from .comparison import isnan, logical_not


def sum(x, dim=None, keepdim=False, dtype=None):  # noqa: A001
    if dtype is not None:
        x = x.to(dtype)
    elif x.data.dtype.kind in "biu":
        x = x.to(backend.int64)
    return R.Sum.apply(x, dim=_dim(dim, x.ndim, "sum"), keepdim=keepdim)


def mean(x, dim=None, keepdim=False, dtype=None):
    if dtype is not None:
        x = x.to(dtype)
    if x.data.dtype.kind not in "fc":
        raise TypeError(f"mean: expected a floating point tensor, got dtype {x.dtype} "
                        "(convert with .float())")
    return R.Mean.apply(x, dim=_dim(dim, x.ndim, "mean"), keepdim=keepdim)


def prod(x, dim=None, keepdim=False):
    d = _dim(dim, x.ndim, "prod")
    if isinstance(d, tuple):
        raise TypeError("prod: dim must be a single int or None")
    return R.Prod.apply(x, dim=d, keepdim=keepdim)


def _max_min(x, dim, keepdim, other, mode):
    if isinstance(other, Tensor) or (dim is not None and not isinstance(dim, (int, np.integer))
                                     and not isinstance(dim, (tuple, list))):
        return (maximum if mode == "max" else minimum)(x, dim if other is None else other)
    if dim is None:
        if x.data.size == 0:
            raise RuntimeError(f"{mode}: cannot reduce an empty tensor")
        return R.Amax.apply(x, dim=None, keepdim=False, mode=mode)
    d = _dim(dim, x.ndim, mode)
    if isinstance(d, tuple):
        raise TypeError(f"{mode}: dim must be an int; use amax/amin for several dims")
    if d is None:  # a 0-d tensor: its only element, at index 0
        zero = backend.xp_of(x.data).zeros((), np.int64)
        return values_indices(R.Amax.apply(x, dim=None, keepdim=False, mode=mode),
                              Tensor.constant(zero))
    idx = _arg(x, d, False, mode)
    values = R.MaxDim.apply(x, dim=d, keepdim=keepdim, index=idx)
    xp = backend.xp_of(idx)
    idx = xp.expand_dims(idx, d) if keepdim else idx
    return values_indices(values, Tensor.constant(idx.astype(np.int64, copy=False)))


def _arg(x, dim, keepdim, mode):
    xp = backend.xp_of(x.data)
    idx = x.data.argmax(axis=dim) if mode == "max" else x.data.argmin(axis=dim)
    return xp.expand_dims(idx, dim) if keepdim and dim is not None else idx


def max(x, dim=None, keepdim=False, other=None):  # noqa: A001
    """``max(x)``: largest element; ``max(x, dim)``: ``(values, indices)``; ``max(a, b)``:
    elementwise maximum."""
    return _max_min(x, dim, keepdim, other, "max")


def min(x, dim=None, keepdim=False, other=None):  # noqa: A001
    return _max_min(x, dim, keepdim, other, "min")


def amax(x, dim=None, keepdim=False):
    return R.Amax.apply(x, dim=_dim(dim, x.ndim, "amax"), keepdim=keepdim, mode="max")


def amin(x, dim=None, keepdim=False):
    return R.Amax.apply(x, dim=_dim(dim, x.ndim, "amin"), keepdim=keepdim, mode="min")


aminmax_result = namedtuple("aminmax", ["min", "max"])


def aminmax(x, *, dim=None, keepdim=False):
    """``(min, max)`` of all elements, or along ``dim``."""
    return aminmax_result(amin(x, dim, keepdim), amax(x, dim, keepdim))


def argmax(x, dim=None, keepdim=False):
    d = _dim(dim, x.ndim, "argmax")
    idx = x.data.reshape(-1).argmax() if d is None else _arg(x, d, keepdim, "max")
    return Tensor.constant(backend.xp_of(x.data).asarray(idx, dtype=np.int64))


def argmin(x, dim=None, keepdim=False):
    d = _dim(dim, x.ndim, "argmin")
    idx = x.data.reshape(-1).argmin() if d is None else _arg(x, d, keepdim, "min")
    return Tensor.constant(backend.xp_of(x.data).asarray(idx, dtype=np.int64))


def _correction(unbiased, correction):
    if correction is not None:
        return correction
    return 1 if unbiased in (None, True) else 0


def var(x, dim=None, unbiased=None, keepdim=False, correction=None):
    return R.Var.apply(x, dim=_dim(dim, x.ndim, "var"),
                       correction=_correction(unbiased, correction), keepdim=keepdim)


def std(x, dim=None, unbiased=None, keepdim=False, correction=None):
    return R.Std.apply(x, dim=_dim(dim, x.ndim, "std"),
                       correction=_correction(unbiased, correction), keepdim=keepdim)


def var_mean(x, dim=None, unbiased=None, keepdim=False, correction=None):
    """``(var, mean)``."""
    return var(x, dim, unbiased, keepdim, correction), mean(x, dim, keepdim)


def std_mean(x, dim=None, unbiased=None, keepdim=False, correction=None):
    """``(std, mean)``."""
    return std(x, dim, unbiased, keepdim, correction), mean(x, dim, keepdim)


def logsumexp(x, dim=None, keepdim=False):
    return R.LogSumExp.apply(x, dim=_dim(dim, x.ndim, "logsumexp"), keepdim=keepdim)


def norm(x, p=2, dim=None, keepdim=False):
    """Vector p-norm (Frobenius for p=2 over all elements)."""
    if p == "fro":
        p = 2
    return R.Norm.apply(x, p=float(p), dim=_dim(dim, x.ndim, "norm"), keepdim=keepdim)


def dist(a, b, p=2):
    """‖a − b‖ₚ (broadcast)."""
    return norm(sub(*_pair(a, b)), p)


def nansum(x, dim=None, keepdim=False, dtype=None):
    """Σ x over ``dim`` with NaN counted as 0 (and getting gradient 0)."""
    if x.data.dtype.kind == "f":
        x = where(isnan(x), 0.0, x)
    return sum(x, dim, keepdim, dtype)


def nanmean(x, dim=None, keepdim=False, dtype=None):
    """The mean over ``dim`` of the elements that are not NaN."""
    if dtype is not None:
        x = x.to(dtype)
    _floating(x, "nanmean")
    return div(nansum(x, dim, keepdim), sum(logical_not(isnan(x)), dim, keepdim))


def count_nonzero(x, dim=None):
    """The number of non-zero elements (along ``dim``: an int or a tuple), as int64."""
    d = _dim(dim, x.ndim, "count_nonzero")
    out = (x.data != 0).sum(axis=d)
    return Tensor.constant(backend.xp_of(x.data).asarray(out, dtype=np.int64))


def bincount(x, weights=None, minlength=0):
    """Counts of each value 0..max of a 1-D non-negative integer tensor (int64), or the sums
    of ``weights`` per value (float32 weights stay float32, others give float64)."""
    if x.ndim != 1 or x.data.dtype.kind not in "iub":
        raise RuntimeError(f"bincount: expected a 1-D integer tensor, got shape "
                           f"{tuple(x.shape)} and dtype {x.dtype}")
    if x.numel() and x.data.min() < 0:
        raise RuntimeError("bincount: the input must not hold negative values")
    xp = backend.xp_of(x.data)
    if weights is None:
        out = xp.bincount(x.data, minlength=minlength).astype(np.int64)
    else:
        w = weights.data if isinstance(weights, Tensor) else xp.asarray(weights)
        if w.shape != x.shape:
            raise RuntimeError(f"bincount: weights of shape {tuple(w.shape)} must match the "
                               f"input's {tuple(x.shape)}")
        kind = w.dtype if w.dtype in (np.float32, np.float64) else np.float64
        out = xp.bincount(x.data, weights=w, minlength=minlength).astype(kind)
    return Tensor.constant(out)


def histc(x, bins=100, min=0, max=0):  # noqa: A002 - PyTorch's names
    """A histogram of ``bins`` equal bins over [min, max] (the data's range when both are
    equal; a value at max goes in the last bin, values outside are left out)."""
    _floating(x, "histc")
    if bins <= 0:
        raise RuntimeError(f"histc: bins must be positive, got {bins}")
    xp, a = backend.xp_of(x.data), x.data.reshape(-1)
    lo, hi = float(min), float(max)
    if lo == hi and a.size:
        lo, hi = float(a.min()), float(a.max())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if lo > hi:
        raise RuntimeError(f"histc: max {hi} must be larger than min {lo}")
    inside = a[(a >= lo) & (a <= hi)]
    pos = xp.minimum(((inside - lo) * bins / (hi - lo)).astype(np.int64), bins - 1)
    return Tensor.constant(xp.bincount(pos, minlength=bins).astype(x.dtype))
