"""Sorting and order statistics: ``argsort sort msort topk``, ``median nanmedian kthvalue mode
quantile``, searching sorted sequences (``searchsorted bucketize``) and distinct values
(``unique unique_consecutive``).
"""
from __future__ import annotations

import builtins

import numpy as np

from .. import backend
from ..ops import reduce as R
from ..tensor import Tensor
from ..ufunc_methods import accumulate
from ._common import _dim, _floating, _int_index, values_indices
from .indexing import gather
from .scans import _one_dim
from .shape import flatten, movedim, reshape, squeeze


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


def msort(x):
    """``x`` sorted along dim 0."""
    return sort(x, dim=0).values


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


# --------------------------------------------------------------------- order statistics
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
        run_start = accumulate("maximum", xp.where(starts, positions, 0), d)
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


# -------------------------------------------------------- searching and distinct values
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
    v = (backend.to_device(values.data, backend.device_of(seq)) if isinstance(values, Tensor)
         else xp.asarray(values, dtype=seq.dtype))
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
