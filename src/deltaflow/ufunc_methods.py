"""The ufunc methods deltaflow's ops use, on every device: ``accumulate`` (running max/min,
log-cum-sum-exp), ``reduce_at`` (``ufunc.at``: scatter-reduce, embedding bags) and
``assign_last`` (``out[index] = values`` where an index repeats). NumPy runs its own; CuPy
lacks ``maximum.accumulate``, ``logaddexp.accumulate`` and ``multiply.at``, rounds float64
``maximum.at``/``minimum.at`` through float32 (CuPy 14.2 on an H200: 9/14 came back as
0.6428571343…), and leaves unspecified which repeated write wins, so there the same
results come from data-parallel scans (log₂ n passes of elementwise ops, no per-element
Python):

* running f along an axis (Hillis–Steele):  for k = 1, 2, 4, …:  sᵢ ← f(sᵢ, sᵢ₋ₖ)  (i ≥ k);
* ``out[p] ← f(out[p], v₁, v₂, …)`` for the values sent to each p: the values sorted by p
  (stably), the same scan within each run of equal p (sᵢ₋ₖ counts only when pᵢ₋ₖ = pᵢ), and
  each run's last sᵢ reduced into ``out``.

f is associative, so the results equal NumPy's; only a sum or product may differ from the
sequential order's by rounding."""
from __future__ import annotations

import numpy as np

from .backend import xp_of


def accumulate(name, a, axis):
    """``xp.<name>.accumulate(a, axis=axis)`` for the associative ufunc ``name``
    (maximum, minimum, logaddexp)."""
    xp = xp_of(a)
    if xp is np:
        return getattr(np, name).accumulate(a, axis=axis)
    return doubling_scan(xp, getattr(xp, name), a, axis)


def reduce_at(name, out, index, values):
    """``xp.<name>.at(out, index, values)``: ``out[index[i]] = f(out[index[i]], values[i])``
    for every i, in place, repeated indices reduced together; ``index`` is a 1-D integer
    array into ``out``'s first axis."""
    xp = xp_of(out)
    if xp is np or name == "add":   # CuPy's add.at: native atomic adds (in no fixed order)
        getattr(xp, name).at(out, index, values)
    else:
        segmented_reduce_at(xp, getattr(xp, name), out, index, values)


def assign_last(out, index, values):
    """``out[index] = values`` along ``out``'s first axis, the last write winning where an
    index repeats (NumPy's rule; CuPy's order is unspecified)."""
    xp = xp_of(out)
    if xp is np:
        out[index] = values
    else:
        last_writes(xp, out, index, values)


def doubling_scan(xp, f, a, axis):
    """The running ``f`` of ``a`` along ``axis`` in ⌈log₂ n⌉ elementwise passes."""
    if a.ndim == 0:
        return a.copy()
    s = xp.moveaxis(a, axis, 0).copy()
    shift = 1
    while shift < s.shape[0]:
        s[shift:] = f(s[shift:], s[:-shift])        # the right side is a new array
        shift *= 2
    return xp.moveaxis(s, 0, axis)


def segmented_reduce_at(xp, f, out, index, values):
    """``f.at(out, index, values)`` by a scan within the runs of equal (sorted) indices."""
    keys, order, last = _runs(xp, index)
    s = xp.broadcast_to(values, index.shape + out.shape[1:])[order].copy()
    shift = 1
    while shift < len(keys):
        same = (keys[shift:] == keys[:-shift]).reshape((-1,) + (1,) * (s.ndim - 1))
        s[shift:] = xp.where(same, f(s[shift:], s[:-shift]), s[shift:])
        shift *= 2
    targets = keys[last]
    out[targets] = f(out[targets], s[last])


def last_writes(xp, out, index, values):
    """``out[index] = values`` with only each run's last write made (no repeats remain)."""
    keys, order, last = _runs(xp, index)
    out[keys[last]] = xp.broadcast_to(values, index.shape + out.shape[1:])[order][last]


def _runs(xp, index):
    """``(keys, order, last)``: the indices sorted stably, the sorting permutation, and a
    mask of each run's last element."""
    order = xp.argsort(index, kind="stable")
    keys = index[order]
    last = xp.ones(len(keys), dtype=bool)
    last[:-1] = keys[1:] != keys[:-1]
    return keys, order, last
