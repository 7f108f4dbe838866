"""Reductions (ReduceSum, ReduceMean, ReduceMax, …, axes as an attribute before opset 18 —
13 for ReduceSum — and as an input after) and ArgMax/ArgMin."""
from __future__ import annotations

import numpy as np

from ... import functional as Fn
from .registry import importer
from .values import axis as norm_axis
from .values import constant, host, ints

#: name → (y over dims d, value over an empty set or None: ∞ of the dtype's sign)
_REDUCTIONS = {
    "ReduceSum": (lambda x, d: Fn.sum(x, dim=d), 0),
    "ReduceMean": (lambda x, d: Fn.mean(x, dim=d), np.nan),
    "ReduceMax": (lambda x, d: Fn.amax(x, dim=d), "lowest"),
    "ReduceMin": (lambda x, d: Fn.amin(x, dim=d), "highest"),
    "ReduceProd": (lambda x, d: _prod(x, d), 1),
    "ReduceL1": (lambda x, d: Fn.sum(Fn.abs(x), dim=d), 0),
    "ReduceL2": (lambda x, d: Fn.sqrt(Fn.sum(x * x, dim=d)), 0),
    "ReduceSumSquare": (lambda x, d: Fn.sum(x * x, dim=d), 0),
    "ReduceLogSum": (lambda x, d: Fn.log(Fn.sum(x, dim=d)), -np.inf),
    "ReduceLogSumExp": (lambda x, d: Fn.logsumexp(x, dim=d), -np.inf),
}


def _prod(x, dims):
    """The product over ``dims``: those moved last and flattened into one."""
    rest = [i for i in range(x.ndim) if i not in dims]
    flat = x.permute(*rest, *dims).reshape(*[x.shape[i] for i in rest], -1)
    return Fn.prod(flat, dim=-1)


def _extreme(dtype, highest):
    """±∞, or the dtype's largest / smallest value."""
    if dtype.kind == "f":
        return np.inf if highest else -np.inf
    if dtype.kind == "b":
        return highest
    return np.iinfo(dtype).max if highest else np.iinfo(dtype).min


def _reduce(name, x, axes, keepdims, noop_with_empty_axes):
    fn, empty = _REDUCTIONS[name]
    if not axes:
        if noop_with_empty_axes:
            return x
        axes = range(x.ndim)
    dims = tuple(sorted({norm_axis(a, x.ndim, name) for a in axes}))
    kept = tuple(1 if i in dims else s for i, s in enumerate(x.shape))
    if any(x.shape[d] == 0 for d in dims):       # over an empty set: the reduction's identity
        if isinstance(empty, str):
            empty = _extreme(x.dtype, highest=empty == "highest")
        y = constant(np.full(kept, empty, dtype=x.dtype), x)
    else:
        y = fn(x, dims).reshape(*kept) if dims else x
    return y if keepdims else y.reshape(*[s for i, s in enumerate(x.shape) if i not in dims])


def _register(name, axes_input_since):
    def with_attribute(x, *, axes=None, keepdims=1):
        return _reduce(name, x, axes, keepdims, 0)

    def with_input(x, axes=None, *, keepdims=1, noop_with_empty_axes=0):
        return _reduce(name, x, ints(axes), keepdims, noop_with_empty_axes)

    for fn, kind in ((with_attribute, "an attribute"), (with_input, "an optional input")):
        fn.__name__ = name
        fn.__doc__ = f"ONNX {name} over ``axes`` ({kind}; all by default)."
    importer(name, 1)(with_attribute)
    importer(name, axes_input_since)(with_input)


for _name in _REDUCTIONS:
    _register(_name, 13 if _name == "ReduceSum" else 18)


def _arg(fn, x, axis, keepdims, select_last_index):
    a = norm_axis(axis, x.ndim, "ArgMax")
    if select_last_index:
        y = (x.shape[a] - 1) - fn(Fn.flip(x, (a,)), dim=a, keepdim=bool(keepdims))
    else:
        y = fn(x, dim=a, keepdim=bool(keepdims))
    return y.to(np.int64) if y.dtype != np.int64 else y


@importer("ArgMax")
def argmax(x, *, axis=0, keepdims=1, select_last_index=0):
    """ONNX ArgMax: the index of the first (or last) maximum along ``axis``, int64."""
    return _arg(Fn.argmax, x, axis, keepdims, select_last_index)


@importer("ArgMin")
def argmin(x, *, axis=0, keepdims=1, select_last_index=0):
    """ONNX ArgMin: the index of the first (or last) minimum along ``axis``, int64."""
    return _arg(Fn.argmin, x, axis, keepdims, select_last_index)


@importer("CumSum", 11)
def cumsum(x, axis, *, exclusive=0, reverse=0):
    """ONNX CumSum: y_i = Σ_{j ≤ i} x_j along ``axis`` (``exclusive``: j < i; ``reverse``:
    from the end)."""
    a = norm_axis(int(host(axis).reshape(-1)[0]), x.ndim, "CumSum")
    if reverse:
        x = Fn.flip(x, (a,))
    y = Fn.cumsum(x, dim=a)
    if y.dtype != x.dtype:                       # integers keep their dtype (torch's: int64)
        y = y.to(x.dtype)
    if exclusive:
        y = y - x
    return Fn.flip(y, (a,)) if reverse else y
