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

    def backward_graph(self, g):
        """Under ``create_graph``: ∂L/∂W = s ⊙ (the gradient of W[index]), s the per-row
        factor (1/count with ``scale_grad_by_freq``, 0 at ``padding_idx``), linear in g and
        differentiated again. (PyTorch's double backward leaves out the 1/count factor;
        this one is exact.)"""
        gw, = self.recompute_backward(lambda w: xp_of(w).reshape(w[self.index], g.shape), g)
        return gw * _row_factors(self.index, self.n_rows, self.scale, self.padding_idx, g.dtype)


def _row_factors(index, n_rows, by_freq, padding_idx, dtype):
    """(n_rows, 1) factors of a gathered weight's gradient: 1/count(i) in ``index`` when
    ``by_freq``, 0 at ``padding_idx``, else 1."""
    xp = xp_of(index)
    factors = xp.ones((n_rows, 1), dtype=dtype)
    if by_freq:
        factors /= xp.maximum(xp.bincount(index, minlength=n_rows), 1)[:, None]
    if padding_idx is not None:
        factors[padding_idx] = 0
    return factors


class EmbeddingBag(Function):
    """Reduce the looked-up rows W[index_k] of each bag b = bag_k (bag_k = n_bags: dropped):
    sum y_b = Σ_k w_k·W[index_k] (w: ``per_sample_weights``, else 1), mean y_b = Σ_k W[index_k]
    / n_b, max y_b,d = max_k W[index_k, d] (an empty bag gives 0);
    ∂L/∂W[i] = Σ_{k: index_k = i} w_k·∂L/∂y_{bag_k} (mean: divided by n_b; max: only the first
    k reaching the maximum, per column d; ``scale_grad_by_freq``: divided by the count of i),
    ∂L/∂w_k = ∂L/∂y_{bag_k} · W[index_k]."""

    name = "embedding_bag"

    def forward(self, weight, *per_sample_weights, index, bag, n_bags, mode="mean",
                scale_grad_by_freq=False):
        xp = xp_of(weight)
        rows = weight[index]
        counts = xp.bincount(bag, minlength=n_bags + 1)
        self.index, self.bag, self.counts, self.shape = index, bag, counts, weight.shape
        self.mode, self.scale = mode, scale_grad_by_freq
        self.sample_weights = per_sample_weights[0] if per_sample_weights else None
        self.weight = weight if self.sample_weights is not None else None  # for ∂L/∂w
        if mode == "max":
            best = xp.full((n_bags + 1, weight.shape[1]), -xp.inf, dtype=weight.dtype)
            xp.maximum.at(best, bag, rows)
            k = len(index)
            first = xp.full(best.shape, k, dtype=xp.int64)
            reaching = xp.where(rows == best[bag], xp.arange(k)[:, None], k)
            xp.minimum.at(first, bag, reaching)
            self.nonempty = xp.flatnonzero(counts[:n_bags])
            self.argmax_rows = index[first[self.nonempty]]      # (non-empty bags, D)
            out = best[:n_bags]
            out[counts[:n_bags] == 0] = 0
            return out
        if self.sample_weights is not None:
            rows = rows * self.sample_weights[:, None]
        out = scatter_rows(bag, rows, n_bags + 1)[:n_bags]
        if mode == "mean":
            out /= xp.maximum(counts[:n_bags], 1)[:, None].astype(out.dtype)
        return out

    def backward(self, g):
        xp = xp_of(g)
        need = self.needs_input_grad
        n_rows, dim = self.shape
        if self.mode == "max":
            flat = (self.argmax_rows * dim + xp.arange(dim)).reshape(-1)
            grad = xp.bincount(flat, weights=g[self.nonempty].reshape(-1),
                               minlength=n_rows * dim)
            return grad.reshape(n_rows, dim).astype(g.dtype, copy=False)
        g_rows = xp.concatenate([g, xp.zeros((1, dim), dtype=g.dtype)])[self.bag]
        if self.mode == "mean":
            g_rows /= xp.maximum(self.counts, 1)[self.bag, None].astype(g.dtype)
        gw = None
        if need[0]:
            weighted = g_rows if self.sample_weights is None else \
                g_rows * self.sample_weights[:, None]
            gw = scatter_rows(self.index, weighted, n_rows)
            if self.scale:
                kept = self.index[self.bag < len(self.counts) - 1]
                gw /= xp.maximum(xp.bincount(kept, minlength=n_rows), 1)[:, None].astype(
                    gw.dtype)
        if self.sample_weights is None:
            return gw
        g_samples = (g_rows * self.weight[self.index]).sum(axis=1) if need[1] else None
        return gw, g_samples

    def backward_graph(self, g):
        """Under ``create_graph``: the gradients of the bag sums as matrix products, y = A·R
        with the rows R = w ⊙ W[index] (sum, mean: A[b, k] = [bag_k = b], divided by n_b for
        a mean) or R = W[argmax rows, d] (max: A picks the non-empty bags), recomputed on
        Tensors; ∂L/∂W then gets ``scale_grad_by_freq``'s 1/count factor."""
        xp = xp_of(self.bag)
        n_bags = len(self.counts) - 1
        if self.mode == "max":
            rows = self.nonempty
            cols, dim = xp.arange(len(rows)), self.shape[1]
            picks = lambda w: w[self.argmax_rows, xp.arange(dim)]  # noqa: E731
        else:
            rows, cols = self.bag, xp.arange(len(self.bag))
            picks = lambda w, *sw: w[self.index] * sw[0][:, None] if sw \
                else w[self.index]  # noqa: E731
        bags = xp.zeros((n_bags + 1, len(cols)), dtype=g.dtype)
        bags[rows, cols] = 1.0
        if self.mode == "mean":
            bags /= xp.maximum(self.counts, 1)[:, None]
        bags = bags[:n_bags]
        grads = self.recompute_backward(lambda w, *sw: xp_of(w).matmul(bags, picks(w, *sw)), g)
        if self.scale and grads[0] is not None:
            kept = self.index[self.bag < n_bags]
            factors = _row_factors(kept, self.shape[0], True, None, g.dtype)
            grads = (grads[0] * factors,) + grads[1:]
        return grads if self.sample_weights is not None else grads[0]
