"""Ops behind PyTorch-parity functions that are better fused than composed: erfc (1 − erf a
loses every digit for large a), the two remainders (a − b·q rounds differently from the
exact ``fmod``), logaddexp, hypot, copysign and logit (one node that saves its inputs, so
their in-place forms ``x.hypot_(y)`` keep a correct backward)."""
from __future__ import annotations

import numpy as np

from ..autograd.function import Function
from ..backend import xp_of
from .elementwise import special_function


class Erfc(Function):
    """z = erfc a = 1 − erf a;  ∂z/∂a = −(2/√π) e^(−a²)."""

    def forward(self, a):
        self.a = a
        return special_function("erfc", a)(a)

    def backward(self, g):
        return g * (-2 / np.sqrt(np.pi)) * xp_of(g).exp(-self.a * self.a)


class Fmod(Function):
    """z = a − b·trunc(a/b) (the sign of a);  ∂z/∂a = 1, ∂z/∂b = −trunc(a/b)."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return xp_of(a).fmod(a, b)

    def backward(self, g):
        need = self.needs_input_grad
        quotient = xp_of(g).trunc(self.a / self.b) if need[1] else None
        return (g if need[0] else None), (-g * quotient if need[1] else None)


class Remainder(Function):
    """z = a − b·floor(a/b) (the sign of b);  ∂z/∂a = 1, ∂z/∂b = −floor(a/b)."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return xp_of(a).remainder(a, b)

    def backward(self, g):
        need = self.needs_input_grad
        quotient = xp_of(g).floor_divide(self.a, self.b) if need[1] else None
        return (g if need[0] else None), (-g * quotient if need[1] else None)


class LogAddExp(Function):
    """z = ln(eᵃ + eᵇ);  ∂z/∂a = e^(a − z), ∂z/∂b = e^(b − z) (½ each at a = b)."""

    saved_outputs = ("out",)

    def forward(self, a, b, base2=False):
        xp = xp_of(a)
        self.a, self.b, self.base2 = a, b, base2
        self.out = (xp.logaddexp2 if base2 else xp.logaddexp)(a, b)
        return self.out

    def backward(self, g):
        xp, need = xp_of(g), self.needs_input_grad
        share = xp.exp2 if self.base2 else xp.exp
        return (g * share(self.a - self.out) if need[0] else None,
                g * share(self.b - self.out) if need[1] else None)


class Hypot(Function):
    """z = √(a² + b²);  ∂z/∂a = a/z, ∂z/∂b = b/z."""

    saved_outputs = ("out",)

    def forward(self, a, b):
        self.a, self.b = a, b
        self.out = xp_of(a).hypot(a, b)
        return self.out

    def backward(self, g):
        need = self.needs_input_grad
        return (g * self.a / self.out if need[0] else None,
                g * self.b / self.out if need[1] else None)


class Copysign(Function):
    """z = |a| · sign(b) (−0.0 negative);  ∂z/∂a = z/a (0 at a = 0); b gets no gradient."""

    saved_outputs = ("out",)

    def forward(self, a, b):
        xp = xp_of(a)
        self.a, self.out = a, xp.copysign(a, b)
        return self.out

    def backward(self, g):
        xp = xp_of(g)
        return g * xp.where(self.a == 0, 0, self.out / xp.where(self.a == 0, 1, self.a)), None


class Logit(Function):
    """z = ln(x / (1 − x)), x clamped to [eps, 1 − eps] when eps is given;
    ∂z/∂x = 1 / (x(1 − x)), 0 outside [eps, 1 − eps]."""

    def forward(self, a, eps=None):
        xp = xp_of(a)
        self.a, self.eps = a, eps
        x = a if eps is None else xp.clip(a, eps, 1 - eps)
        return xp.log(x / (1 - x))

    def backward(self, g):
        xp, a = xp_of(g), self.a
        grad = g / (a * (1 - a))
        if self.eps is None:
            return grad
        return xp.where((a < self.eps) | (a > 1 - self.eps), 0, grad)
