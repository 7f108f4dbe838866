"""The argument helpers the families share: Python scalars as tensors of the dtype PyTorch
would use (``_scalar``, ``as_tensor_like``), two operands promoted PyTorch's way (``_pair``),
dims and sizes normalised and checked (``_dim``, ``_sizes``), index arguments as arrays on
the indexed tensor's device (``_index_arrays``, ``_int_index``), the floating point rules
(``_as_float``, ``_floating``), and the ``(values, indices)`` result of max, sort, median ...
"""
from __future__ import annotations

import builtins
from collections import namedtuple

import numpy as np

from .. import backend
from ..tensor import Tensor
from .conversion import to_copy

values_indices = namedtuple("values_indices", ["values", "indices"])


def _scalar(value, like: Tensor) -> Tensor:
    """A constant tensor for a Python scalar, in the dtype PyTorch would use with ``like``:
    the tensor's dtype, except float with an integer tensor (→ default float) and an int with
    a bool tensor (→ int64)."""
    dt = like.data.dtype
    if isinstance(value, (float, np.floating)):
        if dt.kind not in "fc":
            dt = backend.default_float
    elif dt.kind == "b" and not isinstance(value, (bool, np.bool_)):
        dt = backend.int64
    return Tensor.constant(backend.xp_of(like.data).asarray(value, dtype=dt))


def as_tensor_like(value, like: Tensor) -> Tensor:
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (int, float, bool, np.number, np.bool_)):
        return _scalar(value, like)
    return Tensor(value)


def _pair(a, b):
    """Two operands as Tensors. Python scalars take the tensor's dtype; when exactly one
    operand is floating point the other is cast to its dtype (PyTorch's rule: int64 with
    float32 gives float32, where NumPy would give float64)."""
    if not isinstance(a, Tensor):
        a = as_tensor_like(a, b)
    if not isinstance(b, Tensor):
        b = as_tensor_like(b, a)
    da, db = a.data.dtype, b.data.dtype
    if da is not db and (da.kind == "f") != (db.kind == "f"):
        if da.kind == "f":
            b = to_copy(b, dtype=da)
        else:
            a = to_copy(a, dtype=db)
    return a, b


def _dim(dim, ndim, op):
    """Normalise one dim (negative allowed) or check a tuple of dims."""
    if dim is None:
        return None
    if isinstance(dim, (tuple, list)):
        return tuple(sorted(_dim(d, ndim, op) for d in dim))
    d = int(dim)
    n = builtins.max(ndim, 1)
    if not -n <= d < n:
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor with {ndim} "
                         f"dimension{'s' if ndim != 1 else ''} (expected {-n}..{n - 1})")
    return d % n if ndim else None


def _sizes(args):
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(int(s) for s in args[0])
    return tuple(int(s) for s in args)


def _index_arrays(index, like=None):
    """Replace Tensors (and lists) in an index expression by arrays, on the device of the
    array ``like`` when given."""
    if isinstance(index, Tensor):
        index = index.data
    elif isinstance(index, tuple):
        index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
    elif isinstance(index, list):
        index = np.asarray(index)
    if like is not None and backend.xp_of(like) is not np:
        def move(i):
            return backend.to_device(i, "cuda") if isinstance(i, np.ndarray) else i
        index = tuple(map(move, index)) if isinstance(index, tuple) else move(index)
    return index


def _int_index(index, x):
    """An index argument (Tensor, array or list) as an array on ``x``'s device."""
    idx = index.data if isinstance(index, Tensor) else index
    if backend.device_of(idx) == "cpu":
        idx = np.asarray(idx)
    return backend.to_device(idx, backend.device_of(x.data))


def _as_float(x):
    """``x``, or an integer/bool ``x`` in the default float dtype (PyTorch's rule for sin,
    erf, log2, ...)."""
    return x if x.data.dtype.kind in "fc" else x.to(backend.default_float)


def _floating(x, op):
    if x.data.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating point tensor, got dtype {x.dtype}")
