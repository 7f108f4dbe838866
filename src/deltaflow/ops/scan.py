"""Scans along one dim: running sums, products and log-sum-exps (``cumsum`` and kin)."""
from __future__ import annotations

import numpy as np

from ..autograd.function import Function
from ..backend import xp_of
from ..ufunc_methods import accumulate


def reverse_cumsum(xp, a, axis):
    """Σ_{j≥i} aⱼ along ``axis``."""
    return xp.flip(xp.cumsum(xp.flip(a, axis), axis=axis), axis)


class Cumsum(Function):
    """yᵢ = Σ_{j≤i} xⱼ along ``dim``;  ∂L/∂xₖ = Σ_{i≥k} ∂L/∂yᵢ (a reversed cumsum)."""

    def forward(self, x, dim):
        self.dim = dim
        return xp_of(x).cumsum(x, axis=dim)

    def backward(self, g):
        return reverse_cumsum(xp_of(g), g, self.dim)


class Cumprod(Function):
    """yᵢ = Π_{j≤i} xⱼ along ``dim``;  ∂L/∂xₖ = Σ_{i≥k} ∂L/∂yᵢ · Π_{j≤i, j≠k} xⱼ.

    Exact with zeros, as PyTorch: before a slice's first zero that is (Σ_{i≥k} ∂L/∂yᵢ yᵢ)/xₖ;
    at the first zero, Σ_{i≥k} ∂L/∂yᵢ y′ᵢ with y′ the running product of x with that zero
    replaced by 1; after it, 0 (every product there holds the zero)."""

    saved_outputs = ("y",)

    def forward(self, x, dim):
        self.x, self.dim = x, dim
        self.y = xp_of(x).cumprod(x, axis=dim)
        return self.y

    def backward(self, g):
        xp = xp_of(g)
        x, dim = self.x, self.dim
        is_zero = x == 0
        zeros_so_far = xp.cumsum(is_zero, axis=dim)
        before = zeros_so_far == 0
        grad = reverse_cumsum(xp, g * self.y, dim) / xp.where(before, x, 1)
        if before.all():
            return grad
        first_zero = is_zero & (zeros_so_far == 1)
        skipping_it = xp.cumprod(xp.where(first_zero, 1, x), axis=dim)
        at_zero = reverse_cumsum(xp, g * skipping_it, dim)
        return xp.where(before, grad, xp.where(first_zero, at_zero, 0))

    def backward_graph(self, g):
        """The product formula itself, ∂L/∂xₖ = Σ_{i≥k} gᵢ Π_{j≤i, j≠k} xⱼ, as n running
        products of x with xₖ set to 1 (O(n²) work, exact at zeros to every order)."""
        x = self.saved_tensors()["x"]
        xp = xp_of(x)
        n = x.shape[self.dim]
        xs, gs = xp.moveaxis(x, self.dim, -1), xp.moveaxis(g, self.dim, -1)
        eye = np.eye(n, dtype=bool)                                  # [k, j]: j = k
        rows = xp.where(eye, 1.0, xp.expand_dims(xs, -2))            # [..., k, j]
        products = xp.cumprod(rows, axis=-1)                         # [..., k, i]
        later = np.triu(np.ones((n, n), dtype=bool))                 # [k, i]: i ≥ k
        grad = xp.sum(products * xp.expand_dims(gs, -2) * later, axis=-1)
        return xp.moveaxis(grad, -1, self.dim)


class LogCumSumExp(Function):
    """yᵢ = ln Σ_{j≤i} e^{xⱼ} along ``dim``;  ∂L/∂xₖ = Σ_{i≥k} ∂L/∂yᵢ e^{xₖ − yᵢ}, summed in
    log space for the positive and the negative parts of ∂L/∂y (nothing overflows)."""

    saved_outputs = ("y",)

    def forward(self, x, dim):
        self.x, self.dim = x, dim
        self.y = accumulate("logaddexp", x, dim)
        return self.y

    def backward(self, g):
        xp = xp_of(g)
        x, y, dim = self.x, self.y, self.dim

        def part(weights):  # Σ_{i≥k} wᵢ e^{xₖ − yᵢ} for w ≥ 0
            with np.errstate(divide="ignore"):
                log_w = xp.log(weights)
            tail = xp.flip(accumulate("logaddexp", xp.flip(log_w - y, dim), dim), dim)
            return xp.exp(x + tail)

        return part(xp.maximum(g, 0)) - part(xp.maximum(-g, 0))

    def backward_graph(self, g):
        m = xp_of(self.x).max(self.x, axis=self.dim, keepdims=True)   # a constant shift
        return self.recompute_backward(lambda x: xp_of(x).log(xp_of(x).cumsum(
            xp_of(x).exp(x - m), axis=self.dim)) + m, g)[0]
