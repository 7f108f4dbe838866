"""Slices along one dim, taken with ``getitem``: ``narrow select``, ``tensor_split hsplit vsplit
dsplit``, and ``unfold``'s sliding windows.
"""
from __future__ import annotations

import builtins

import numpy as np

from ..tensor import Tensor
from ._common import _dim
from .indexing import getitem, index_select
from .shape import _need_dims, movedim, reshape


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


def select(x, dim, index):
    """``x`` at ``index`` along ``dim`` (that dim removed)."""
    d = _dim(dim, x.ndim, "select")
    n = x.shape[d]
    if not -n <= index < n:
        raise IndexError(f"select: index {index} out of range for a tensor of shape "
                         f"{tuple(x.shape)} at dim {d}")
    return getitem(x, (slice(None),) * d + (int(index),))


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
