"""Matrix products."""
from __future__ import annotations

from ..autograd.function import Function
from ..backend import xp_of


class MatMul(Function):
    """C = A @ B (with NumPy's 1-D and batch-broadcast rules);
    ∂L/∂A = ∂L/∂C · Bᵀ,  ∂L/∂B = Aᵀ · ∂L/∂C."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return xp_of(a).matmul(a, b)

    def backward(self, g):
        xp = xp_of(g)
        a, b = self.a, self.b
        need = self.needs_input_grad
        if a.ndim == 1 and b.ndim == 1:
            return (g * b if need[0] else None), (g * a if need[1] else None)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = g
        if a.ndim == 1:
            g2 = xp.expand_dims(g2, -2)
        if b.ndim == 1:
            g2 = xp.expand_dims(g2, -1)
        ga = gb = None
        if need[0]:
            ga = xp.matmul(g2, b2.swapaxes(-1, -2))
            if a.ndim == 1:
                ga = ga.reshape(-1, a.shape[0]).sum(axis=0)
        if need[1]:
            if b2.ndim == 2 and a2.ndim > 2:
                # B is shared by the whole batch: fold the batch into rows, one GEMM
                gb = a2.reshape(-1, a2.shape[-1]).T @ g2.reshape(-1, g2.shape[-1])
            else:
                gb = xp.matmul(a2.swapaxes(-1, -2), g2)
            if b.ndim == 1:
                gb = gb.reshape(-1, b.shape[0]).sum(axis=0)
        return ga, gb
