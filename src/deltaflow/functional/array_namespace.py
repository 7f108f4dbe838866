"""NumPy's names over Tensors: the ``xp`` an op's backward sees under ``create_graph``.

An op's ``backward`` is written once, on arrays, through ``xp = backend.xp_of(g)``. For a
double backward (``create_graph=True``) the engine runs the same code with Tensors
(``Function.backward_graph``): ``xp_of`` of a Tensor is this module, so ``xp.where(m, g, 0)``
or ``xp.exp(x)`` call deltaflow's differentiable functions and the gradient is recorded in a
graph of its own. NumPy's argument names are kept (``axis``, ``keepdims``) so one line of
backward serves both.

Creation functions (``zeros``, ``arange``, ...) and predicates (``isfinite``) give constant
arrays, as in NumPy: constants of the second backward. A NumPy function missing here raises
``AttributeError`` naming it, never a silent conversion of a Tensor to a constant array.
"""
from __future__ import annotations

import numpy as _np

from ..tensor import Tensor
from . import activations as _act
from . import arithmetic as _ar
from . import indexing as _ix
from . import linalg as _la
from . import math as _m
from . import padding as _pad
from . import reductions as _red
from . import scans as _sc
from . import shape as _sh
from . import slicing as _sl

# ----------------------------------------------------------------- constants (as NumPy)
errstate = _np.errstate
inf, pi, e, nan, newaxis = _np.inf, _np.pi, _np.e, _np.nan, _np.newaxis
float16, float32, float64, int32, int64, bool_ = (_np.float16, _np.float32, _np.float64,
                                                  _np.int32, _np.int64, _np.bool_)
zeros, ones, empty, full, arange, eye = _np.zeros, _np.ones, _np.empty, _np.full, _np.arange, \
    _np.eye


def _array(x):
    return x.data if isinstance(x, Tensor) else _np.asarray(x)


def zeros_like(x, dtype=None):
    """0 with ``x``'s shape: a constant."""
    return _np.zeros(x.shape, dtype or x.dtype)


def ones_like(x, dtype=None):
    """1 with ``x``'s shape: a constant."""
    return _np.ones(x.shape, dtype or x.dtype)


def full_like(x, value, dtype=None):
    """``value`` with ``x``'s shape: a constant."""
    return _np.full(x.shape, value, dtype or x.dtype)


def isfinite(x):
    return _np.isfinite(_array(x))


def isnan(x):
    return _np.isnan(_array(x))


def isinf(x):
    return _np.isinf(_array(x))


def asarray(x, dtype=None):
    """A Tensor stays itself (cast when ``dtype`` differs); anything else becomes an array."""
    if isinstance(x, Tensor):
        return x if dtype is None or x.dtype == _np.dtype(dtype) else x.to(_np.dtype(dtype))
    return _np.asarray(x, dtype)


def ascontiguousarray(x):
    return x if isinstance(x, Tensor) else _np.ascontiguousarray(x)


def astype(x, dtype):
    return x.to(_np.dtype(dtype)) if isinstance(x, Tensor) else _np.asarray(x).astype(dtype)


# ----------------------------------------------------------------- elementwise
def _tensor(x):
    """A Tensor argument stays; an array or a scalar becomes a constant Tensor."""
    if isinstance(x, Tensor):
        return x
    return Tensor.constant(_np.asarray(x))


def add(a, b):
    return a + b


def subtract(a, b):
    return a - b


def multiply(a, b):
    return a * b


def divide(a, b):
    return a / b


true_divide = divide


def negative(a):
    return -a


def reciprocal(a):
    return 1 / a


def square(a):
    return a * a


def power(a, b):
    return a ** b


def where(condition, a, b):
    """``a`` where ``condition`` holds, else ``b`` (either may be a scalar or an array)."""
    return _ar.where(_tensor(condition), _tensor(a), _tensor(b))


def maximum(a, b):
    return _ar.maximum(_tensor(a), _tensor(b))


def minimum(a, b):
    return _ar.minimum(_tensor(a), _tensor(b))


def clip(a, lo, hi):
    return _ar.clamp(a, lo, hi)


def abs(a):  # noqa: A001 - NumPy's name
    return _ar.abs(a)


absolute = abs


def sign(a):
    return _ar.sign(a)


def exp(a):
    return _m.exp(a)


def expm1(a):
    return _m.expm1(a)


def log(a):
    return _m.log(a)


def log1p(a):
    return _m.log1p(a)


def sqrt(a):
    return _m.sqrt(a)


def sin(a):
    return _m.sin(a)


def cos(a):
    return _m.cos(a)


def tanh(a):
    return _act.tanh(a)


def trunc(a):
    return _m.trunc(a)


def floor(a):
    return _m.floor(a)


def floor_divide(a, b):
    return _ar.floor_divide(_tensor(a), _tensor(b))


