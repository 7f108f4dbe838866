"""Fused affine map: the hot path of every MLP."""
from __future__ import annotations

from ..autograd.function import Function


class Linear(Function):
    """y = x·Wᵀ + b  (x: (..., in), W: (out, in), b: (out,));
    ∂L/∂x = g·W,  ∂L/∂W = gᵀ·x,  ∂L/∂b = Σ g over all rows.

    Leading dims of x are folded into rows, so forward and each weight gradient is one GEMM
    (no transposed copies: BLAS reads Wᵀ and gᵀ as views)."""

    def forward(self, x, weight, bias=None):
        rows = x.reshape(-1, x.shape[-1]) if x.ndim != 2 else x
        y = rows @ weight.T
        if bias is not None:
            y += bias
        self.rows, self.weight, self.x_shape = rows, weight, x.shape
        return y if x.ndim == 2 else y.reshape(x.shape[:-1] + (weight.shape[0],))

    def backward(self, g):
        need = self.needs_input_grad
        g2 = g if g.ndim == 2 else g.reshape(-1, g.shape[-1])
        gx = gw = gb = None
        if need[0]:
            gx = g2 @ self.weight
            if len(self.x_shape) != 2:
                gx = gx.reshape(self.x_shape)
        if need[1]:
            gw = g2.T @ self.rows
        if len(need) == 2:
            return gx, gw
        if need[2]:
            gb = g2.sum(axis=0)
        return gx, gw, gb
