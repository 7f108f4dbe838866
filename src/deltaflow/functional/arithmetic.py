"""Arithmetic: ``add sub mul div pow square neg abs sign``, ``clamp``, ``maximum minimum
where``, remainders (``fmod remainder floor_divide``), ``copysign``, ``nan_to_num`` and the
fused ``lerp addcmul addcdiv``; with PyTorch's aliases (``multiply``, ``absolute`` ...).
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..ops import elementwise as E
from ..ops import parity as PO
from ..tensor import Tensor
from ._common import _as_float, _pair, as_tensor_like
from .conversion import clone


def add(a, b, alpha=1):
    """a + α·b."""
    a, b = _pair(a, b)
    if alpha != 1:
        b = mul(b, alpha)
    return E.Add.apply(a, b)


def sub(a, b, alpha=1):
    """a − α·b."""
    a, b = _pair(a, b)
    if alpha != 1:
        b = mul(b, alpha)
    return E.Sub.apply(a, b)


def mul(a, b):
    a, b = _pair(a, b)
    return E.Mul.apply(a, b)


def div(a, b):
    """a / b (true division: integer operands give the default float dtype)."""
    a, b = _pair(a, b)
    if a.data.dtype.kind != "f" and b.data.dtype.kind != "f":
        a, b = a.to(backend.default_float), b.to(backend.default_float)
    return E.Div.apply(a, b)


true_divide = divide = div


multiply, subtract = mul, sub


def neg(a):
    return E.Neg.apply(a)


negative = neg


def positive(x):
    return x


def pow(a, exponent):  # noqa: A001 - mirrors torch.pow
    if isinstance(a, Tensor) and isinstance(exponent, (int, float)) and not isinstance(
            exponent, bool):
        return E.PowScalar.apply(a, p=exponent)
    a, exponent = _pair(a, exponent)
    return E.Pow.apply(a, exponent)


def square(x):
    """x²."""
    return pow(x, 2)


def abs(x):  # noqa: A001
    return E.Abs.apply(x)


def sign(x):
    return E.Sign.apply(x)


absolute, sgn = abs, sign


def copysign(a, b):
    """|a| with the sign of ``b`` (−0.0 counts as negative); differentiable in ``a``."""
    a, b = _pair(_as_float(a), b)
    return PO.Copysign.apply(a, b)


def clamp(x, min=None, max=None):  # noqa: A002
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    min = min.item() if isinstance(min, Tensor) else min
    max = max.item() if isinstance(max, Tensor) else max
    return E.Clamp.apply(x, min=min, max=max)


clip = clamp


def clamp_min(x, min):  # noqa: A002
    return clamp(x, min=min)


def clamp_max(x, max):  # noqa: A002
    return clamp(x, max=max)


def maximum(a, b):
    a, b = _pair(a, b)
    return E.Maximum.apply(a, b)


def minimum(a, b):
    a, b = _pair(a, b)
    return E.Minimum.apply(a, b)


def where(condition, a, b):
    """Elementwise ``a`` where ``condition`` else ``b``."""
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        a = Tensor(a)
    a, b = _pair(a, b)
    cond = condition if isinstance(condition, Tensor) else Tensor(np.asarray(condition))
    if cond.data.dtype != np.bool_:
        cond = Tensor.constant(cond.data.astype(bool))
    return E.Where.apply(cond, a, b)


def fmod(a, b):
    """a − b·trunc(a/b): the remainder with the sign of ``a`` (C's fmod)."""
    a, b = _pair(a, b)
    return PO.Fmod.apply(a, b)


def remainder(a, b):
    """a − b·floor(a/b): the remainder with the sign of ``b`` (Python's %)."""
    a, b = _pair(a, b)
    return PO.Remainder.apply(a, b)


def floor_divide(a, b):
    """floor(a/b) (not differentiable, as in PyTorch)."""
    a, b = _pair(a, b)
    return Tensor.constant(backend.xp_of(a.data).floor_divide(a.data, b.data))


def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    """NaN → ``nan``, +∞ → ``posinf``, −∞ → ``neginf`` (the dtype's largest/lowest finite
    values by default); the gradient flows to the finite elements."""
    if x.data.dtype.kind != "f":
        return clone(x)
    info = np.finfo(x.data.dtype)
    xp = backend.xp_of(x.data)
    out = where(Tensor.constant(xp.isnan(x.data)), nan, x)
    out = where(Tensor.constant(xp.isposinf(x.data)), info.max if posinf is None else posinf, out)
    return where(Tensor.constant(xp.isneginf(x.data)), info.min if neginf is None else neginf, out)


def lerp(input, end, weight):  # noqa: A002
    """input + weight·(end − input); ``weight`` a number or a tensor (broadcast)."""
    if not isinstance(weight, Tensor):
        weight = as_tensor_like(weight, input)
    return E.Lerp.apply(input, end, weight)


def addcmul(input, tensor1, tensor2, *, value=1):  # noqa: A002
    """input + value·tensor1·tensor2."""
    return add(input, mul(tensor1, tensor2), alpha=value)


def addcdiv(input, tensor1, tensor2, *, value=1):  # noqa: A002
    """input + value·tensor1/tensor2."""
    if tensor1.data.dtype.kind in "biu" and tensor2.data.dtype.kind in "biu":
        raise RuntimeError("addcdiv: integer division is not supported; give tensor1 or "
                           f"tensor2 a floating dtype (got {tensor1.dtype} and {tensor2.dtype})")
    return add(input, div(tensor1, tensor2), alpha=value)
