"""Comparisons, logical and bitwise ops, and tests of values: ``eq ne lt le gt ge`` (and the
long names ``greater`` ...), ``logical_not logical_and logical_or logical_xor``,
``bitwise_and bitwise_or bitwise_xor bitwise_not``, ``isnan isinf isfinite isposinf
isneginf signbit isclose isin``, ``all any``, and ``allclose equal`` (Python bools). None
of them is differentiable.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..tensor import Tensor
from ._common import _dim, _pair, as_tensor_like


def _compare(ufunc_name):
    def compare(a, b):
        a, b = _pair(a, b)
        xp = backend.xp_of(a.data)
        try:
            out = getattr(xp, ufunc_name)(a.data, b.data)
        except ValueError:
            raise ValueError(f"{ufunc_name}: shapes {tuple(a.shape)} and {tuple(b.shape)} "
                             "cannot be broadcast together") from None
        return Tensor.constant(out)
    compare.__name__ = ufunc_name
    compare.__doc__ = f"Elementwise ``{ufunc_name}`` (a bool tensor, not differentiable)."
    return compare


eq, ne, lt, le, gt, ge = (_compare(n) for n in
                          ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal"))


greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne


def logical_not(x):
    return Tensor.constant(backend.xp_of(x.data).logical_not(x.data))


def logical_and(a, b):
    """Elementwise ``a ≠ 0 and b ≠ 0`` (a bool tensor, for any dtypes; ``&`` is bitwise)."""
    a, b = _pair(a, b)
    return Tensor.constant(backend.xp_of(a.data).logical_and(a.data, b.data))


def logical_or(a, b):
    """Elementwise ``a ≠ 0 or b ≠ 0`` (a bool tensor, for any dtypes; ``|`` is bitwise)."""
    a, b = _pair(a, b)
    return Tensor.constant(backend.xp_of(a.data).logical_or(a.data, b.data))


def logical_xor(a, b):
    a, b = _pair(a, b)
    return Tensor.constant(backend.xp_of(a.data).logical_xor(a.data, b.data))


def _bitwise(name, a, b):
    a, b = _pair(a, b)
    if a.data.dtype.kind not in "biu" or b.data.dtype.kind not in "biu":
        raise TypeError(f"{name}: needs integer or bool tensors, got {a.dtype} and {b.dtype}")
    return Tensor.constant(getattr(backend.xp_of(a.data), name)(a.data, b.data))


def bitwise_and(a, b):
    """Elementwise ``a & b`` of integer or bool tensors (bitwise; logical for bool)."""
    return _bitwise("bitwise_and", a, b)


def bitwise_or(a, b):
    """Elementwise ``a | b`` of integer or bool tensors."""
    return _bitwise("bitwise_or", a, b)


def bitwise_xor(a, b):
    """Elementwise ``a ^ b`` of integer or bool tensors."""
    return _bitwise("bitwise_xor", a, b)


def bitwise_not(x):
    """Elementwise ``~x`` of an integer or bool tensor."""
    if x.data.dtype.kind not in "biu":
        raise TypeError(f"bitwise_not: needs an integer or bool tensor, got {x.dtype}")
    return Tensor.constant(backend.xp_of(x.data).invert(x.data))


def isnan(x):
    return Tensor.constant(backend.xp_of(x.data).isnan(x.data))


def isinf(x):
    return Tensor.constant(backend.xp_of(x.data).isinf(x.data))


def isfinite(x):
    return Tensor.constant(backend.xp_of(x.data).isfinite(x.data))


def isposinf(x):
    return Tensor.constant(backend.xp_of(x.data).isposinf(x.data))


def isneginf(x):
    return Tensor.constant(backend.xp_of(x.data).isneginf(x.data))


def signbit(x):
    return Tensor.constant(backend.xp_of(x.data).signbit(x.data))


def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """|a − b| ≤ atol + rtol·|b| elementwise (equal infinities too; NaN equals NaN only with
    ``equal_nan``), a bool tensor."""
    a, b = _pair(a, b)
    try:
        out = backend.xp_of(a.data).isclose(a.data, b.data, rtol=rtol, atol=atol,
                                            equal_nan=equal_nan)
    except ValueError:
        raise RuntimeError(f"isclose: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be "
                           "broadcast together") from None
    return Tensor.constant(out)


def isin(elements, test_elements, *, assume_unique=False, invert=False):
    """Whether each element of ``elements`` is among ``test_elements`` (bool tensor)."""
    if not isinstance(elements, Tensor):
        elements = as_tensor_like(elements, test_elements)
    tested = test_elements.data if isinstance(test_elements, Tensor) else test_elements
    xp = backend.xp_of(elements.data)
    return Tensor.constant(xp.isin(elements.data, xp.asarray(tested),
                                   assume_unique=assume_unique, invert=invert))


def all(x, dim=None, keepdim=False):  # noqa: A001 - mirrors torch.all
    """True where every element (along ``dim``) is non-zero; a bool tensor."""
    d = _dim(dim, x.ndim, "all")
    out = backend.xp_of(x.data).asarray(x.data.all(axis=d, keepdims=keepdim))
    return Tensor.constant(out)


def any(x, dim=None, keepdim=False):  # noqa: A001 - mirrors torch.any
    """True where some element (along ``dim``) is non-zero; a bool tensor."""
    d = _dim(dim, x.ndim, "any")
    out = backend.xp_of(x.data).asarray(x.data.any(axis=d, keepdims=keepdim))
    return Tensor.constant(out)


def allclose(a, b, rtol=1e-5, atol=1e-8, equal_nan=False):
    return bool(np.allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol,
                            equal_nan=equal_nan))


def equal(a, b):
    return a.shape == b.shape and bool((a.data == b.data).all())
