"""Elementwise math: exponentials and logarithms (``exp exp2 expm1 log log1p log2 log10
logaddexp logaddexp2 xlogy``), roots (``sqrt rsqrt reciprocal hypot``), trigonometric and
hyperbolic functions (``sin ... atanh``, ``atan2``, ``sinc``, ``deg2rad rad2deg``), rounding
(``floor ceil trunc round frac``, ``heaviside``) and special functions (``erf erfc erfinv
lgamma digamma logit``). Integer and bool inputs of the transcendental functions become the
default float (``_as_float``), as in PyTorch.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..ops import elementwise as E
from ..ops import parity as PO
from ..ops import trig as T
from ..tensor import Tensor
from ._common import _as_float, _pair
from .arithmetic import div, mul, pow, where
from .conversion import clone


# ---------------------------------------------------------- exponentials and logarithms
def exp(x):
    return E.Exp.apply(x)


def exp2(x):
    """2ˣ."""
    return pow(2.0, _as_float(x))


def expm1(x):
    return E.Expm1.apply(_as_float(x))


def log(x):
    return E.Log.apply(x)


def log1p(x):
    return E.Log1p.apply(x)


def log2(x):
    return E.Log2.apply(_as_float(x))


def log10(x):
    return E.Log10.apply(_as_float(x))


def logaddexp(a, b):
    """ln(eᵃ + eᵇ)."""
    a, b = _pair(a, b)
    return PO.LogAddExp.apply(a, b)


def logaddexp2(a, b):
    """log₂(2ᵃ + 2ᵇ)."""
    a, b = _pair(a, b)
    return PO.LogAddExp.apply(a, b, base2=True)


def xlogy(x, y):
    """x · ln y, 0 where x = 0 (unless y is NaN)."""
    x, y = _pair(x, y)
    zero_times_log = Tensor.constant((x.data == 0) & (y.data <= 0))
    return mul(x, log(where(zero_times_log, 1.0, y)))


# -------------------------------------------------------------------------------- roots
def sqrt(x):
    return E.Sqrt.apply(x)


def rsqrt(x):
    return E.Rsqrt.apply(x)


def reciprocal(x):
    return E.Reciprocal.apply(_as_float(x))


def hypot(a, b):
    """√(a² + b²)."""
    a, b = _pair(a, b)
    return PO.Hypot.apply(a, b)


# --------------------------------------------------------- trigonometric and hyperbolic
def sin(x):
    return T.Sin.apply(_as_float(x))


def cos(x):
    return T.Cos.apply(_as_float(x))


def tan(x):
    return T.Tan.apply(_as_float(x))


def asin(x):
    return T.Asin.apply(_as_float(x))


def acos(x):
    return T.Acos.apply(_as_float(x))


def atan(x):
    return T.Atan.apply(_as_float(x))


def sinh(x):
    return T.Sinh.apply(_as_float(x))


def cosh(x):
    return T.Cosh.apply(_as_float(x))


def asinh(x):
    return T.Asinh.apply(_as_float(x))


def acosh(x):
    return T.Acosh.apply(_as_float(x))


def atanh(x):
    return T.Atanh.apply(_as_float(x))


arcsin, arccos, arctan, arcsinh, arccosh, arctanh = asin, acos, atan, asinh, acosh, atanh


def atan2(input, other):  # noqa: A002 - PyTorch's names
    """The angle of the point (other, input): atan(input/other) in the right quadrant."""
    y, x = _pair(input, other)
    return T.Atan2.apply(_as_float(y), _as_float(x))


arctan2 = atan2


def sinc(x):
    """sin(πx) / (πx), 1 at x = 0."""
    x = _as_float(x)
    at_zero = Tensor.constant(x.data == 0)
    scaled = mul(where(at_zero, 1.0, x), float(np.pi))
    return where(at_zero, 1.0, div(sin(scaled), scaled))


def deg2rad(x):
    return mul(_as_float(x), float(np.pi / 180))


def rad2deg(x):
    return mul(_as_float(x), float(180 / np.pi))


# ----------------------------------------------------------------------------- rounding
def _rounded(op, x, **options):
    """``op`` on a floating ``x``; an integer or bool ``x`` is already whole (a copy, as in
    PyTorch)."""
    return clone(x) if x.data.dtype.kind in "biu" else op.apply(x, **options)


def floor(x):
    return _rounded(E.Floor, x)


def ceil(x):
    return _rounded(E.Ceil, x)


def trunc(x):
    return _rounded(E.Trunc, x)


fix = trunc


def round(x, *, decimals=0):  # noqa: A001 - mirrors torch.round
    """x rounded to ``decimals`` decimal places (negative: to tens, hundreds ...), halves
    to even; gradient 0."""
    return _rounded(E.Round, x, decimals=int(decimals))


def frac(x):
    """x − trunc(x) (the sign of x); gradient 1."""
    if x.data.dtype.kind not in "fc":
        raise TypeError(f"frac: expected a floating point tensor, got dtype {x.dtype}")
    return E.Frac.apply(x)


def heaviside(x, values):
    """0 where x < 0, ``values`` where x = 0, 1 where x > 0 (not differentiable)."""
    x, values = _pair(x, values)
    xp = backend.xp_of(x.data)
    out = xp.where(x.data == 0, values.data, (x.data > 0).astype(x.data.dtype))
    return Tensor.constant(out.astype(xp.result_type(x.data, values.data)))


# -------------------------------------------------------------------- special functions
def erf(x):
    return E.Erf.apply(_as_float(x))


def erfc(x):
    """1 − erf x, accurate for large x."""
    return PO.Erfc.apply(_as_float(x))


def erfinv(x):
    return E.Erfinv.apply(_as_float(x))


def lgamma(x):
    """ln |Γ(x)|."""
    return E.Lgamma.apply(_as_float(x))


def digamma(x):
    """ψ(x) = d/dx ln Γ(x)."""
    return E.Digamma.apply(_as_float(x))


def polygamma(n, x):
    """ψ⁽ⁿ⁾(x), the n-th derivative of the digamma function (ψ⁽⁰⁾ = digamma)."""
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"polygamma: n must be a non-negative integer, got {n!r}")
    return digamma(x) if n == 0 else E.Polygamma.apply(_as_float(x), n=n)


def logit(x, eps=None):
    """ln(x / (1 − x)), ``x`` clamped to [eps, 1 − eps] first when ``eps`` is given."""
    return PO.Logit.apply(_as_float(x), eps=eps)
