"""User-facing functions (``dl.exp``, ``dl.cat``, ``x.sum(dim=1)`` ...).

This layer picks the op, normalises PyTorch-style arguments (``dim``, ``keepdim``, sizes
given as ``*args`` or a tuple) and checks them, so that a mistake is reported with the op's
name and the shapes involved instead of a NumPy traceback from deep inside. Tensor's methods
and operators (:mod:`deltaflow.tensor_methods`) call these functions.
"""
from __future__ import annotations

import builtins
from collections import namedtuple

import numpy as np

from . import backend
from .autograd import write_clock
from .autograd.grad_mode import state
from .autograd.inplace import before_write as inplace_before_write
from .autograd.inplace import write as inplace_write
from .ops import activation as A
from .ops import assign
from .ops import elementwise as E
from .ops import index as I
from .ops import linalg as L
from .ops import reduce as R
from .ops import shape as S
from .tensor import Tensor

values_indices = namedtuple("values_indices", ["values", "indices"])


# --------------------------------------------------------------------------- helpers
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
    idx = index.data if isinstance(index, Tensor) else np.asarray(index)
    return idx if backend.xp_of(x.data) is np else backend.to_device(idx, "cuda")


# ------------------------------------------------------------------------ arithmetic
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


def pow(a, exponent):  # noqa: A001 - mirrors torch.pow
    if isinstance(a, Tensor) and isinstance(exponent, (int, float)) and not isinstance(
            exponent, bool):
        return E.PowScalar.apply(a, p=exponent)
    a, exponent = _pair(a, exponent)
    return E.Pow.apply(a, exponent)


def exp(x):
    return E.Exp.apply(x)


def log(x):
    return E.Log.apply(x)


def log1p(x):
    return E.Log1p.apply(x)


def sqrt(x):
    return E.Sqrt.apply(x)


def rsqrt(x):
    return E.Rsqrt.apply(x)


def abs(x):  # noqa: A001
    return E.Abs.apply(x)


def sign(x):
    return E.Sign.apply(x)


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


def square(x):
    """x²."""
    return pow(x, 2)


def set_default_dtype(dtype):
    """The dtype of Python floats and of float tensors made without ``dtype=`` (float32 at
    start; float64 is the other useful choice)."""
    d = backend.as_dtype(dtype)
    if d.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating point dtype, got {d}")
    backend.default_float = d


def get_default_dtype():
    return backend.default_float


# ------------------------------------------------------------------------- comparison
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


def logical_not(x):
    return Tensor.constant(backend.xp_of(x.data).logical_not(x.data))


def logical_and(a, b):
    """Elementwise ``a ≠ 0 and b ≠ 0`` (a bool tensor, for any dtypes; ``&`` is bitwise)."""
    a, b = _pair(a, b)
    return Tensor.constant(backend.xp_of(a.data).logical_and(a.data, b.data))


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


def logical_or(a, b):
    """Elementwise ``a ≠ 0 or b ≠ 0`` (a bool tensor, for any dtypes; ``|`` is bitwise)."""
    a, b = _pair(a, b)
    return Tensor.constant(backend.xp_of(a.data).logical_or(a.data, b.data))


def isnan(x):
    return Tensor.constant(backend.xp_of(x.data).isnan(x.data))


def isinf(x):
    return Tensor.constant(backend.xp_of(x.data).isinf(x.data))


def isfinite(x):
    return Tensor.constant(backend.xp_of(x.data).isfinite(x.data))


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


# ------------------------------------------------------------------------- reductions
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


def logsumexp(x, dim=None, keepdim=False):
    return R.LogSumExp.apply(x, dim=_dim(dim, x.ndim, "logsumexp"), keepdim=keepdim)


def norm(x, p=2, dim=None, keepdim=False):
    """Vector p-norm (Frobenius for p=2 over all elements)."""
    if p == "fro":
        p = 2
    return R.Norm.apply(x, p=float(p), dim=_dim(dim, x.ndim, "norm"), keepdim=keepdim)


# ------------------------------------------------------------------------------ shape
def reshape(x, *shape):
    shape = _sizes(shape)
    known = int(np.prod([n for n in shape if n != -1]))
    n = x.data.size
    if shape.count(-1) > 1 or builtins.any(s < -1 for s in shape) or (
            n != known if -1 not in shape else (known == 0 or n % known)):
        raise RuntimeError(f"reshape: shape {shape} is invalid for a tensor of shape "
                           f"{tuple(x.shape)} ({n} elements)")
    return S.Reshape.apply(x, shape=shape)


view = reshape


def permute(x, *dims):
    dims = _sizes(dims)
    if sorted(d % builtins.max(x.ndim, 1) for d in dims) != list(range(x.ndim)):
        raise RuntimeError(f"permute: dims {dims} are not a permutation of the "
                           f"{x.ndim} dims of a tensor of shape {tuple(x.shape)}")
    return S.Permute.apply(x, dims=tuple(d % x.ndim for d in dims))


def transpose(x, dim0, dim1):
    d0, d1 = _dim(dim0, x.ndim, "transpose"), _dim(dim1, x.ndim, "transpose")
    dims = list(range(x.ndim))
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return S.Permute.apply(x, dims=tuple(dims))


swapaxes = swapdims = transpose


def t(x):
    if x.ndim > 2:
        raise RuntimeError(f"t: expects a tensor with <= 2 dimensions, got {x.ndim}")
    return x if x.ndim < 2 else transpose(x, 0, 1)


def squeeze(x, dim=None):
    if dim is None:
        shape = tuple(n for n in x.shape if n != 1)
    else:
        dims = _dim(dim if isinstance(dim, (tuple, list)) else (dim,), x.ndim, "squeeze")
        shape = tuple(n for i, n in enumerate(x.shape) if not (i in dims and n == 1))
    return x if shape == x.shape else S.Reshape.apply(x, shape=shape)


def unsqueeze(x, dim):
    d = _dim(dim, x.ndim + 1, "unsqueeze")
    shape = x.shape[:d] + (1,) + x.shape[d:]
    return S.Reshape.apply(x, shape=shape)


def flatten(x, start_dim=0, end_dim=-1):
    if x.ndim == 0:
        return reshape(x, 1)
    s, e = _dim(start_dim, x.ndim, "flatten"), _dim(end_dim, x.ndim, "flatten")
    shape = x.shape[:s] + (int(np.prod(x.shape[s:e + 1])),) + x.shape[e + 1:]
    return x if shape == x.shape else S.Reshape.apply(x, shape=shape)


def unflatten(x, dim, sizes):
    d = _dim(dim, x.ndim, "unflatten")
    return reshape(x, x.shape[:d] + tuple(sizes) + x.shape[d + 1:])


def expand(x, *sizes):
    sizes = _sizes(sizes)
    lead = len(sizes) - x.ndim
    if lead < 0:
        raise RuntimeError(f"expand: the number of sizes ({len(sizes)}) must be >= the "
                           f"number of dims of the tensor ({x.ndim})")
    if -1 in sizes[:lead]:
        raise RuntimeError(f"expand: -1 is not allowed for the new leading dims of {sizes}")
    shape = tuple(x.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))
    for i, n in enumerate(x.shape):
        if n != 1 and n != shape[i + lead]:
            raise RuntimeError(f"expand: cannot expand shape {tuple(x.shape)} to {shape} "
                               f"(dim {i}: {n} is not 1)")
    return x if shape == x.shape else S.Expand.apply(x, shape=shape)


def broadcast_to(x, shape):
    return expand(x, *shape)


