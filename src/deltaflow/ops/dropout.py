"""Dropout: multiply by a random keep-mask scaled by 1/(1 − p)."""
from __future__ import annotations

from ..autograd.function import Function


class Dropout(Function):
    """y = x ⊙ m with m = [u ≥ p]/(1 − p) (drawn by the caller, possibly broadcast, e.g.
    one value per channel);  ∂L/∂x = g ⊙ m."""

    def forward(self, x, mask):
        self.mask = mask
        return x * mask

    def backward(self, g):
        return g * self.mask
