"""Scaled dot-product attention as one fused op."""
from __future__ import annotations

from ..autograd.function import Function
from ..backend import xp_of
from ..sums import row_sums
from . import softmax_kernels


def _masked_softmax(s, xp, scale=1.0, mask=None):
    """Row softmax of s·scale + mask that gives all-zero rows where every score is −∞ (a
    fully masked query), in place of s: exp(x − max) / Σ exp(x − max), x = s·scale + mask
    (:mod:`.softmax_kernels`)."""
    kernels = softmax_kernels.pick(s, mask)
    s = kernels.shift(s, scale, mask)
    e = xp.exp(s, out=s)
    return kernels.normalize(e, row_sums(e))


class ScaledDotProductAttention(Function):
    """O = dropout(P)·V,  P = softmax(s·Q·Kᵀ + M)  (M additive: 0 / −∞ or any float mask).

    With D = dropout keep-mask / (1 − p) (or 1), P̃ = P ⊙ D, and G = ∂L/∂O:
        ∂L/∂V = P̃ᵀ·G,   ∂L/∂P = (G·Vᵀ + ∂L/∂P̃_returned) ⊙ D,
        ∂L/∂S = P ⊙ (∂L/∂P − rowsum(∂L/∂P ⊙ P)),  where rowsum(∂L/∂P ⊙ P) = rowsum(G ⊙ O)
                  without dropout and returned weights (an (L, Ev) pass instead of (L, S)),
        ∂L/∂Q = s·∂L/∂S·K,   ∂L/∂K = s·∂L/∂Sᵀ·Q,   ∂L/∂M = ∂L/∂S.
    Inputs: Q (..., L, E), K (..., S, E), V (..., S, Ev) and optionally M (broadcastable to
    (..., L, S)). Options: ``scale`` s, ``keep`` (bool dropout mask of P's shape or None),
    ``p`` (dropout probability), ``return_weights`` (also output P̃, differentiable).
    """

    name = "scaled_dot_product_attention"

    def forward(self, q, k, v, mask=None, scale=1.0, keep=None, p=0.0, return_weights=False):
        xp = xp_of(q)
        # Kᵀ (and Vᵀ in backward) copied C-ordered: NumPy's batched GEMM on the transposed
        # view was 1.4x slower (64x32x64 per head) than the copy plus the GEMM
        s = xp.matmul(q, xp.ascontiguousarray(k.swapaxes(-1, -2)))
        probs = _masked_softmax(s, xp, scale, mask)
        dropped = probs if keep is None else probs * keep * (1.0 / (1.0 - p))
        out = xp.matmul(dropped, v)
        if self.needs_input_grad is not None:
            self.q, self.k, self.v, self.probs, self.dropped = q, k, v, probs, dropped
            self.out = out
            self.scale, self.keep, self.p = scale, keep, p
            self.has_mask = mask is not None
        if return_weights:
            return out, dropped
        return out

    def backward(self, g, g_weights=None):
        xp = xp_of(g)
        q, k, v, probs = self.q, self.k, self.v, self.probs
        need = self.needs_input_grad
        dv = xp.matmul(self.dropped.swapaxes(-1, -2), g) if need[2] else None
        dp = xp.matmul(g, xp.ascontiguousarray(v.swapaxes(-1, -2)))
        if g_weights is not None:
            dp += g_weights
        if self.keep is not None:
            dp *= self.keep
            dp *= 1.0 / (1.0 - self.p)
        if self.keep is None and g_weights is None:
            rows = row_sums(g * self.out)
        else:
            rows = row_sums(dp * probs)
        ds = softmax_kernels.pick(dp, rows, probs).grad(dp, rows, probs)
        dq = dk = None
        if need[0]:
            dq = xp.matmul(ds, k)
            dq *= self.scale
        if need[1]:
            dk = xp.matmul(ds.swapaxes(-1, -2), q)
            dk *= self.scale
        if self.has_mask:
            return dq, dk, dv, (ds if need[3] else None)
        return dq, dk, dv

    def backward_graph(self, g, g_weights=None):
        """Under ``create_graph``: the gradient of the docstring's formula recomputed on
        Tensors (the row maximum that keeps the softmax stable is a constant; a fully
        masked row stays zero)."""
        scale, p = self.scale, self.p
        dropout = None if self.keep is None else self.keep * (1.0 / (1.0 - p))

        def formula(q, k, v, mask=None):
            xp = xp_of(q)
            s = xp.matmul(q, xp.swapaxes(k, -1, -2)) * scale
            if mask is not None:
                s = s + mask
            top = s.data.max(axis=-1, keepdims=True)
            top[~xp_of(top).isfinite(top)] = 0
            e = xp.exp(s - top)
            total = xp.sum(e, axis=-1, keepdims=True)
            probs = e / xp.where(total.data == 0, 1.0, total)
            dropped = probs if dropout is None else probs * dropout
            out = xp.matmul(dropped, v)
            return (out, dropped) if g_weights is not None else out

        grads = (g,) if g_weights is None else (g, g_weights)
        return self.recompute_backward(formula, *grads)


__all__ = ["ScaledDotProductAttention"]
