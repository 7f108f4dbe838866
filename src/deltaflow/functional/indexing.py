"""Indexing: ``x[index]`` (``getitem``) and ``x[index] = value`` (``setitem``, recorded as
``index_put`` where autograd is involved), ``gather take take_along_dim``, ``scatter
scatter_add scatter_reduce``, ``index_select index_add index_fill index_copy``, masks
(``masked_fill masked_scatter masked_select``), ``nonzero argwhere``, and
``repeat_interleave combinations`` (an ``index_select`` of computed indices).
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import write_clock
from ..autograd.grad_mode import state
from ..autograd.inplace import before_write as inplace_before_write
from ..autograd.inplace import write as inplace_write
from ..ops import assign
from ..ops import index as I
from ..tensor import Tensor
from ._common import _dim, _index_arrays, _int_index, as_tensor_like
from .arithmetic import mul, where
from .conversion import to_copy
from .shape import broadcast_shapes, broadcast_to, expand, flatten, reshape


# ----------------------------------------------------------- x[index], x[index] = value
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


# ------------------------------------------------------------------- gather and scatter
def gather(x, dim, index):
    d = _dim(dim, x.ndim, "gather")
    idx = _int_index(index, x)
    if idx.ndim != x.ndim:
        raise RuntimeError(f"gather: index has {idx.ndim} dims but input has {x.ndim}")
    if idx.size and (idx.min() < -x.shape[d] or idx.max() >= x.shape[d]):
        raise IndexError(f"gather: index out of range for dim {d} of size {x.shape[d]}")
    return I.Gather.apply(x, index=idx % x.shape[d] if idx.size else idx, dim=d)


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


def scatter_add(x, dim, index, src):
    d = _dim(dim, x.ndim, "scatter_add")
    idx = _int_index(index, x)
    if idx.size and (idx.min() < 0 or idx.max() >= x.shape[d]):
        raise IndexError(f"scatter_add: index out of range for dim {d} of size {x.shape[d]}")
    return I.ScatterAdd.apply(x, src, index=idx, dim=d)


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


# ------------------------------------------------------------------------ along one dim
def index_select(x, dim, index):
    d = _dim(dim, x.ndim, "index_select")
    idx = _int_index(index, x)
    if idx.ndim != 1:
        raise IndexError(f"index_select: index must be 1-D, got shape {tuple(idx.shape)}")
    if idx.size and (idx.min() < -x.shape[d] or idx.max() >= x.shape[d]):
        raise IndexError(f"index_select: index out of range for dim {d} of size {x.shape[d]}")
    return I.IndexSelect.apply(x, index=idx, dim=d)


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


# -------------------------------------------------------------------------------- masks
def masked_fill(x, mask, value):
    m = _int_index(mask, x)
    if m.dtype != np.bool_:
        raise TypeError(f"masked_fill: mask must be a bool tensor, got dtype {m.dtype}")
    value = value.item() if isinstance(value, Tensor) else value
    return I.MaskedFill.apply(x, mask=m, value=value)


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


# --------------------------------------------------------------------- computed indices
def repeat_interleave(x, repeats, dim=None):
    if dim is None:
        x, dim = flatten(x), 0
    d = _dim(dim, x.ndim, "repeat_interleave")
    idx = np.repeat(np.arange(x.shape[d]), repeats)
    return index_select(x, d, Tensor(idx))


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