def cat(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    ref = tensors[0]
    d = _dim(dim, ref.ndim, "cat")
    for k, t in enumerate(tensors[1:], 1):
        if t.ndim != ref.ndim or builtins.any(
                a != b for i, (a, b) in enumerate(zip(t.shape, ref.shape)) if i != d):
            raise ValueError(f"cat: tensor {k} has shape {tuple(t.shape)}, which does not "
                             f"match tensor 0's shape {tuple(ref.shape)} outside dim {d}")
    return S.Cat.apply(*tensors, dim=d)


concatenate = concat = cat


def stack(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    for k, t in enumerate(tensors[1:], 1):
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack: all tensors must have the same shape; tensor 0 has "
                             f"{tuple(tensors[0].shape)}, tensor {k} has {tuple(t.shape)}")
    return S.Stack.apply(*tensors, dim=_dim(dim, tensors[0].ndim + 1, "stack"))


def split(x, split_size_or_sections, dim=0):
    d = _dim(dim, x.ndim, "split")
    n = x.shape[d]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0:
            raise ValueError(f"split: split_size must be positive, got {step}")
        sections = [step] * (n // step) + ([n % step] if n % step else [])
    else:
        sections = list(split_size_or_sections)
        if builtins.sum(sections) != n:
            raise ValueError(f"split: sections {sections} do not add up to dim {d}'s size {n}")
    if len(sections) == 1:
        return (x,)
    return S.Split.apply(x, sections=sections, dim=d)


def chunk(x, chunks, dim=0):
    d = _dim(dim, x.ndim, "chunk")
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    size = builtins.max(-(-x.shape[d] // chunks), 1)
    return split(x, size, d)


def unbind(x, dim=0):
    d = _dim(dim, x.ndim, "unbind")
    return tuple(squeeze(p, d) for p in split(x, 1, d))


def pad(x, pad, mode="constant", value=None):
    """``F.pad`` with PyTorch's convention: ``pad = (last_lo, last_hi, prev_lo, prev_hi, ...)``.

    'constant' fills with ``value`` (0) and pads any trailing dims; 'reflect' (mirror without
    the edge; each pad < the dim's size), 'replicate' (repeat the edge) and 'circular' (wrap;
    each pad ≤ the size) pad the last 1, 2 or 3 dims of a batched or unbatched input
    ((C, L) or (N, C, L) for 2 entries, ...). A negative entry crops that side."""
    pad = tuple(int(p) for p in pad)
    shape = tuple(x.shape)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: padding {pad} must have an even length of at most "
                         f"2 × {x.ndim} entries for a tensor of shape {shape}")
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise ValueError(f"pad: unknown mode {mode!r} (expected 'constant', 'reflect', "
                         f"'replicate' or 'circular')")
    n = len(pad) // 2
    widths = [(0, 0)] * x.ndim
    for k in range(n):
        widths[x.ndim - 1 - k] = (pad[2 * k], pad[2 * k + 1])
    for axis, (lo, hi) in enumerate(widths):
        if shape[axis] + lo + hi < 0:
            raise ValueError(f"pad: padding ({lo}, {hi}) of dim {axis} of an input of shape "
                             f"{shape} leaves a negative size")
    cuts = [(builtins.min(lo, 0), builtins.min(hi, 0)) for lo, hi in widths]
    grow = tuple((builtins.max(lo, 0), builtins.max(hi, 0)) for lo, hi in widths)

    def crop(t):
        return getitem(t, tuple(slice(-lo, t.shape[a] + hi) for a, (lo, hi) in enumerate(cuts)))

    if mode != "constant":
        if value is not None:
            raise ValueError(f"pad: mode {mode!r} takes no value argument, got value={value}")
        if n not in (1, 2, 3) or x.ndim not in (n + 1, n + 2):
            raise NotImplementedError(f"pad: mode {mode!r} pads the last 1, 2 or 3 dims of a "
                                      f"(batched) input of 2 to 5 dims; padding {pad} has "
                                      f"{len(pad)} entries and the input is {x.ndim}-D "
                                      f"{shape}")
        for axis in range(x.ndim - n, x.ndim):
            # circular wraps the cropped input (PyTorch crops first), the others the input
            size = shape[axis] + (builtins.sum(cuts[axis]) if mode == "circular" else 0)
            if size == 0 or (mode == "reflect" and builtins.max(grow[axis]) >= size) or (
                    mode == "circular" and builtins.max(grow[axis]) > size):
                limit = {"reflect": "smaller than", "circular": "at most"}.get(mode)
                raise ValueError(f"pad: {mode} padding {widths[axis]} of dim {axis} of an input "
                                 f"of shape {shape} must be "
                                 + (f"{limit} its size" if limit else "of a non-empty dim"))
    cropping = builtins.any(builtins.any(c) for c in cuts)
    if cropping and mode == "circular":
        x = crop(x)
    out = S.Pad.apply(x, widths=grow, mode=mode, value=0.0 if value is None else value)
    return crop(out) if cropping and mode != "circular" else out


def flip(x, dims):
    dims = _dim(dims if isinstance(dims, (tuple, list)) else (dims,), x.ndim, "flip")
    return S.Flip.apply(x, dims=dims)


def roll(x, shifts, dims=None):
    if dims is None:
        return S.Roll.apply(x, shifts=int(shifts), dims=None)
    if isinstance(dims, (tuple, list)):
        return S.Roll.apply(x, shifts=tuple(shifts), dims=_dim(tuple(dims), x.ndim, "roll"))
    return S.Roll.apply(x, shifts=int(shifts), dims=_dim(dims, x.ndim, "roll"))


def repeat(x, *sizes):
    """``torch.Tensor.repeat``: tile the tensor ``sizes[i]`` times along dim i."""
    sizes = _sizes(sizes)
    if len(sizes) < x.ndim:
        raise RuntimeError(f"repeat: number of repeat dims ({len(sizes)}) can not be smaller "
                           f"than the number of tensor dims ({x.ndim})")
    return S.Tile.apply(x, reps=sizes)


def tile(x, dims):
    dims = tuple(dims)
    return repeat(x, *((1,) * (x.ndim - len(dims)) + dims))


def repeat_interleave(x, repeats, dim=None):
    if dim is None:
        x, dim = flatten(x), 0
    d = _dim(dim, x.ndim, "repeat_interleave")
    idx = np.repeat(np.arange(x.shape[d]), repeats)
    return index_select(x, d, Tensor(idx))


# -------------------------------------------------------------------------- indexing
def getitem(x, index):
    idx = _index_arrays(index, x.data)
    try:
        return I.GetItem.apply(x, index=idx)
    except IndexError as err:
        raise IndexError(f"index: {err} (tensor of shape {tuple(x.shape)})") from None


def index_put(x, indices, values):
    """``torch.index_put``: a copy of ``x`` with ``out[indices] = values`` (``indices`` a
    tuple of index tensors, or any index ``x[...]`` takes), differentiable in both."""
    index = _index_arrays(tuple(indices) if isinstance(indices, list) else indices, x.data)
    values = as_tensor_like(values, x)
    try:
        return assign.IndexPut.apply(x, values, index=index)
    except IndexError as err:
        raise IndexError(f"index_put: {err} (tensor of shape {tuple(x.shape)})") from None


def setitem(x, index, value):
    """``x[index] = value``. Where autograd is involved (``x`` or ``value`` requires grad,
    outside ``no_grad``) the write is recorded (``index_put``, see ``autograd/inplace.py``);
    otherwise it is a plain write into ``x.data``."""
    if state.grad_enabled and (x.requires_grad or (isinstance(value, Tensor)
                                                   and value.requires_grad)):
        inplace_write(x, "x[index] = value", lambda old: index_put(old, index, value))
        return
    value = value.data if isinstance(value, Tensor) else value
    inplace_before_write(x)
    x.data[_index_arrays(index, x.data)] = value
    write_clock.stamp(x)


def gather(x, dim, index):
    d = _dim(dim, x.ndim, "gather")
    idx = _int_index(index, x)
    if idx.ndim != x.ndim:
        raise RuntimeError(f"gather: index has {idx.ndim} dims but input has {x.ndim}")
    if idx.size and (idx.min() < -x.shape[d] or idx.max() >= x.shape[d]):
        raise IndexError(f"gather: index out of range for dim {d} of size {x.shape[d]}")
    return I.Gather.apply(x, index=idx % x.shape[d] if idx.size else idx, dim=d)


def scatter_add(x, dim, index, src):
    d = _dim(dim, x.ndim, "scatter_add")
    idx = _int_index(index, x)
    if idx.size and (idx.min() < 0 or idx.max() >= x.shape[d]):
        raise IndexError(f"scatter_add: index out of range for dim {d} of size {x.shape[d]}")
    return I.ScatterAdd.apply(x, src, index=idx, dim=d)


def index_select(x, dim, index):
    d = _dim(dim, x.ndim, "index_select")
    idx = _int_index(index, x)
    if idx.ndim != 1:
        raise IndexError(f"index_select: index must be 1-D, got shape {tuple(idx.shape)}")
    if idx.size and (idx.min() < -x.shape[d] or idx.max() >= x.shape[d]):
        raise IndexError(f"index_select: index out of range for dim {d} of size {x.shape[d]}")
    return I.IndexSelect.apply(x, index=idx, dim=d)


def masked_fill(x, mask, value):
    m = _int_index(mask, x)
    if m.dtype != np.bool_:
        raise TypeError(f"masked_fill: mask must be a bool tensor, got dtype {m.dtype}")
    value = value.item() if isinstance(value, Tensor) else value
    return I.MaskedFill.apply(x, mask=m, value=value)


def argsort(x, dim=-1, descending=False, stable=False):
    """Indices that sort ``x`` along ``dim`` (ties keep their order)."""
    if x.ndim == 0:
        return Tensor.constant(np.zeros((), np.int64))
    d = _dim(dim, x.ndim, "argsort")
    data = -x.data if descending and x.data.dtype.kind != "b" else x.data
    idx = backend.xp_of(data).argsort(data, axis=d, kind="stable")
    if descending and x.data.dtype.kind == "b":
        idx = backend.xp_of(data).flip(idx, axis=d)
    return Tensor.constant(idx.astype(np.int64, copy=False))


def sort(x, dim=-1, descending=False, stable=False):
    """``(values, indices)`` of ``x`` sorted along ``dim``; the values are a differentiable
    gather."""
    if x.ndim == 0:
        return values_indices(x, argsort(x))
    idx = argsort(x, dim, descending)
    return values_indices(gather(x, dim, idx), idx)


def topk(x, k, dim=-1, largest=True, sorted=True):  # noqa: A002 - PyTorch's name
    """``(values, indices)`` of the ``k`` largest (or smallest) elements along ``dim``."""
    d = _dim(dim, x.ndim, "topk")
    if not 0 <= k <= (x.shape[d] if x.ndim else 1):
        raise RuntimeError(f"topk: k={k} is out of range for dim {dim} of a tensor of shape "
                           f"{tuple(x.shape)}")
    if x.ndim == 0:
        return values_indices(x, argsort(x))
    idx = argsort(x, d, descending=largest).data[(slice(None),) * d + (slice(0, k),)]
    idx = Tensor.constant(idx)
    return values_indices(gather(x, d, idx), idx)


# ------------------------------------------------------------------------ activations
def relu(x):
    return A.ReLU.apply(x)


def leaky_relu(x, negative_slope=0.01):
    return A.LeakyReLU.apply(x, negative_slope=negative_slope)


def elu(x, alpha=1.0):
    return A.ELU.apply(x, alpha=alpha)


def selu(x):
    return A.ELU.apply(x, alpha=A.SELU_ALPHA, scale=A.SELU_SCALE)


def gelu(x, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return A.GELU.apply(x, approximate=approximate)


def silu(x):
    return A.SiLU.apply(x)


def mish(x):
    return A.Mish.apply(x)


def sigmoid(x):
    return A.Sigmoid.apply(x)


def tanh(x):
    return A.Tanh.apply(x)


def softplus(x, beta=1.0, threshold=20.0):
    return A.Softplus.apply(x, beta=beta, threshold=threshold)


def hardtanh(x, min_val=-1.0, max_val=1.0):
    return A.Hardtanh.apply(x, min_val=min_val, max_val=max_val)


def softmax(x, dim=-1):
    return A.Softmax.apply(x, dim=_dim(dim, x.ndim, "softmax"))


def log_softmax(x, dim=-1):
    return A.LogSoftmax.apply(x, dim=_dim(dim, x.ndim, "log_softmax"))


# ----------------------------------------------------------------------------- linalg
def matmul(a, b):
    """Matrix product with NumPy/PyTorch rules for 1-D and batched operands."""
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        a, b = _pair(a, b)
    sa, sb = a.data.shape, b.data.shape
    if not sa or not sb:
        raise RuntimeError(f"matmul: both arguments need at least 1 dimension, got shapes "
                           f"{tuple(sa)} and {tuple(sb)}")
    ka = sa[-1]
    kb = sb[0] if len(sb) == 1 else sb[-2]
    if ka != kb:
        raise ValueError(f"matmul: shapes {tuple(sa)} and {tuple(sb)} cannot be multiplied "
                         f"({ka} != {kb})")
    if len(sa) > 2 and len(sb) > 2:
        try:
            np.broadcast_shapes(sa[:-2], sb[:-2])
        except ValueError:
            raise ValueError(f"matmul: shapes {tuple(sa)} and {tuple(sb)} have batch dims "
                             f"{tuple(sa[:-2])} and {tuple(sb[:-2])} that cannot be "
                             "broadcast together") from None
    return L.MatMul.apply(a, b)


def mm(a, b):
    if a.ndim != 2 or b.ndim != 2:
        raise RuntimeError(f"mm: expected 2-D tensors, got shapes {tuple(a.shape)} and "
                           f"{tuple(b.shape)}")
    return matmul(a, b)


def bmm(a, b):
    if a.ndim != 3 or b.ndim != 3:
        raise RuntimeError(f"bmm: expected 3-D tensors, got shapes {tuple(a.shape)} and "
                           f"{tuple(b.shape)}")
    return matmul(a, b)


def outer(a, b):
    return matmul(unsqueeze(a, 1), unsqueeze(b, 0))


def dot(a, b):
    return matmul(a, b)


# ------------------------------------------------------------------ in-place methods
def inplace(x, name, fn, *args, **kwargs):
    """``x.add_(y)``, ``x += y`` ... (the method ``name``): write ``fn(x, *args, **kwargs)``
    into ``x``. Where autograd is involved (``x`` or a tensor argument requires grad, outside
    ``no_grad``) the write is recorded, as in PyTorch (``autograd/inplace.py``); otherwise
    (parameter updates, initialisation, buffers) it is a plain write into ``x.data``."""
    involved = state.grad_enabled and (x.requires_grad or builtins.any(
        isinstance(a, Tensor) and a.requires_grad for a in (*args, *kwargs.values())))
    return inplace_write(x, name, lambda old: fn(old, *args, **kwargs), record=involved)


def copy_(x, src):
    """x ← src (broadcast to x's shape, cast to its dtype and device); differentiable in
    ``src`` where autograd is involved."""
    if not isinstance(src, Tensor):
        src = Tensor(backend.to_device(backend.xp_of(src).asarray(src), x.device))
    if x.shape != src.shape:
        try:
            np.broadcast_shapes(src.shape, x.shape)
        except ValueError:
            raise RuntimeError(f"copy_: the source of shape {tuple(src.shape)} cannot be "
                               f"broadcast to the tensor's shape {tuple(x.shape)}") from None
    return inplace(x, "copy_", lambda old: broadcast_to(
        to_copy(src, dtype=x.dtype, device=x.device), x.shape))


def fill_(x, value):
    """x ← value everywhere (a number, or a one-element tensor: differentiable in it)."""
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise RuntimeError(f"fill_: the value must be a number or a one-element tensor, "
                               f"got a tensor of shape {tuple(value.shape)}")
        return copy_(x, value.reshape(()))
    if not (state.grad_enabled and x.requires_grad):
        inplace_before_write(x)
        x.data[...] = value
        write_clock.stamp(x)
        return x
    return copy_(x, as_tensor_like(value, x))


# ---- creation and random fills ----
# Tensor.new_* and the random in-place fills (Tensor's methods call them here) live with
# creation, which imports Tensor: complete by now.
from .creation import (  # noqa: E402, F401
    bernoulli_,
    exponential_,
    new_empty,
    new_full,
    new_ones,
    new_tensor,
    new_zeros,
    normal_,
    uniform_,
)

# ---- math: trigonometric, rounding, special functions, linear algebra (issue 13) ----
from .ops import einsum as EIN  # noqa: E402
from .ops import trig as T  # noqa: E402


def _as_float(x):
    """``x``, or an integer/bool ``x`` in the default float dtype (PyTorch's rule for sin,
    erf, log2, ...)."""
    return x if x.data.dtype.kind in "fc" else x.to(backend.default_float)


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


def expm1(x):
    return E.Expm1.apply(_as_float(x))


def log2(x):
    return E.Log2.apply(_as_float(x))


def log10(x):
    return E.Log10.apply(_as_float(x))


def reciprocal(x):
    return E.Reciprocal.apply(_as_float(x))


def erf(x):
    return E.Erf.apply(_as_float(x))


def erfinv(x):
    return E.Erfinv.apply(_as_float(x))


def lgamma(x):
    """ln |Γ(x)|."""
    return E.Lgamma.apply(_as_float(x))


def digamma(x):
    """ψ(x) = d/dx ln Γ(x)."""
    return E.Digamma.apply(_as_float(x))


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


def _plus_scaled(op, input, product, beta, alpha):
    """β·input + α·product, ``input`` broadcast to the product's shape; with β = 0 ``input``
    is ignored (its NaNs do not propagate), as in PyTorch."""
    try:
        fits = np.broadcast_shapes(input.shape, product.shape) == product.shape
    except ValueError:
        fits = False
    if not fits:
        raise RuntimeError(f"{op}: input of shape {tuple(input.shape)} cannot be broadcast to "
                           f"the product's shape {tuple(product.shape)}")
    if alpha != 1:
        product = mul(product, alpha)
    return product if beta == 0 else add(product, input, alpha=beta)


def addmm(input, mat1, mat2, *, beta=1, alpha=1):  # noqa: A002
    """β·input + α·(mat1 @ mat2)."""
    if mat1.ndim != 2 or mat2.ndim != 2:
        raise RuntimeError(f"addmm: expected 2-D matrices mat1 and mat2, got shapes "
                           f"{tuple(mat1.shape)} and {tuple(mat2.shape)}")
    return _plus_scaled("addmm", input, matmul(mat1, mat2), beta, alpha)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):  # noqa: A002
    """β·input + α·(batch1 @ batch2), batch by batch."""
    return _plus_scaled("baddbmm", input, bmm(batch1, batch2), beta, alpha)


def addbmm(input, batch1, batch2, *, beta=1, alpha=1):  # noqa: A002
    """β·input + α·Σ_b batch1[b] @ batch2[b] (one GEMM over the batch folded into the
    inner dim)."""
    if batch1.ndim != 3 or batch2.ndim != 3 or batch1.shape[0] != batch2.shape[0]:
        raise RuntimeError(f"addbmm: expected two 3-D batches of the same size, got shapes "
                           f"{tuple(batch1.shape)} and {tuple(batch2.shape)}")
    b, n, m = batch1.shape
    rows = reshape(permute(batch1, 1, 0, 2), n, b * m)
    return _plus_scaled("addbmm", input, matmul(rows, reshape(batch2, b * m, -1)), beta, alpha)


def einsum(*args):
    """``einsum("bij,bjk->bik", a, b)`` (operands also as one list), or the sublist form
    ``einsum(a, [0, 1], b, [1, 2], [0, 2])``; PyTorch's equations: implicit output (the
    letters used once, sorted), ``...``, size-1 dims broadcast."""
    if args and isinstance(args[0], Tensor):
        args = _einsum_sublists(args)
    if not args or not isinstance(args[0], str):
        raise TypeError("einsum(): expected an equation string followed by the operands")
    equation, *operands = args
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = list(operands[0])
    if not operands:
        raise ValueError("einsum(): must provide at least one operand")
    dtypes = sorted({str(t.dtype) for t in operands})
    if len(dtypes) > 1:
        raise TypeError(f"einsum(): all operands must have the same dtype, got {dtypes}")
    inputs, output, sizes = EIN.parse(equation, [t.shape for t in operands])
    return EIN.Einsum.apply(*operands, inputs=inputs, output=output, sizes=sizes)


def _einsum_sublists(args):
    """``(a, [0, 1], b, [1, 2], [0, 2])`` as ``("Ab,bC->AC"-like equation, a, b)``: label i
    is the i-th of ``EIN.LETTERS`` (their order is the labels' order), ``...`` is Ellipsis."""
    def letters(sublist):
        return "".join("..." if s is Ellipsis else EIN.LETTERS[s] for s in sublist)

    operands, sublists = args[0:len(args) - len(args) % 2:2], args[1::2][:len(args) // 2]
    equation = ",".join(map(letters, sublists))
    if len(args) % 2:
        equation += "->" + letters(args[-1])
    return (equation, *operands)


def tensordot(a, b, dims=2):
    """Σ over ``dims`` of a and b: an int n (a's last n dims with b's first n) or two lists
    of dims; the free dims of a, then those of b."""
    if isinstance(dims, int):
        if dims < 0:
            raise RuntimeError(f"tensordot: expected a non-negative number of dims, got {dims}")
        dims_a, dims_b = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        dims_a, dims_b = ([d] if isinstance(d, int) else list(d) for d in dims)
    if len(dims_a) != len(dims_b):
        raise RuntimeError(f"tensordot: both dim lists should have the same length, got "
                           f"{dims_a} and {dims_b}")
    dims_a = [_dim(d, a.ndim, "tensordot") for d in dims_a]
    dims_b = [_dim(d, b.ndim, "tensordot") for d in dims_b]
    for da, db in zip(dims_a, dims_b):
        if a.shape[da] != b.shape[db]:
            raise RuntimeError(f"tensordot: contracted dimensions need to match, but first has "
                               f"size {a.shape[da]} in dim {da} and second has size "
                               f"{b.shape[db]} in dim {db}")
    sa = EIN.LETTERS[:a.ndim]
    fresh = iter(EIN.LETTERS[a.ndim:])
    shared = dict(zip(dims_b, (sa[d] for d in dims_a)))
    sb = "".join(shared[i] if i in shared else next(fresh) for i in range(b.ndim))
    out = "".join(c for i, c in enumerate(sa) if i not in dims_a) + "".join(
        c for i, c in enumerate(sb) if i not in shared)
    return einsum(f"{sa},{sb}->{out}", a, b)


def kron(a, b):
    """The Kronecker product: blocks a[i, j, ...]·b (dims padded with leading 1s)."""
    a, b = _pair(a, b)
    n = builtins.max(a.ndim, b.ndim)
    sa, sb = (1,) * (n - a.ndim) + a.shape, (1,) * (n - b.ndim) + b.shape
    blocks = mul(reshape(a, [s for d in sa for s in (d, 1)]),
                 reshape(b, [s for d in sb for s in (1, d)]))
    return reshape(blocks, [p * q for p, q in zip(sa, sb)])


def _matrix_dims(x, op):
    if x.ndim < 2:
        raise RuntimeError(f"{op}: expected a tensor with at least 2 dims, got shape "
                           f"{tuple(x.shape)}")


def tril(x, diagonal=0):
    """x on and below the ``diagonal``-th diagonal of its last two dims, 0 above."""
    _matrix_dims(x, "tril")
    return L.Tril.apply(x, diagonal=int(diagonal))


def triu(x, diagonal=0):
    """x on and above the ``diagonal``-th diagonal of its last two dims, 0 below."""
    _matrix_dims(x, "triu")
    return L.Triu.apply(x, diagonal=int(diagonal))


def _two_dims(dim1, dim2, ndim, op):
    d1, d2 = _dim(dim1, ndim, op), _dim(dim2, ndim, op)
    if d1 == d2:
        raise RuntimeError(f"{op}: dim1 and dim2 cannot be identical, got {dim1} and {dim2}")
    return d1, d2


def diagonal(x, offset=0, dim1=0, dim2=1):
    """The ``offset``-th diagonal of dims (dim1, dim2), as the last dim."""
    d1, d2 = _two_dims(dim1, dim2, x.ndim, "diagonal")
    return L.Diagonal.apply(x, offset=int(offset), dim1=d1, dim2=d2)


def diag_embed(x, offset=0, dim1=-2, dim2=-1):
    """Zeros with x's last dim on the ``offset``-th diagonal of the output's dims
    (dim1, dim2); one dim more than x."""
    if x.ndim == 0:
        raise RuntimeError("diag_embed: expected a tensor with at least 1 dim, got a 0-d tensor")
    d1, d2 = _two_dims(dim1, dim2, x.ndim + 1, "diag_embed")
    n = x.shape[-1] + builtins.abs(int(offset))
    lead = iter(x.shape[:-1])
    shape = tuple(n if i in (d1, d2) else next(lead) for i in range(x.ndim + 1))
    return L.DiagEmbed.apply(x, shape=shape, offset=int(offset), dim1=d1, dim2=d2)


def diag(x, diagonal=0):
    """A 1-D x: the square matrix with x on its ``diagonal``-th diagonal; a 2-D x: that
    diagonal of it."""
    if x.ndim == 1:
        return diag_embed(x, diagonal, 0, 1)
    if x.ndim == 2:
        return L.Diagonal.apply(x, offset=int(diagonal), dim1=0, dim2=1)
    raise RuntimeError(f"diag: expected a 1-D or 2-D tensor, got shape {tuple(x.shape)}")


def trace(x):
    """Σ of the main diagonal of a matrix."""
    if x.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, got shape {tuple(x.shape)}")
    return sum(diagonal(x))


def cross(input, other, dim=None):  # noqa: A002
    """input × other along ``dim`` (of size 3; None: the first dim of size 3), inputs of
    the same number of dims broadcast."""
    a, b = _pair(input, other)
    try:
        if a.ndim != b.ndim:
            raise ValueError
        shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise RuntimeError(f"cross: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be "
                           "broadcast together") from None
    if dim is None:
        dim = next((i for i, n in enumerate(shape) if n == 3), None)
        if dim is None:
            raise RuntimeError(f"cross: no dimension of size 3 in shape {tuple(shape)}")
    d = _dim(dim, len(shape), "cross")
    if shape[d] != 3:
        raise RuntimeError(f"cross: dim {dim} has size {shape[d]}, expected 3 (shape "
                           f"{tuple(shape)})")
    return L.Cross.apply(expand(a, *shape), expand(b, *shape), dim=d)


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


# ---- reductions, scans, index and shape ops (issue 13) ----
from .ops import scan as Scan  # noqa: E402


def _one_dim(op, x, dim, apply):
    """``apply(x, axis)`` along ``dim``; a 0-d ``x`` counts as one element (as PyTorch)."""
    d = _dim(dim, x.ndim, op)
    if x.ndim:
        return apply(x, d)
    out = apply(reshape(x, 1), 0)
    if isinstance(out, tuple):
        return type(out)(*(reshape(o, ()) for o in out))
    return reshape(out, ())


def _floating(x, op):
    if x.data.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating point tensor, got dtype {x.dtype}")


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
        ufunc = xp.maximum if mode == "max" else xp.minimum
        running = ufunc.accumulate(a, axis=d)
        shape = [1] * a.ndim
        shape[d] = a.shape[d]
        positions = xp.arange(a.shape[d]).reshape(shape)
        reached = (a == running) | (xp.isnan(a) if a.dtype.kind == "f" else False)
        idx = xp.maximum.accumulate(xp.where(reached, positions, 0), axis=d)
        return values_indices(gather(t, d, Tensor.constant(idx)), Tensor.constant(idx))
    return _one_dim("cum" + mode, x, dim, run)


def cummax(x, dim):
    """``(values, indices)``: the running maximum along ``dim`` and where it was found; the
    gradient goes to those positions (adding up where one is repeated)."""
    return _running_extreme(x, dim, "max")


def cummin(x, dim):
    """``(values, indices)``: the running minimum along ``dim`` (see ``cummax``)."""
    return _running_extreme(x, dim, "min")


def _picked(x, d, keepdim, idx):
    """``(values, indices)`` of the elements at ``idx`` (keepdim-shaped) along ``d``; the
    values are a gather, so the gradient goes to those elements."""
    values, indices = gather(x, d, Tensor.constant(idx)), Tensor.constant(idx)
    if not keepdim:
        values, indices = squeeze(values, d), squeeze(indices, d)
    return values_indices(values, indices)


def _sorted_at(x, d, keepdim, position):
    """``_picked`` at the element of sorted ``position`` along ``d`` (an int array of the
    keepdim shape, or broadcastable to it): a stable sort, NaN last."""
    xp = backend.xp_of(x.data)
    order = xp.argsort(x.data, axis=d, kind="stable")
    keep_shape = x.shape[:d] + (1,) + x.shape[d + 1:]
    idx = xp.take_along_axis(order, xp.broadcast_to(position, keep_shape), axis=d)
    return _picked(x, d, keepdim, idx)


def _nan_count(x, d):
    xp = backend.xp_of(x.data)
    if x.data.dtype.kind != "f":
        return xp.zeros((1,) * x.ndim, dtype=np.int64)
    return xp.isnan(x.data).sum(axis=d, keepdims=True)


def median(x, dim=None, keepdim=False):
    """``median(x)``: the lower median of all elements (NaN if there is one), its gradient
    split evenly among the elements equal to it; ``median(x, dim)``: ``(values, indices)``
    of the lower median along ``dim`` (a slice holding NaN gives its first NaN), the
    gradient to the index. Among tied values the index is the first in a stable sort
    (PyTorch leaves it unspecified)."""
    if dim is None:
        if x.data.size == 0:
            raise RuntimeError("median: cannot take the median of an empty tensor")
        xp = backend.xp_of(x.data)
        flat = xp.sort(x.data.reshape(-1))
        value = flat[-1] if xp.isnan(flat[-1]) else flat[(flat.size - 1) // 2]
        return R.TiedValue.apply(x, value=xp.asarray(value))

    def run(t, d):
        if t.shape[d] == 0:
            raise IndexError(f"median: dim {d} of a tensor of shape {tuple(t.shape)} is empty")
        n, nans = t.shape[d], _nan_count(t, d)
        first_nan = n - nans  # NaN sorts last
        return _sorted_at(t, d, keepdim,
                          backend.xp_of(t.data).where(nans > 0, first_nan, (n - 1) // 2))
    return _one_dim("median", x, dim, run)


def kthvalue(x, k, dim=-1, keepdim=False):
    """``(values, indices)`` of the k-th smallest element (k from 1) along ``dim``; NaN
    counts as the largest; among ties the index is the first in a stable sort."""
    def run(t, d):
        if not 1 <= k <= t.shape[d]:
            raise RuntimeError(f"kthvalue: k={k} is out of range for dim {d} of size "
                               f"{t.shape[d]} (expected 1..{t.shape[d]})")
        return _sorted_at(t, d, keepdim, backend.xp_of(t.data).asarray(k - 1))
    return _one_dim("kthvalue", x, dim, run)


def mode(x, dim=-1, keepdim=False):
    """``(values, indices)``: the most frequent value along ``dim`` (the smallest of those
    equally frequent) and the last index holding it, as PyTorch; the gradient goes there."""
    def run(t, d):
        xp = backend.xp_of(t.data)
        if t.shape[d] == 0:
            raise IndexError(f"mode: dim {d} of a tensor of shape {tuple(t.shape)} is empty")
        order = xp.argsort(t.data, axis=d, kind="stable")
        ranked = xp.take_along_axis(t.data, order, axis=d)
        shape = [1] * t.ndim
        shape[d] = t.shape[d]
        positions = xp.arange(t.shape[d]).reshape(shape)
        starts = xp.concatenate([xp.ones_like(xp.take(ranked, [0], axis=d), dtype=bool),
                                 xp.diff(ranked, axis=d) != 0], axis=d)
        run_start = xp.maximum.accumulate(xp.where(starts, positions, 0), axis=d)
        run_length = positions - run_start + 1
        end = xp.expand_dims(run_length.argmax(axis=d), d)   # the first longest run's end
        return _picked(t, d, keepdim, xp.take_along_axis(order, end, axis=d))
    return _one_dim("mode", x, dim, run)


QUANTILE_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def quantile(x, q, dim=None, keepdim=False, *, interpolation="linear"):
    """The q-quantiles of ``x`` (all of it, or along ``dim``), PyTorch's way: sort, then
    interpolate between the sorted values at ranks ⌊q(n−1)⌋ and ⌈q(n−1)⌉ (``interpolation``
    linear, lower, higher, midpoint or nearest; a slice holding NaN gives NaN). A 1-D ``q``
    puts its dim first. Differentiable: the gradient goes to the elements interpolated."""
    _floating(x, "quantile")
    if interpolation not in QUANTILE_INTERPOLATIONS:
        raise ValueError(f"quantile: interpolation must be one of {QUANTILE_INTERPOLATIONS}, "
                         f"got {interpolation!r}")
    qs = np.asarray(q.numpy() if isinstance(q, Tensor) else q, dtype=np.float64)
    if isinstance(q, Tensor) and q.dtype != x.dtype:
        raise TypeError(f"quantile: q must have the input's dtype {x.dtype}, got {q.dtype}")
    if qs.ndim > 1:
        raise RuntimeError(f"quantile: q must be a scalar or 1-D, got shape {qs.shape}")
    if qs.size and (qs.min() < 0 or qs.max() > 1):
        raise RuntimeError("quantile: q values must be in the range [0, 1]")
    if x.data.size == 0:
        raise RuntimeError("quantile: the input tensor must be non-empty")
    d = _dim(dim, x.ndim, "quantile")
    rows = flatten(x) if d is None else movedim(x, d, -1)
    ranked = sort(rows, dim=-1).values
    xp, n = backend.xp_of(x.data), rows.shape[-1]
    has_nan = xp.isnan(ranked.data).any(axis=-1, keepdims=True)
    ranks = xp.where(has_nan, n - 1, xp.asarray(qs.reshape(-1) * (n - 1)))
    ranks = {"lower": xp.floor, "higher": xp.ceil, "nearest": xp.round}.get(
        interpolation, lambda r: r)(ranks)
    below = xp.floor(ranks).astype(np.int64)
    out = gather(ranked, -1, Tensor.constant(below))
    if interpolation in ("linear", "midpoint"):
        above = gather(ranked, -1, Tensor.constant(xp.ceil(ranks).astype(np.int64)))
        weight = 0.5 if interpolation == "midpoint" else ranks - below
        out = out + (above - out) * Tensor.constant(xp.asarray(weight, dtype=x.dtype))
    out = movedim(out, -1, 0)
    if keepdim:
        kept = (1,) * x.ndim if d is None else x.shape[:d] + (1,) + x.shape[d + 1:]
        out = reshape(out, out.shape[:1] + kept)
    return squeeze(out, 0) if qs.ndim == 0 else out


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


# scatter / index family
def _scatter_index(op, x, dim, index, src_shape=None):
    """``dim`` and an int64 ``index`` checked as PyTorch checks ``scatter``/``gather``'s."""
    if x.ndim == 0:
        raise RuntimeError(f"{op}: expected a tensor with at least one dimension")
    d = _dim(dim, x.ndim, op)
    idx = _int_index(index, x)
    if idx.dtype != np.int64:
        raise RuntimeError(f"{op}: expected an int64 index, got dtype {idx.dtype}")
    if idx.ndim != x.ndim:
        raise RuntimeError(f"{op}: index has {idx.ndim} dims but the input has {x.ndim}")
    for k, n in enumerate(idx.shape):
        if (k != d and n > x.shape[k]) or (src_shape is not None and n > src_shape[k]):
            raise RuntimeError(f"{op}: index of shape {tuple(idx.shape)} is larger than the "
                               f"input {tuple(x.shape)} (outside dim {d}) or the source "
                               f"{src_shape} in dim {k}")
    if idx.size and (idx.min() < 0 or idx.max() >= x.shape[d]):
        raise IndexError(f"{op}: index out of range for dim {d} of size {x.shape[d]}")
    return d, idx


def _same_dtype(op, x, src):
    if src.dtype != x.dtype:
        raise RuntimeError(f"{op}: expected the source to have the input's dtype {x.dtype}, "
                           f"got {src.dtype}")


def scatter(x, dim, index, src=None, *, value=None, reduce=None):
    """A copy of ``x`` with ``out[index[i][j]][j] = src[i][j]`` along ``dim`` (or ``value``
    everywhere ``index`` points); ``reduce='add'`` or ``'multiply'`` combines instead
    (``scatter_reduce`` with ``'sum'``/``'prod'``). A position written twice keeps one of
    the writes (PyTorch: unspecified); every src element gets ``∂L/∂y`` at its index."""
    if src is not None and not isinstance(src, Tensor):
        src, value = None, src
    if (src is None) == (value is None):
        raise TypeError("scatter: give exactly one of src (a tensor) and value (a number)")
    if src is None:
        xp = backend.xp_of(x.data)
        src = Tensor.constant(xp.full(np.shape(_int_index(index, x)), value, dtype=x.dtype))
    if reduce is not None:
        if reduce not in ("add", "multiply"):
            raise ValueError(f"scatter: reduce must be 'add' or 'multiply', got {reduce!r}")
        return scatter_reduce(x, dim, index, src, "sum" if reduce == "add" else "prod")
    _same_dtype("scatter", x, src)
    d, idx = _scatter_index("scatter", x, dim, index, tuple(src.shape))
    return I.Scatter.apply(x, src, index=idx, dim=d)


SCATTER_REDUCTIONS = ("sum", "prod", "mean", "amax", "amin")


def scatter_reduce(x, dim, index, src, reduce, *, include_self=True):
    """A copy of ``x`` with ``src`` reduced into the positions ``index`` names along ``dim``
    (``reduce``: sum, prod, mean, amax, amin; ``include_self``: ``x``'s own value takes
    part). Gradients are PyTorch's: mean divides by the count, prod is exact with zeros,
    amax/amin split evenly among the tied members."""
    if reduce not in SCATTER_REDUCTIONS:
        raise ValueError(f"scatter_reduce: reduce must be one of {SCATTER_REDUCTIONS}, got "
                         f"{reduce!r}")
    _same_dtype("scatter_reduce", x, src)
    d, idx = _scatter_index("scatter_reduce", x, dim, index, tuple(src.shape))
    return I.ScatterReduce.apply(x, src, index=idx, dim=d, reduce=reduce,
                                 include_self=bool(include_self))


def _dim_index(op, x, dim, index):
    """``dim`` and a 1-D int index into it (negative entries wrap), checked."""
    if x.ndim == 0:
        raise RuntimeError(f"{op}: expected a tensor with at least one dimension")
    d = _dim(dim, x.ndim, op)
    idx = _int_index(index, x)
    idx = idx.reshape(1) if idx.ndim == 0 else idx
    if idx.ndim != 1 or idx.dtype.kind not in "iu":
        raise IndexError(f"{op}: index must be a 1-D integer tensor, got shape "
                         f"{tuple(idx.shape)} and dtype {idx.dtype}")
    n = x.shape[d]
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"{op}: index out of range for dim {d} of size {n}")
    return d, idx % n if idx.size else idx


def _check_source(op, x, d, idx, source):
    expected = x.shape[:d] + (len(idx),) + x.shape[d + 1:]
    if tuple(source.shape) != expected:
        raise RuntimeError(f"{op}: source of shape {tuple(source.shape)} does not match the "
                           f"expected {expected} (the input's shape with dim {d} the index's "
                           "length)")
    _same_dtype(op, x, source)


def index_add(x, dim, index, source, *, alpha=1):
    """A copy of ``x`` with ``alpha · source[…, i, …]`` added to ``x[…, index[i], …]`` along
    ``dim`` (repeated indices add up)."""
    d, idx = _dim_index("index_add", x, dim, index)
    _check_source("index_add", x, d, idx, source)
    if alpha != 1:
        source = mul(source, alpha)
    return I.IndexAdd.apply(x, source, index=idx, dim=d)


def _dim_mask(x, d, idx):
    """A bool array broadcastable to ``x``: True in the slices ``idx`` picks along ``d``."""
    xp = backend.xp_of(x.data)
    picked = xp.zeros(x.shape[d], dtype=bool)
    picked[idx] = True
    return picked.reshape((1,) * d + (-1,) + (1,) * (x.ndim - d - 1))


def index_fill(x, dim, index, value):
    """A copy of ``x`` with the slices ``index`` picks along ``dim`` set to ``value`` (a
    number, or a 0-d tensor that then gets their gradient)."""
    d, idx = _dim_index("index_fill", x, dim, index)
    mask = _dim_mask(x, d, idx)
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(f"index_fill: value must be a number or a 0-d tensor, got "
                               f"shape {tuple(value.shape)}")
        return where(Tensor.constant(mask), to_copy(value, dtype=x.dtype), x)
    return masked_fill(x, Tensor.constant(mask), value)


def index_copy(x, dim, index, source):
    """A copy of ``x`` with ``x[…, index[i], …] = source[…, i, …]`` along ``dim`` (an index
    given twice keeps one of the writes; both get the gradient)."""
    d, idx = _dim_index("index_copy", x, dim, index)
    _check_source("index_copy", x, d, idx, source)
    return index_put(x, (slice(None),) * d + (idx,), source)


def _with_mask(op, x, mask):
    """``x`` and the bool array ``mask``, both broadcast to their common shape."""
    m = _int_index(mask, x)
    if m.dtype != np.bool_:
        raise TypeError(f"{op}: mask must be a bool tensor, got dtype {m.dtype}")
    try:
        shape = np.broadcast_shapes(m.shape, x.shape)
    except ValueError:
        raise RuntimeError(f"{op}: mask of shape {tuple(m.shape)} cannot be broadcast with the "
                           f"input's shape {tuple(x.shape)}") from None
    return expand(x, *shape), backend.xp_of(m).broadcast_to(m, shape)


def masked_scatter(x, mask, source):
    """A copy of ``x`` (broadcast with ``mask``) with the positions where ``mask`` is True
    filled, in row-major order, by the first elements of ``source``."""
    x, m = _with_mask("masked_scatter", x, mask)
    count = int(m.sum())
    if source.numel() < count:
        raise RuntimeError(f"masked_scatter: the mask selects {count} elements but the source "
                           f"has only {source.numel()}")
    _same_dtype("masked_scatter", x, source)
    return index_put(x, m, reshape(source, -1)[:count])


def masked_select(x, mask):
    """The elements of ``x`` where ``mask`` is True (both broadcast), as a 1-D tensor."""
    return getitem(*_with_mask("masked_select", x, mask))


def nonzero(x, *, as_tuple=False):
    """The indices of the non-zero elements: an (n, ndim) int64 tensor, or with ``as_tuple``
    one 1-D tensor per dim (a 0-d input counts as 1-D)."""
    xp, a = backend.xp_of(x.data), x.data
    if a.ndim == 0 and not as_tuple:
        return Tensor.constant(xp.zeros((int(a != 0), 0), dtype=np.int64))
    found = xp.nonzero(a.reshape(-1) if a.ndim == 0 else a)
    if as_tuple:
        return tuple(Tensor.constant(i.astype(np.int64, copy=False)) for i in found)
    return Tensor.constant(xp.stack(found, axis=1).astype(np.int64, copy=False))


def argwhere(x):
    """``nonzero(x)``: the (n, ndim) indices of the non-zero elements."""
    return nonzero(x)


# shape
def narrow(x, dim, start, length):
    """The ``length`` elements from ``start`` along ``dim`` (a view)."""
    d = _dim(dim, x.ndim, "narrow")
    n = x.shape[d]
    start = int(start.item() if isinstance(start, Tensor) else start)
    start = start + n if start < 0 else start
    if not 0 <= start <= n or length < 0 or start + length > n:
        raise IndexError(f"narrow: start {start} + length {length} is out of range for dim "
                         f"{d} of size {n}")
    return getitem(x, (slice(None),) * d + (slice(start, start + length),))


def unfold(x, dimension, size, step):
    """``Tensor.unfold``: the windows of ``size`` elements every ``step`` along
    ``dimension``, that dim becoming the window count and a last dim of ``size`` added."""
    d = _dim(dimension, builtins.max(x.ndim, 1), "unfold")
    n = x.shape[d] if x.ndim else 1
    if not 0 <= size <= n:
        raise RuntimeError(f"unfold: size {size} is out of range for dim {d} of size {n}")
    if step <= 0:
        raise RuntimeError(f"unfold: step must be positive, got {step}")
    if x.ndim == 0:
        return reshape(x, size)
    windows = (n - size) // step + 1
    starts = np.arange(windows)[:, None] * step + np.arange(size)
    picked = index_select(x, d, starts.reshape(-1))
    picked = reshape(picked, x.shape[:d] + (windows, size) + x.shape[d + 1:])
    return movedim(picked, d + 1, -1)


def movedim(x, source, destination):
    """``x`` with the dims ``source`` moved to the positions ``destination`` (ints or
    sequences), the other dims keeping their order."""
    src = tuple(source) if isinstance(source, (tuple, list)) else (source,)
    dst = tuple(destination) if isinstance(destination, (tuple, list)) else (destination,)
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: source {src} and destination {dst} must have the same "
                           "number of dims")
    src = [_dim(s, x.ndim, "movedim") for s in src]
    dst = [_dim(s, x.ndim, "movedim") for s in dst]
    if x.ndim == 0:  # dims 0 and -1 name its only place
        return x
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise RuntimeError(f"movedim: repeated dim in source {tuple(src)} or destination "
                           f"{tuple(dst)}")
    order = [k for k in range(x.ndim) if k not in src]
    for to, frm in sorted(zip(dst, src)):
        order.insert(to, frm)
    return x if order == list(range(x.ndim)) else permute(x, *order)


moveaxis = movedim


# misc
def meshgrid(*tensors, indexing="ij"):
    """Coordinate grids of 1-D (or 0-d) tensors: ``out[k]`` holds ``tensors[k]`` along dim
    k (``indexing='xy'``: the first two dims swapped), broadcast to every dim."""
    if len(tensors) == 1 and isinstance(tensors[0], (tuple, list)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    if not tensors or builtins.any(t.ndim > 1 for t in tensors):
        raise RuntimeError("meshgrid: expected one or more 0-d or 1-D tensors")
    sizes = [t.numel() for t in tensors]
    axes = list(range(len(tensors)))
    if indexing == "xy" and len(tensors) > 1:
        axes[0], axes[1] = 1, 0
    shape = [0] * len(tensors)
    for k, a in enumerate(axes):
        shape[a] = sizes[k]
    grids = []
    for t, a in zip(tensors, axes):
        along = [1] * len(shape)
        along[a] = -1
        grids.append(expand(reshape(t, *along), *shape))
    return tuple(grids)


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


def searchsorted(sorted_sequence, values, *, out_int32=False, right=False, side=None,
                 sorter=None):
    """For each value the index where it would be inserted in ``sorted_sequence`` (its last
    dim, one row per leading index of ``values``) to keep it sorted: left of equal elements,
    or right of them with ``right=True`` / ``side='right'``."""
    if side not in (None, "left", "right"):
        raise ValueError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
    if side == "left" and right:
        raise RuntimeError("searchsorted: side='left' and right=True contradict each other")
    right = right or side == "right"
    seq = sorted_sequence.data
    xp = backend.xp_of(seq)
    if sorter is not None:
        seq = xp.take_along_axis(seq, _int_index(sorter, sorted_sequence), axis=-1)
    v = values.data if isinstance(values, Tensor) else xp.asarray(values, dtype=seq.dtype)
    if seq.ndim > 1 and seq.shape[:-1] != v.shape[:-1]:
        raise RuntimeError(f"searchsorted: the sorted sequence of shape {tuple(seq.shape)} "
                           f"and the values of shape {tuple(v.shape)} must have the same "
                           "leading dims")
    if seq.ndim == 1:
        out = xp.searchsorted(seq, v, side="right" if right else "left")
    else:
        rows, values_ = seq[..., None, :], v[..., None]
        out = (rows <= values_ if right else rows < values_).sum(axis=-1)
    return Tensor.constant(xp.asarray(out, dtype=np.int32 if out_int32 else np.int64))


def bucketize(x, boundaries, *, out_int32=False, right=False):
    """The bucket of each element: i with boundaries[i−1] < x ≤ boundaries[i]
    (``right=True``: boundaries[i−1] ≤ x < boundaries[i])."""
    if boundaries.ndim != 1:
        raise RuntimeError(f"bucketize: boundaries must be 1-D, got shape "
                           f"{tuple(boundaries.shape)}")
    return searchsorted(boundaries, x, out_int32=out_int32, right=right)


def unique_consecutive(x, return_inverse=False, return_counts=False, dim=None):
    """``x`` with each run of equal consecutive elements (or slices along ``dim``) kept
    once; with ``return_inverse`` the run each element belongs to, with ``return_counts``
    each run's length (only the outputs asked for are returned, as PyTorch)."""
    xp = backend.xp_of(x.data)
    if dim is None:
        a = x.data.reshape(-1)
        changed = a[1:] != a[:-1]
    else:
        d = _dim(dim, x.ndim, "unique_consecutive")
        a = xp.moveaxis(x.data, d, 0)
        changed = (a[1:] != a[:-1]).any(axis=tuple(range(1, a.ndim)))
    starts = xp.concatenate([xp.ones(builtins.min(len(a), 1), dtype=bool), changed])
    first = xp.nonzero(starts)[0]
    out = a[first] if dim is None else xp.moveaxis(a[first], 0, d)
    results = [Tensor.constant(out)]
    if return_inverse:
        inverse = xp.cumsum(starts) - 1
        results.append(Tensor.constant(
            inverse.reshape(x.shape if dim is None else -1).astype(np.int64)))
    if return_counts:
        ends = xp.concatenate([first[1:], xp.asarray([len(a)])])
        results.append(Tensor.constant((ends - first).astype(np.int64)))
    return results[0] if len(results) == 1 else tuple(results)


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


def cdist(x1, x2, p=2.0, compute_mode=None):
    """The p-norm distances between the rows of ``x1`` (…, P, M) and of ``x2`` (…, R, M):
    (…, P, R), the batch dims broadcast; differentiable (p = 0 counts differing coordinates
    and has no gradient). ``compute_mode`` is accepted; the distances are always computed
    from the differences, exactly."""
    if x1.ndim < 2 or x2.ndim < 2 or x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"cdist: expected x1 (..., P, M) and x2 (..., R, M) with the same "
                           f"M, got shapes {tuple(x1.shape)} and {tuple(x2.shape)}")
    if p < 0:
        raise RuntimeError(f"cdist: p must be non-negative, got {p}")
    try:
        np.broadcast_shapes(x1.shape[:-2], x2.shape[:-2])
    except ValueError:
        raise RuntimeError(f"cdist: batch dims {tuple(x1.shape[:-2])} and "
                           f"{tuple(x2.shape[:-2])} cannot be broadcast together") from None
    diff = sub(unsqueeze(x1, -2), unsqueeze(x2, -3))
    if p == 0:
        return Tensor.constant((diff.data != 0).sum(axis=-1).astype(diff.dtype))
    return norm(diff, p, dim=-1)




# ---- pytorch parity: composed functions and aliases ----
from .creation import bernoulli, multinomial  # noqa: E402, F401  (Tensor's methods)
from .ops import parity as PO  # noqa: E402

aminmax_result = namedtuple("aminmax", ["min", "max"])
greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne
absolute, sgn = abs, sign


def positive(x):
    return x


def ravel(x):
    return flatten(x)


def msort(x):
    """``x`` sorted along dim 0."""
    return sort(x, dim=0).values


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


# ------------------------------------------------------------------ elementwise
def logaddexp(a, b):
    """ln(eᵃ + eᵇ)."""
    a, b = _pair(a, b)
    return PO.LogAddExp.apply(a, b)


def logaddexp2(a, b):
    """log₂(2ᵃ + 2ᵇ)."""
    a, b = _pair(a, b)
    return PO.LogAddExp.apply(a, b, base2=True)


def hypot(a, b):
    """√(a² + b²)."""
    a, b = _pair(a, b)
    return PO.Hypot.apply(a, b)


def xlogy(x, y):
    """x · ln y, 0 where x = 0 (unless y is NaN)."""
    x, y = _pair(x, y)
    zero_times_log = Tensor.constant((x.data == 0) & (y.data <= 0))
    return mul(x, log(where(zero_times_log, 1.0, y)))


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


def logit(x, eps=None):
    """ln(x / (1 − x)), ``x`` clamped to [eps, 1 − eps] first when ``eps`` is given."""
    return PO.Logit.apply(_as_float(x), eps=eps)


def sinc(x):
    """sin(πx) / (πx), 1 at x = 0."""
    x = _as_float(x)
    at_zero = Tensor.constant(x.data == 0)
    scaled = mul(where(at_zero, 1.0, x), float(np.pi))
    return where(at_zero, 1.0, div(sin(scaled), scaled))


def exp2(x):
    """2ˣ."""
    return pow(2.0, _as_float(x))


def erfc(x):
    """1 − erf x, accurate for large x."""
    return PO.Erfc.apply(_as_float(x))


def deg2rad(x):
    return mul(_as_float(x), float(np.pi / 180))


def rad2deg(x):
    return mul(_as_float(x), float(180 / np.pi))


def heaviside(x, values):
    """0 where x < 0, ``values`` where x = 0, 1 where x > 0 (not differentiable)."""
    x, values = _pair(x, values)
    xp = backend.xp_of(x.data)
    out = xp.where(x.data == 0, values.data, (x.data > 0).astype(x.data.dtype))
    return Tensor.constant(out.astype(xp.result_type(x.data, values.data)))


def copysign(a, b):
    """|a| with the sign of ``b`` (−0.0 counts as negative); differentiable in ``a``."""
    a, b = _pair(_as_float(a), b)
    return PO.Copysign.apply(a, b)


def signbit(x):
    return Tensor.constant(backend.xp_of(x.data).signbit(x.data))


def isposinf(x):
    return Tensor.constant(backend.xp_of(x.data).isposinf(x.data))


def isneginf(x):
    return Tensor.constant(backend.xp_of(x.data).isneginf(x.data))


def logical_xor(a, b):
    a, b = _pair(a, b)
    return Tensor.constant(backend.xp_of(a.data).logical_xor(a.data, b.data))


def isin(elements, test_elements, *, assume_unique=False, invert=False):
    """Whether each element of ``elements`` is among ``test_elements`` (bool tensor)."""
    if not isinstance(elements, Tensor):
        elements = as_tensor_like(elements, test_elements)
    tested = test_elements.data if isinstance(test_elements, Tensor) else test_elements
    xp = backend.xp_of(elements.data)
    return Tensor.constant(xp.isin(elements.data, xp.asarray(tested),
                                   assume_unique=assume_unique, invert=invert))


# ------------------------------------------------------------------ reductions
def aminmax(x, *, dim=None, keepdim=False):
    """``(min, max)`` of all elements, or along ``dim``."""
    return aminmax_result(amin(x, dim, keepdim), amax(x, dim, keepdim))


def nanmedian(x, dim=None, keepdim=False):
    """``median`` ignoring NaN (NaN only where every element is NaN)."""
    if dim is None:
        if x.data.size == 0:
            raise RuntimeError("nanmedian: cannot take the median of an empty tensor")
        xp = backend.xp_of(x.data)
        flat = xp.sort(x.data.reshape(-1))
        count = int(flat.size - (xp.isnan(flat).sum() if flat.dtype.kind == "f" else 0))
        return R.TiedValue.apply(x, value=xp.asarray(flat[builtins.max(count - 1, 0) // 2]))

    def run(t, d):
        if t.shape[d] == 0:
            raise IndexError(f"nanmedian: dim {d} of a tensor of shape {tuple(t.shape)} is empty")
        count = t.shape[d] - _nan_count(t, d)
        return _sorted_at(t, d, keepdim, backend.xp_of(t.data).maximum(count - 1, 0) // 2)
    return _one_dim("nanmedian", x, dim, run)


def var_mean(x, dim=None, unbiased=None, keepdim=False, correction=None):
    """``(var, mean)``."""
    return var(x, dim, unbiased, keepdim, correction), mean(x, dim, keepdim)


def std_mean(x, dim=None, unbiased=None, keepdim=False, correction=None):
    """``(std, mean)``."""
    return std(x, dim, unbiased, keepdim, correction), mean(x, dim, keepdim)


def dist(a, b, p=2):
    """‖a − b‖ₚ (broadcast)."""
    return norm(sub(*_pair(a, b)), p)


# ------------------------------------------------------------------ shape and joining
def _tensors(tensors):
    """``f(a, b)`` and ``f([a, b])`` alike."""
    return tuple(tensors[0]) if len(tensors) == 1 and isinstance(tensors[0],
                                                                 (tuple, list)) else tensors


def _at_least(ndim, tensors, lift):
    out = tuple(t if t.ndim >= ndim else lift(t) for t in _tensors(tensors))
    return out[0] if len(tensors) == 1 and isinstance(tensors[0], Tensor) else out


def atleast_1d(*tensors):
    return _at_least(1, tensors, lambda t: reshape(t, 1))


def atleast_2d(*tensors):
    return _at_least(2, tensors, lambda t: reshape(t, (1,) * (2 - t.ndim) + t.shape))


def atleast_3d(*tensors):
    """0-d → (1, 1, 1), (n,) → (1, n, 1), (m, n) → (m, n, 1), as NumPy and PyTorch."""
    shapes = {0: lambda s: (1, 1, 1), 1: lambda s: (1, s[0], 1), 2: lambda s: s + (1,)}
    return _at_least(3, tensors, lambda t: reshape(t, shapes[t.ndim](t.shape)))


def hstack(tensors):
    tensors = atleast_1d(*tensors)
    return cat(tensors, dim=0 if tensors[0].ndim == 1 else 1)


def vstack(tensors):
    return cat(atleast_2d(*tensors), dim=0)


row_stack = vstack


def dstack(tensors):
    return cat(atleast_3d(*tensors), dim=2)


def column_stack(tensors):
    """1-D and 0-d tensors as columns, then joined along dim 1."""
    return cat([reshape(t, t.numel(), 1) if t.ndim < 2 else t for t in tensors], dim=1)


def _need_dims(x, ndim, op):
    if x.ndim < ndim:
        raise RuntimeError(f"{op}: expected a tensor with at least {ndim} dims, got shape "
                           f"{tuple(x.shape)}")


def fliplr(x):
    _need_dims(x, 2, "fliplr")
    return flip(x, 1)


def flipud(x):
    _need_dims(x, 1, "flipud")
    return flip(x, 0)


def rot90(x, k=1, dims=(0, 1)):
    """``x`` turned by k·90° in the plane of ``dims``, from the first towards the second."""
    if len(dims) != 2:
        raise RuntimeError(f"rot90: expected two dims, got {len(dims)}")
    d0, d1 = _dim(tuple(dims), x.ndim, "rot90")
    if d0 == d1:
        raise RuntimeError(f"rot90: the two dims must differ, got {tuple(dims)}")
    k %= 4
    if k == 1:
        return transpose(flip(x, d1), d0, d1)
    if k == 2:
        return flip(x, (d0, d1))
    if k == 3:
        return transpose(flip(x, d0), d0, d1)
    return clone(x)


def broadcast_shapes(*shapes):
    """The shape all ``shapes`` (ints or tuples) broadcast to."""
    try:
        return tuple(np.broadcast_shapes(*((s,) if isinstance(s, int) else tuple(s)
                                           for s in shapes)))
    except ValueError:
        raise RuntimeError(f"broadcast_shapes: shapes {list(shapes)} cannot be broadcast to "
                           "a single shape") from None


def broadcast_tensors(*tensors):
    tensors = _tensors(tensors)
    shape = broadcast_shapes(*(t.shape for t in tensors))
    return tuple(broadcast_to(t, shape) for t in tensors)


def tensor_split(x, indices_or_sections, dim=0):
    """Pieces of ``x`` along ``dim``: ``n`` near-equal ones (the first ``size % n`` one
    longer), or cut before each of the given indices."""
    d = _dim(dim, x.ndim, "tensor_split")
    n = x.shape[d]
    cuts = indices_or_sections
    if isinstance(cuts, Tensor):
        cuts = cuts.tolist()
    if isinstance(cuts, (int, np.integer)):
        if cuts <= 0:
            raise RuntimeError(f"tensor_split: number of sections must be larger than 0, got "
                               f"{cuts}")
        size, extra = divmod(n, int(cuts))
        cuts = np.cumsum([size + 1] * extra + [size] * (int(cuts) - extra))[:-1].tolist()
    bounds = [0] + [builtins.min(builtins.max(int(c) + n if c < 0 else int(c), 0), n)
                    for c in cuts] + [n]
    before = (slice(None),) * d
    return tuple(getitem(x, before + (slice(lo, builtins.max(lo, hi)),))
                 for lo, hi in zip(bounds, bounds[1:]))


def _split_at(op, x, sections, dim, ndim):
    _need_dims(x, ndim, op)
    if isinstance(sections, int) and x.shape[dim] % sections:
        raise RuntimeError(f"{op}: dim {dim} of size {x.shape[dim]} cannot be split into "
                           f"{sections} equal sections")
    return tensor_split(x, sections, dim)


def hsplit(x, sections):
    return _split_at("hsplit", x, sections, 1 if x.ndim > 1 else 0, 1)


def vsplit(x, sections):
    return _split_at("vsplit", x, sections, 0, 2)


def dsplit(x, sections):
    return _split_at("dsplit", x, sections, 2, 3)


def select(x, dim, index):
    """``x`` at ``index`` along ``dim`` (that dim removed)."""
    d = _dim(dim, x.ndim, "select")
    n = x.shape[d]
    if not -n <= index < n:
        raise IndexError(f"select: index {index} out of range for a tensor of shape "
                         f"{tuple(x.shape)} at dim {d}")
    return getitem(x, (slice(None),) * d + (int(index),))


def take(x, index):
    """The elements of flattened ``x`` at ``index`` (the result has ``index``'s shape)."""
    return getitem(flatten(x), _int_index(index, x))


def take_along_dim(x, indices, dim=None):
    """``gather`` along ``dim`` with ``x`` and ``indices`` broadcast in the other dims; with
    ``dim=None`` on the flattened tensors."""
    idx = _int_index(indices, x)
    if dim is None:
        return gather(flatten(x), 0, idx.reshape(-1))
    d = _dim(dim, x.ndim, "take_along_dim")
    if idx.ndim != x.ndim:
        raise RuntimeError(f"take_along_dim: input and indices should have the same number "
                           f"of dims, got shapes {tuple(x.shape)} and {tuple(idx.shape)}")
    rest = broadcast_shapes(x.shape[:d] + (1,) + x.shape[d + 1:],
                            idx.shape[:d] + (1,) + idx.shape[d + 1:])
    xp = backend.xp_of(idx)
    idx = xp.broadcast_to(idx, rest[:d] + (idx.shape[d],) + rest[d + 1:])
    return gather(broadcast_to(x, rest[:d] + (x.shape[d],) + rest[d + 1:]), d, idx)


def unique(x, sorted=True, return_inverse=False, return_counts=False, dim=None):  # noqa: A002
    """The distinct values (or slices along ``dim``), in ascending order; with
    ``return_inverse`` where each element went, with ``return_counts`` how often each came."""
    xp = backend.xp_of(x.data)
    d = None if dim is None else _dim(dim, x.ndim, "unique")
    values, inverse, counts = xp.unique(x.data, return_inverse=True, return_counts=True, axis=d)
    inverse = inverse.reshape(x.shape if d is None else (x.shape[d],))
    out = [Tensor.constant(values)]
    if return_inverse:
        out.append(Tensor.constant(inverse.astype(np.int64)))
    if return_counts:
        out.append(Tensor.constant(counts.astype(np.int64)))
    return out[0] if len(out) == 1 else tuple(out)


def _triangle_indices(which, row, col, offset, dtype, device):
    from .creation import tensor

    rows, cols = which(row, offset, col)
    return tensor(np.stack([rows, cols]), dtype=dtype or backend.int64, device=device)


def tril_indices(row, col, offset=0, *, dtype=None, device=None):
    """The (row, col) indices on and below the ``offset``-th diagonal, as a (2, N) tensor."""
    return _triangle_indices(np.tril_indices, row, col, offset, dtype, device)


def triu_indices(row, col, offset=0, *, dtype=None, device=None):
    """The (row, col) indices on and above the ``offset``-th diagonal, as a (2, N) tensor."""
    return _triangle_indices(np.triu_indices, row, col, offset, dtype, device)


def diagflat(x, offset=0):
    """The matrix with flattened ``x`` on its ``offset``-th diagonal."""
    return diag(flatten(x), offset)


def block_diag(*tensors):
    """The tensors (0-d, 1-d or 2-d) as blocks along the diagonal of one matrix."""
    blocks = [reshape(t, (1,) * (2 - t.ndim) + t.shape) for t in tensors]
    for t in blocks:
        if t.ndim != 2:
            raise RuntimeError(f"block_diag: expected tensors of at most 2 dims, got shape "
                               f"{tuple(t.shape)}")
    dtype = np.result_type(*(t.data.dtype for t in blocks))
    width = builtins.sum(t.shape[1] for t in blocks)
    rows, left = [], 0
    for t in blocks:
        rows.append(pad(t.to(dtype), (left, width - left - t.shape[1])))
        left += t.shape[1]
    return cat(rows, dim=0)


def cartesian_prod(*tensors):
    """Every combination of one element from each 1-D tensor, as rows."""
    if len(tensors) == 1:
        return tensors[0]
    return stack([flatten(g) for g in meshgrid(*tensors, indexing="ij")], dim=1)


def combinations(x, r=2, with_replacement=False):
    """The length-``r`` combinations of the elements of 1-D ``x``, as rows (in order)."""
    import itertools

    if x.ndim != 1:
        raise RuntimeError(f"combinations: expected a 1-D tensor, got shape {tuple(x.shape)}")
    pick = itertools.combinations_with_replacement if with_replacement else \
        itertools.combinations
    idx = np.array(list(pick(range(x.shape[0]), r)), dtype=np.int64).reshape(-1, r)
    picked = reshape(index_select(x, 0, idx.reshape(-1)), idx.shape)
    return reshape(picked, 0) if r == 0 else picked


# ------------------------------------------------------------------ linear algebra
def inner(a, b):
    """Σ over the last dims of a and b (a product where either is 0-d)."""
    a, b = _pair(a, b)
    if a.ndim == 0 or b.ndim == 0:
        return mul(a, b)
    if a.shape[-1] != b.shape[-1]:
        raise RuntimeError(f"inner: the last dims must match, got shapes {tuple(a.shape)} and "
                           f"{tuple(b.shape)}")
    return tensordot(a, b, dims=([a.ndim - 1], [b.ndim - 1]))


def mv(mat, vec):
    """mat @ vec for a matrix and a vector."""
    if mat.ndim != 2 or vec.ndim != 1:
        raise RuntimeError(f"mv: expected a 2-D matrix and a 1-D vector, got shapes "
                           f"{tuple(mat.shape)} and {tuple(vec.shape)}")
    return matmul(mat, vec)


def addmv(input, mat, vec, *, beta=1, alpha=1):  # noqa: A002
    """β·input + α·(mat @ vec)."""
    return _plus_scaled("addmv", input, mv(mat, vec), beta, alpha)


def addr(input, vec1, vec2, *, beta=1, alpha=1):  # noqa: A002
    """β·input + α·(vec1 ⊗ vec2)."""
    if vec1.ndim != 1 or vec2.ndim != 1:
        raise RuntimeError(f"addr: expected two 1-D vectors, got shapes {tuple(vec1.shape)} "
                           f"and {tuple(vec2.shape)}")
    return _plus_scaled("addr", input, outer(vec1, vec2), beta, alpha)


def vdot(a, b):
    """Σ aᵢ bᵢ of two 1-D tensors of one size (real tensors: no conjugate)."""
    if a.ndim != 1 or b.ndim != 1 or a.shape != b.shape:
        raise RuntimeError(f"vdot: expected two 1-D tensors of the same size, got shapes "
                           f"{tuple(a.shape)} and {tuple(b.shape)}")
    return dot(a, b)


def cov(input, *, correction=1, fweights=None, aweights=None):  # noqa: A002
    """The covariance matrix of the rows of ``input`` (variables × observations), with
    optional frequency and analytic weights of the observations (numpy.cov's formula)."""
    x = reshape(input, 1, -1) if input.ndim < 2 else input
    if x.ndim != 2:
        raise RuntimeError(f"cov: expected a tensor of at most 2 dims, got shape "
                           f"{tuple(input.shape)}")
    weights = None
    for w in (fweights, aweights):
        if w is not None:
            w = as_tensor_like(w, x)
            weights = w if weights is None else mul(weights, w)
    if weights is None:
        avg, factor = mean(x, 1, keepdim=True), x.shape[1] - correction
        centred = sub(x, avg)
        scaled = centred
    else:
        total = sum(weights)
        avg = div(sum(mul(x, weights), 1, keepdim=True), total)
        spread = 1 if aweights is None else div(sum(mul(weights, aweights)), total)
        factor = clamp_min(sub(total, mul(spread, correction)), 0)
        centred = sub(x, avg)
        scaled = mul(centred, weights)
    if not isinstance(factor, Tensor):
        factor = builtins.max(factor, 0)
    return squeeze(div(matmul(centred, t(scaled)), factor))


def corrcoef(input):  # noqa: A002
    """Pearson's correlation coefficients of the rows of ``input``, clipped to [−1, 1]."""
    c = cov(input)
    if c.ndim == 0:
        return div(c, c)
    spread = sqrt(diagonal(c))
    return clamp(div(div(c, unsqueeze(spread, 1)), unsqueeze(spread, 0)), -1, 1)


def matrix_power(x, n):
    """x @ x @ ... (n times) of square matrices in the last two dims; n = 0: the identity."""
    _matrix_dims(x, "matrix_power")
    if x.shape[-1] != x.shape[-2]:
        raise RuntimeError(f"matrix_power: expected square matrices, got shape "
                           f"{tuple(x.shape)}")
    if n < 0:
        raise NotImplementedError("matrix_power: negative powers need a matrix inverse, which "
                                  "deltaflow does not have yet")
    xp = backend.xp_of(x.data)
    result, base = None, x
    while n:
        if n & 1:
            result = base if result is None else matmul(result, base)
        n >>= 1
        if n:
            base = matmul(base, base)
    if result is None:
        eye = xp.broadcast_to(xp.eye(x.shape[-1], dtype=x.data.dtype), x.shape)
        return Tensor.constant(xp.ascontiguousarray(eye))
    return result


__all__ = ['abs', 'add', 'all', 'allclose', 'amax', 'amin', 'any', 'argmax', 'argmin', 'argsort',
           'as_tensor_like', 'bmm', 'broadcast_to', 'cat', 'chunk', 'clamp', 'clamp_max',
           'clamp_min', 'clip', 'clone', 'concat', 'concatenate', 'div', 'dot', 'elu', 'eq',
           'equal', 'exp', 'expand', 'flatten', 'flip', 'gather', 'ge', 'gelu', 'get_default_dtype',
           'getitem', 'gt', 'hardtanh', 'index_select', 'isfinite', 'isinf', 'isnan', 'le',
           'leaky_relu', 'log', 'log1p', 'log_softmax', 'logical_and', 'logical_not', 'logical_or',
           'logsumexp', 'lt', 'masked_fill', 'matmul', 'max', 'maximum', 'mean', 'min', 'minimum',
           'mish', 'mm', 'mul', 'multiply', 'ne', 'neg', 'negative', 'norm', 'outer', 'pad',
           'permute', 'pow', 'prod', 'relu', 'repeat', 'repeat_interleave', 'reshape', 'roll',
           'rsqrt', 'scatter_add', 'selu', 'set_default_dtype', 'sigmoid', 'sign', 'silu',
           'softmax', 'softplus', 'sort', 'split', 'sqrt', 'square', 'squeeze', 'stack', 'std',
           'sub', 'subtract', 'sum', 'swapaxes', 'swapdims', 't', 'tanh', 'tile', 'to_copy', 'topk',
           'transpose', 'true_divide', 'unbind', 'unflatten', 'unsqueeze', 'var', 'view', 'where']
__all__ += ['index_put']  # recorded in-place writes
__all__ += ['sin', 'cos', 'tan', 'asin', 'acos', 'atan', 'sinh', 'cosh', 'asinh', 'acosh', 'atanh',
            'arcsin', 'arccos', 'arctan', 'arcsinh', 'arccosh', 'arctanh', 'atan2', 'arctan2',
            'floor', 'ceil', 'trunc', 'fix', 'round', 'frac', 'expm1', 'log2', 'log10',
            'reciprocal', 'erf', 'erfinv', 'lgamma', 'digamma', 'lerp', 'addcmul', 'addcdiv',
            'addmm', 'baddbmm', 'addbmm', 'einsum', 'tensordot', 'kron', 'tril', 'triu', 'diagonal',
            'diag_embed', 'diag', 'trace', 'cross', 'diff']  # math (issue 13)
__all__ += ['argwhere', 'bincount', 'bucketize', 'cdist', 'count_nonzero', 'cummax', 'cummin',
            'cumprod', 'cumsum', 'histc', 'index_add', 'index_copy', 'index_fill', 'isclose',
            'kthvalue', 'logcumsumexp', 'masked_scatter', 'masked_select', 'median', 'meshgrid',
            'mode', 'moveaxis', 'movedim', 'nanmean', 'nansum', 'narrow', 'nonzero', 'quantile',
            'scatter', 'scatter_reduce', 'searchsorted', 'unique_consecutive']
__all__ += ['divide', 'greater', 'greater_equal', 'less', 'less_equal', 'not_equal', 'absolute',
            'sgn', 'positive', 'ravel', 'msort', 'numel', 'is_floating_point', 'is_nonzero',
            'logaddexp', 'logaddexp2', 'hypot', 'xlogy', 'fmod', 'remainder', 'floor_divide',
            'nan_to_num', 'logit', 'sinc', 'exp2', 'erfc', 'deg2rad', 'rad2deg', 'heaviside',
            'copysign', 'signbit', 'isposinf', 'isneginf', 'logical_xor', 'isin', 'aminmax',
            'nanmedian', 'var_mean', 'std_mean', 'dist', 'atleast_1d', 'atleast_2d', 'atleast_3d',
            'hstack', 'vstack', 'row_stack', 'dstack', 'column_stack', 'fliplr', 'flipud', 'rot90',
            'broadcast_shapes', 'broadcast_tensors', 'tensor_split', 'hsplit', 'vsplit', 'dsplit',
            'select', 'take', 'take_along_dim', 'unique', 'tril_indices', 'triu_indices',
            'diagflat', 'block_diag', 'cartesian_prod', 'combinations', 'inner', 'mv', 'addmv',
            'addr', 'vdot', 'cov', 'corrcoef', 'matrix_power']  # pytorch parity
__all__ += ['bitwise_and', 'bitwise_or', 'bitwise_xor', 'bitwise_not']
