"""Embedding lookup: rows of a weight matrix selected by integer indices."""
from __future__ import annotations

import numpy as np

from ..autograd.function import Function
from ..backend import xp_of


def scatter_rows(index, rows, n_rows):
    """out[i] = Σ rows[k] over k with index[k] = i, as an (n_rows, D) array.

    On NumPy: sort the indices once, then one ``add.reduceat`` over runs of equal indices
    (faster than ``np.add.at`` and deterministic); on CuPy: ``cupy.add.at``."""
    xp = xp_of(rows)
    out = xp.zeros((n_rows,) + rows.shape[1:], dtype=rows.dtype)
    if index.size == 0:
        return out
    if xp is not np:  # pragma: no cover - GPU only
        xp.add.at(out, index, rows)
        return out
    order = np.argsort(index, kind="stable")
    sorted_idx = index[order]
    starts = np.flatnonzero(np.r_[True, sorted_idx[1:] != sorted_idx[:-1]])
    out[sorted_idx[starts]] = np.add.reduceat(rows[order], starts, axis=0)
    return out


class Embedding(Function):
    """y[..., :] = W[index[...], :];  ∂L/∂W[i] = Σ_{k: index_k = i} ∂L/∂y_k
    (0 for ``padding_idx``; divided by the count of i in the batch with
    ``scale_grad_by_freq``)."""

    def forward(self, weight, index, padding_idx=None, scale_grad_by_freq=False):
        self.index, self.n_rows = index.reshape(-1), weight.shape[0]
        self.padding_idx, self.scale = padding_idx, scale_grad_by_freq
        return weight[index]

    def backward(self, g):
        xp = xp_of(g)
        rows = g.reshape(-1, g.shape[-1])
        grad = scatter_rows(self.index, rows, self.n_rows)
        if self.scale:
            counts = xp.bincount(self.index, minlength=self.n_rows)
            grad /= xp.maximum(counts, 1)[:, None].astype(grad.dtype)
        if self.padding_idx is not None:
            grad[self.padding_idx] = 0
        return grad
