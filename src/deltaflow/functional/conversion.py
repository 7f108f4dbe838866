"""Conversion, and questions about a tensor: ``to_copy`` (another dtype and/or device,
differentiable), ``clone``, the default float dtype (``set_default_dtype``,
``get_default_dtype``), ``numel``, ``is_floating_point``, ``is_nonzero``.
"""
from __future__ import annotations

import builtins

from .. import backend
from ..ops import elementwise as E


def to_copy(x, dtype=None, device=None, copy=False):
    """``x`` in another dtype and/or on another device (differentiable)."""
    if (dtype is None or x.data.dtype == dtype) and (device is None or x.device == device) \
            and not copy:
        return x
    out = E.Cast.apply(x, dtype=dtype, device=device, copy=copy)
    if out.data.dtype.kind not in "fc" and out.requires_grad:
        out.requires_grad = False
        out._ctx = None
    return out


def clone(x):
    return to_copy(x, copy=True)


def set_default_dtype(dtype):
    """The dtype of Python floats and of float tensors made without ``dtype=`` (float32 at
    start; float64 is the other useful choice)."""
    d = backend.as_dtype(dtype)
    if d.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating point dtype, got {d}")
    backend.default_float = d


def get_default_dtype():
    return backend.default_float


def numel(x):
    return x.numel()


def is_floating_point(x):
    return x.is_floating_point()


def is_nonzero(x):
    """``bool(x)`` of a one-element tensor."""
    if x.numel() != 1:
        what = "no values" if x.numel() == 0 else "more than one value"
        raise RuntimeError(f"is_nonzero: Boolean value of Tensor with {what} is ambiguous")
    return builtins.bool(x.item() != 0)
