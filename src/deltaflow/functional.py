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
from .ops import activation as A
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
    return Tensor.constant(a.data & b.data)


def logical_or(a, b):
    return Tensor.constant(a.data | b.data)


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


def allclose(a, b, rtol=1e-5, atol=1e-8):
    return bool(np.allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol))


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


def pad(x, pad, mode="constant", value=0.0):
    """Pad with PyTorch's convention: ``pad = (last_lo, last_hi, prev_lo, prev_hi, ...)``."""
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: padding {tuple(pad)} must have an even length of at most "
                         f"2 × {x.ndim} entries for a tensor of shape {tuple(x.shape)}")
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise ValueError(f"pad: unknown mode {mode!r}")
    widths = [(0, 0)] * x.ndim
    for k in range(len(pad) // 2):
        widths[x.ndim - 1 - k] = (int(pad[2 * k]), int(pad[2 * k + 1]))
    if builtins.min(builtins.min(w) for w in widths) < 0:
        raise ValueError("pad: negative padding is not supported")
    return S.Pad.apply(x, widths=tuple(widths), mode=mode, value=value)


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


def setitem(x, index, value):
    """``x[index] = value``: written into ``x.data``. Not recorded by autograd, so it is
    refused where autograd is involved (``x`` or ``value`` requires grad, outside
    ``no_grad``) instead of giving a silently wrong gradient."""
    if state.grad_enabled and (x.requires_grad or (isinstance(value, Tensor)
                                                   and value.requires_grad)):
        raise RuntimeError("x[index] = value: item assignment is not recorded by autograd, so "
                           "the gradient through it would be wrong; write it out of place "
                           "(dl.where(mask, value, x), x.masked_fill(mask, value)) or do it "
                           "under dl.no_grad()")
    value = value.data if isinstance(value, Tensor) else value
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
    into ``x.data``.

    In-place writes are not recorded: outside ``no_grad`` they are refused when autograd is
    involved (as PyTorch refuses them on leaves that require grad), except that ``x += y``
    on a non-leaf rebinds ``x`` to the out-of-place result, which has the same value and
    gradient.
    """
    if state.grad_enabled and (x.requires_grad or builtins.any(
            isinstance(a, Tensor) and a.requires_grad for a in args)):
        if name.startswith("__i") and x._ctx is not None:
            return fn(x, *args, **kwargs)
        raise RuntimeError(f"{name}: in-place operations are not recorded by autograd; "
                           f"use it under dl.no_grad() (e.g. a parameter update) or write "
                           f"the out-of-place form (x = x + y)")
    out = fn(x, *args, **kwargs)
    if out.data.dtype.kind == "f" and x.data.dtype.kind != "f":
        raise RuntimeError(f"{name}: the result has dtype {out.dtype}, which cannot be "
                           f"written in place into a tensor of dtype {x.dtype}")
    if out.shape != x.shape:
        raise RuntimeError(f"{name}: the result has shape {tuple(out.shape)} but the "
                           f"tensor written in place has shape {tuple(x.shape)}")
    x.data[...] = out.data
    write_clock.stamp(x)
    return x


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