def exp2(a):
    return _m.exp2(a)


def sinh(a):
    return _m.sinh(a)


def cosh(a):
    return _m.cosh(a)


def tan(a):
    return _m.tan(a)


def arctan(a):
    return _m.atan(a)


def logaddexp(a, b):
    return _m.logaddexp(_tensor(a), _tensor(b))


def erf(a):
    return _m.erf(a)


def digamma(a):
    return _m.digamma(a)


def polygamma(n, a):
    return _m.polygamma(n, a)


# ----------------------------------------------------------------- reductions and scans
def _axis(axis):
    return None if axis is None else (tuple(axis) if isinstance(axis, (tuple, list)) else axis)


def sum(a, axis=None, keepdims=False, dtype=None):  # noqa: A001 - NumPy's name
    return _red.sum(_tensor(a), _axis(axis), keepdims, dtype)


def mean(a, axis=None, keepdims=False):
    return _red.mean(_tensor(a), _axis(axis), keepdims)


def prod(a, axis=None, keepdims=False):
    return _red.prod(_tensor(a), axis, keepdims)


def cumsum(a, axis):
    return _sc.cumsum(a, axis)


def cumprod(a, axis):
    return _sc.cumprod(a, axis)


def max(a, axis=None, keepdims=False):  # noqa: A001 - NumPy's name
    return _red.amax(a, axis, keepdims)


def min(a, axis=None, keepdims=False):  # noqa: A001 - NumPy's name
    return _red.amin(a, axis, keepdims)


# ----------------------------------------------------------------- shapes
def reshape(a, shape):
    return _sh.reshape(a, shape)


def expand_dims(a, axis):
    if isinstance(axis, int):
        return _sh.unsqueeze(a, axis)
    shape = list(a.shape)
    for k in sorted(x % (a.ndim + len(axis)) for x in axis):
        shape.insert(k, 1)
    return _sh.reshape(a, tuple(shape))


def broadcast_to(a, shape):
    return _sh.broadcast_to(_tensor(a), tuple(shape))


def moveaxis(a, source, destination):
    return _sh.movedim(_tensor(a), source, destination)


def swapaxes(a, axis1, axis2):
    return _sh.swapaxes(_tensor(a), axis1, axis2)


def transpose(a, axes=None):
    return _sh.permute(_tensor(a), tuple(reversed(range(a.ndim))) if axes is None else tuple(axes))


def concatenate(arrays, axis=0):
    return _sh.cat([_tensor(a) for a in arrays], axis)


def stack(arrays, axis=0):
    return _sh.stack([_tensor(a) for a in arrays], axis)


def flip(a, axis):
    return _sh.flip(a, (axis,) if isinstance(axis, int) else tuple(axis))


def split(a, indices, axis=0):
    """Pieces of ``a`` between the offsets ``indices`` along ``axis`` (NumPy's split)."""
    bounds = [0, *indices, a.shape[axis]]
    return [_sl.narrow(a, axis, lo, hi - lo) for lo, hi in zip(bounds, bounds[1:])]


def take(a, index, axis=None):
    """``a``'s slice ``index`` along ``axis`` (an int: that axis is removed)."""
    if isinstance(index, int):
        return _sl.select(a, axis, index)
    return _ix.index_select(a, axis, _tensor(_np.asarray(index)))


def roll(a, shift, axis=None):
    return _sh.roll(a, shift, axis)


def take_along_axis(a, indices, axis):
    return _ix.take_along_dim(a, _tensor(indices), axis)


def pad(a, pad_width, mode="constant", constant_values=0):
    """``np.pad``'s constant mode (``pad_width`` one (before, after) pair per axis); a
    negative width crops that side, as ``F.pad``'s does."""
    if mode != "constant":
        raise ValueError(f"array namespace: pad mode {mode!r}; only 'constant' is supported")
    widths = [w for before, after in reversed(tuple(pad_width)) for w in (before, after)]
    return _pad.pad(a, widths, value=constant_values)


# ----------------------------------------------------------------- products
def tril(a, k=0):
    return _la.tril(a, k)


def triu(a, k=0):
    return _la.triu(a, k)


def diagonal(a, offset=0, axis1=0, axis2=1):
    return _la.diagonal(a, offset, axis1, axis2)


def cross(a, b, axis=-1):
    return _la.cross(_tensor(a), _tensor(b), axis)


def matmul(a, b):
    return _la.matmul(_tensor(a), _tensor(b))


def einsum(subscripts, *operands, optimize=False):
    return _la.einsum(subscripts, *[_tensor(o) for o in operands])


def __getattr__(name):
    raise AttributeError(
        f"array namespace: no differentiable xp.{name}; an op whose backward calls it "
        "cannot run under create_graph=True until it gets one here, or overrides "
        "Function.backward_graph")
