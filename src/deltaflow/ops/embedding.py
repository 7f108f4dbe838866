"""Embedding lookup: rows of a weight matrix selected by integer indices."""
from __future__ import annotations

from ..autograd.function import Function
from ..backend import xp_of
from ..ufunc_methods import reduce_at
from . import scatter_kernels


def scatter_rows(index, rows, n_rows, ordered=False):
    """out[i] = Σ rows[k] over k with index[k] = i, as an (n_rows, D) array, in k's order
    (``ordered``: ``index`` is non-decreasing already) (:mod:`.scatter_kernels`)."""
    return scatter_kernels.pick(rows, index).scatter_rows(index, rows, n_rows, ordered)


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
    """Reduce the looked-up rows W[index_k] of each bag b = bag_k: sum y_b = Σ_k w_k·W[index_k]
    (w: ``per_sample_weights``, else 1), mean y_b = Σ_k W[index_k] / n_b, max
    y_b,d = max_k W[index_k, d] (an empty bag gives 0); ∂L/∂W[i] = Σ_{k: index_k = i}
    w_k·∂L/∂y_{bag_k} (mean: divided by n_b; max: only the first k reaching the maximum,
    per column d; ``scale_grad_by_freq``: divided by the count of i),
    ∂L/∂w_k = ∂L/∂y_{bag_k} · W[index_k].

    ``index`` is a 2-D (B, L) array of B bags of L entries (bag_k = k // L) or a 1-D one cut
    into bags at ``offsets`` (the start of each); entries equal to ``padding_idx`` belong to
    no bag (∂L/∂w_k = 0 there) and are left out of all the work: the gathers and scatters
    run over the kept entries only."""

    name = "embedding_bag"

    def forward(self, weight, *per_sample_weights, index, offsets=None, padding_idx=None,
                mode="mean", scale_grad_by_freq=False):
        xp = xp_of(weight)
        flat = index.reshape(-1)
        self.n_samples = flat.size
        self.kept = None if padding_idx is None else xp.flatnonzero(flat != padding_idx)
        at = xp.arange(flat.size) if self.kept is None else self.kept   # kept positions
        if offsets is None:
            n_bags, bag = index.shape[0], at // max(index.shape[1], 1)
        else:
            n_bags, bag = len(offsets), xp.searchsorted(offsets, at, side="right") - 1
        sample = per_sample_weights[0] if per_sample_weights else None
        if sample is not None:
            self.sample_shape, sample = sample.shape, sample.reshape(-1)
        if self.kept is not None:
            flat = flat[self.kept]
            sample = None if sample is None else sample[self.kept]
        rows = weight[flat]
        counts = xp.bincount(bag, minlength=n_bags)
        self.index, self.bag, self.counts, self.shape = flat, bag, counts, weight.shape
        self.mode, self.scale, self.sample_weights = mode, scale_grad_by_freq, sample
        self.weight = weight if sample is not None else None        # for ∂L/∂w
        if mode == "max":
            best = xp.full((n_bags, weight.shape[1]), -xp.inf, dtype=weight.dtype)
            reduce_at("maximum", best, bag, rows)
            k = len(flat)
            first = xp.full(best.shape, k, dtype=xp.int64)
            reaching = xp.where(rows == best[bag], xp.arange(k)[:, None], k)
            reduce_at("minimum", first, bag, reaching)
            self.nonempty = xp.flatnonzero(counts)
            self.argmax_rows = flat[first[self.nonempty]]           # (non-empty bags, D)
            best[counts == 0] = 0
            return best
        if sample is not None:                               # rows: a copy (fancy index)
            xp.multiply(rows, sample[:, None], out=rows, casting="same_kind")
        out = scatter_rows(bag, rows, n_bags, ordered=True)  # the bags run in order
        if mode == "mean":
            out /= xp.maximum(counts, 1)[:, None].astype(out.dtype)
        return out

    def _all_samples(self, g_kept):
        """∂L/∂w of every entry of the input (0 at the padding) from the kept entries'."""
        if self.kept is None:
            return g_kept
        out = xp_of(g_kept).zeros(self.n_samples, dtype=g_kept.dtype)
        out[self.kept] = g_kept
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
        g_rows = g[self.bag]                                 # ∂L/∂y_{bag_k}, a copy
        if self.mode == "mean":
            g_rows /= xp.maximum(self.counts, 1)[self.bag, None].astype(g.dtype)
        g_samples = None
        if self.sample_weights is not None and need[1]:
            g_kept = xp.einsum("kd,kd->k", g_rows, self.weight[self.index])
            g_samples = self._all_samples(g_kept).reshape(self.sample_shape)
        gw = None
        if need[0]:
            if self.sample_weights is not None:
                xp.multiply(g_rows, self.sample_weights[:, None], out=g_rows,
                            casting="same_kind")
            gw = scatter_rows(self.index, g_rows, n_rows)
            if self.scale:
                gw /= xp.maximum(xp.bincount(self.index, minlength=n_rows), 1)[:, None].astype(
                    gw.dtype)
        return gw if self.sample_weights is None else (gw, g_samples)

    def backward_graph(self, g):
        """Under ``create_graph``: the gradients of the bag sums as matrix products, y = A·R
        with the rows R = w ⊙ W[index] (sum, mean: A[b, k] = [bag_k = b], divided by n_b for
        a mean) or R = W[argmax rows, d] (max: A picks the non-empty bags), recomputed on
        Tensors over the kept entries; ∂L/∂W then gets ``scale_grad_by_freq``'s 1/count
        factor."""
        xp = xp_of(self.bag)
        if self.mode == "max":
            rows = self.nonempty
            cols, dim = xp.arange(len(rows)), self.shape[1]
            picks = lambda w: w[self.argmax_rows, xp.arange(dim)]  # noqa: E731
        else:
            rows, cols = self.bag, xp.arange(len(self.bag))

            def picks(w, *sw):
                if not sw:
                    return w[self.index]
                sw = sw[0].reshape(-1)
                return w[self.index] * (sw if self.kept is None else sw[self.kept])[:, None]
        bags = xp.zeros((len(self.counts), len(cols)), dtype=g.dtype)
        bags[rows, cols] = 1.0
        if self.mode == "mean":
            bags /= xp.maximum(self.counts, 1)[:, None]
        grads = self.recompute_backward(lambda w, *sw: xp_of(w).matmul(bags, picks(w, *sw)), g)
        if self.scale and grads[0] is not None:
            factors = _row_factors(self.index, self.shape[0], True, None, g.dtype)
            grads = (grads[0] * factors,) + grads[1:]
        return grads if self.sample_weights is not None else grads[0]
