"""Adding rows into the rows they index — an embedding's gradient, a bag's sum — as
NumPy/CuPy passes and as a loop compiled by Numba when it is installed (see
:mod:`deltaflow.jit`):

``scatter_rows``  out[i] = Σ_{k: index_k = i} rows[k]  (k in increasing order; 0 where no
                  index is i), an (n_rows, D…) array

The passes sort the indices (stably; not when they are ``ordered`` already), gather the
rows in that order (a copy of all of them) and add each run of equal indices with one
``add.reduceat`` (NumPy sums each run pairwise: its first row plus the pairwise sum of the
rest); CuPy uses ``add.at``. The loop walks the rows once in their own order and adds each
into its output row (the first one copied), a sequential sum: the two agree to rounding,
|Δout[i]| ≤ 2·n_i·u·Σ_{k: index_k = i} |rows[k]| (n_i the rows added into row i, u the unit
round-off; tests/test_scatter_kernels.py). The Transformer benchmark's embedding gradient,
2048 rows of 128 into 65: 0.60 → 0.05 ms (docs/performance.md). ``pick(rows, index)``
returns the loop for a C-ordered NumPy float ``rows`` array of at least ``MIN_SIZE`` values
with an integer ``index`` (one per row), else the passes. The indices are those an op has
already used to gather with (its forward), so they are in range.
"""
from __future__ import annotations

import numpy as np

from ..backend import xp_of
from ..jit import MIN_SIZE, Compiled, Kernels, Passes


def _scatter_rows(index, rows, out, seen):
    K, D = rows.shape
    for k in range(K):
        i = index[k]
        if seen[i]:
            for d in range(D):
                out[i, d] += rows[k, d]
        else:
            seen[i] = True
            for d in range(D):
                out[i, d] = rows[k, d]


class _Passes(Passes):
    def scatter_rows(self, index, rows, n_rows, ordered=False):
        xp = xp_of(rows)
        out = xp.zeros((n_rows,) + rows.shape[1:], dtype=rows.dtype)
        if index.size == 0:
            return out
        if xp is not np:  # pragma: no cover - GPU only
            xp.add.at(out, index, rows)
            return out
        if not ordered:
            order = np.argsort(index, kind="stable")
            index, rows = index[order], rows[order]
        starts = np.flatnonzero(np.r_[True, index[1:] != index[:-1]])
        out[index[starts]] = np.add.reduceat(rows, starts, axis=0)
        return out


class _Compiled(Compiled):
    def scatter_rows(self, index, rows, n_rows, ordered=False):
        out = np.zeros((n_rows,) + rows.shape[1:], dtype=rows.dtype)
        self.loops.scatter_rows(index, rows.reshape(len(rows), -1), out.reshape(n_rows, -1),
                                np.zeros(n_rows, np.bool_))
        return out


def _applies(rows, index):
    return rows.size >= MIN_SIZE and rows.flags.c_contiguous and \
        isinstance(index, np.ndarray) and index.dtype.kind in "iu" and \
        index.shape == rows.shape[:1]


pick = Kernels(_Passes(), _Compiled, _applies, scatter_rows=_scatter_rows).pick
