"""Shape ops: reshapes and views (``reshape view flatten ravel unflatten squeeze unsqueeze``),
dim orders (``permute transpose t movedim``), broadcasting (``expand broadcast_to
broadcast_shapes broadcast_tensors atleast_1d atleast_2d atleast_3d``), joining and
splitting (``cat stack hstack vstack dstack column_stack split chunk unbind``), ``flip
fliplr flipud rot90 roll repeat tile``, and coordinate grids (``meshgrid cartesian_prod``).
Slicing (``narrow``, ``tensor_split`` ...) is in :mod:`.slicing`, ``pad`` in :mod:`.padding`.
"""
from __future__ import annotations

import builtins
import math

import numpy as np

from ..ops import shape as S
from ..tensor import Tensor
from ._common import _dim, _sizes
from .conversion import clone


# ------------------------------------------------------------------- reshapes and views
def reshape(x, *shape):
    shape = _sizes(shape)
    known = math.prod(n for n in shape if n != -1)
    n = x.data.size
    if shape.count(-1) > 1 or builtins.any(s < -1 for s in shape) or (
            n != known if -1 not in shape else (known == 0 or n % known)):
        raise RuntimeError(f"reshape: shape {shape} is invalid for a tensor of shape "
                           f"{tuple(x.shape)} ({n} elements)")
    return S.Reshape.apply(x, shape=shape)


view = reshape


def flatten(x, start_dim=0, end_dim=-1):
    if x.ndim == 0:
        return reshape(x, 1)
    s, e = _dim(start_dim, x.ndim, "flatten"), _dim(end_dim, x.ndim, "flatten")
    shape = x.shape[:s] + (math.prod(x.shape[s:e + 1]),) + x.shape[e + 1:]
    return x if shape == x.shape else S.Reshape.apply(x, shape=shape)


def ravel(x):
    return flatten(x)


def unflatten(x, dim, sizes):
    d = _dim(dim, x.ndim, "unflatten")
    return reshape(x, x.shape[:d] + tuple(sizes) + x.shape[d + 1:])


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


# --------------------------------------------------------------------------- dim orders
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


# ------------------------------------------------------------------------- broadcasting
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


def broadcast_shapes(*shapes):
    """The shape all ``shapes`` (ints or tuples) broadcast to."""
    try:
        return tuple(np.broadcast_shapes(*((s,) if isinstance(s, int) else tuple(s)
                                           for s in shapes)))
    except ValueError:
        raise RuntimeError(f"broadcast_shapes: shapes {list(shapes)} cannot be broadcast to "
                           "a single shape") from None


def _tensors(tensors):
    """``f(a, b)`` and ``f([a, b])`` alike."""
    return tuple(tensors[0]) if len(tensors) == 1 and isinstance(tensors[0],
                                                                 (tuple, list)) else tensors


def broadcast_tensors(*tensors):
    tensors = _tensors(tensors)
    shape = broadcast_shapes(*(t.shape for t in tensors))
    return tuple(broadcast_to(t, shape) for t in tensors)


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


# ---------------------------------------------------------------- joining and splitting
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


# ------------------------------------------------------------- flips, rolls and repeats
def _need_dims(x, ndim, op):
    if x.ndim < ndim:
        raise RuntimeError(f"{op}: expected a tensor with at least {ndim} dims, got shape "
                           f"{tuple(x.shape)}")


def flip(x, dims):
    dims = _dim(dims if isinstance(dims, (tuple, list)) else (dims,), x.ndim, "flip")
    return S.Flip.apply(x, dims=dims)


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


# -------------------------------------------------------------------------------- grids
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


def cartesian_prod(*tensors):
    """Every combination of one element from each 1-D tensor, as rows."""
    if len(tensors) == 1:
        return tensors[0]
    return stack([flatten(g) for g in meshgrid(*tensors, indexing="ij")], dim=1)
