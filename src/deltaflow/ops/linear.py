"""Fused affine map: the hot path of every MLP."""
from __future__ import annotations

from ..autograd.function import Function
from ..sums import leading_sums


def blas_product(a, b):
    """a·b for 2-D a (M, K) and b (K, N), computed as (bᵀ·aᵀ)ᵀ when M < N ≤ 2048.

    OpenBLAS splits a product over its threads better when the output has more rows than
    columns: at batch 128 the MLP's x·Wᵀ (128 × 512) runs 20–35% faster as (W·xᵀ)ᵀ; but
    a (2048 × 128) product runs 30% slower that way, and so does a very wide (64 × 3136)
    one (measurements in docs/performance.md). The result of the transposed call is
    F-ordered; NumPy's elementwise ops and the next Linear (whose W·xᵀ then reads xᵀ as a
    C-ordered array) take it as it is. ∂L/∂x follows the same rule as y, so that a
    gradient meets the activations it is multiplied with (ReLU's mask) in the same layout:
    mixing them made ReLU's backward 6× slower."""
    return (b.T @ a.T).T if a.shape[0] < b.shape[1] <= 2048 else a @ b


class Linear(Function):
    """y = x·Wᵀ + b  (x: (..., in), W: (out, in), b: (out,));
    ∂L/∂x = g·W,  ∂L/∂W = gᵀ·x,  ∂L/∂b = 1ᵀ·g (Σ g over all rows, :mod:`deltaflow.sums`).

    Leading dims of x are folded into rows, so forward and each weight gradient is one GEMM
    (no transposed copies: BLAS reads Wᵀ and gᵀ as views). y and ∂L/∂x are computed in the
    orientation OpenBLAS runs faster (:func:`blas_product`); ∂L/∂W always comes out C-ordered,
    the layout of W, so the optimizer's update loops read both in order."""

    def forward(self, x, weight, bias=None):
        rows = x.reshape(-1, x.shape[-1]) if x.ndim != 2 else x
        y = blas_product(rows, weight.T)
        if bias is not None:
            y += bias
        self.rows, self.weight, self.x_shape = rows, weight, x.shape
        return y if x.ndim == 2 else y.reshape(x.shape[:-1] + (weight.shape[0],))

    def backward(self, g):
        need = self.needs_input_grad
        g2 = g if g.ndim == 2 else g.reshape(-1, g.shape[-1])
        gx = gw = gb = None
        if need[0]:
            gx = blas_product(g2, self.weight)
            if len(self.x_shape) != 2:
                gx = gx.reshape(self.x_shape)
        if need[1]:
            gw = g2.T @ self.rows
        if len(need) == 2:
            return gx, gw
        if need[2]:
            gb = leading_sums(g2)
        return gx, gw, gb

    def backward_graph(self, g):
        """Under ``create_graph``: the gradient of y = x·Wᵀ + b recomputed on Tensors."""
        return self.recompute_backward(lambda x, w, b=None: x @ w.T if b is None
                                       else x @ w.T + b, g)
