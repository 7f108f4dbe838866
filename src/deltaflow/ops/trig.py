"""Trigonometric and hyperbolic functions, their inverses, and atan2.

Each op saves its input (or its output, where the derivative is written in it) and works
on raw arrays through ``xp`` (NumPy or CuPy).
"""
from __future__ import annotations

import numpy as np

from ..autograd.function import Function
from ..backend import xp_of


class Sin(Function):
    """z = sin a;  ∂z/∂a = cos a."""

    def forward(self, a):
        self.a = a
        return xp_of(a).sin(a)

    def backward(self, g):
        return g * xp_of(g).cos(self.a)


class Cos(Function):
    """z = cos a;  ∂z/∂a = −sin a."""

    def forward(self, a):
        self.a = a
        return xp_of(a).cos(a)

    def backward(self, g):
        return -g * xp_of(g).sin(self.a)


class Tan(Function):
    """z = tan a;  ∂z/∂a = 1 + z²."""

    saved_outputs = ("out",)

    def forward(self, a):
        self.out = xp_of(a).tan(a)
        return self.out

    def backward(self, g):
        return g * (1 + self.out * self.out)


class Asin(Function):
    """z = asin a;  ∂z/∂a = 1/√(1 − a²)."""

    def forward(self, a):
        self.a = a
        return xp_of(a).arcsin(a)

    def backward(self, g):
        return g / xp_of(g).sqrt(1 - self.a * self.a)


class Acos(Function):
    """z = acos a;  ∂z/∂a = −1/√(1 − a²)."""

    def forward(self, a):
        self.a = a
        return xp_of(a).arccos(a)

    def backward(self, g):
        return -g / xp_of(g).sqrt(1 - self.a * self.a)


class Atan(Function):
    """z = atan a;  ∂z/∂a = 1/(1 + a²)."""

    def forward(self, a):
        self.a = a
        return xp_of(a).arctan(a)

    def backward(self, g):
        return g / (1 + self.a * self.a)


class Sinh(Function):
    """z = sinh a;  ∂z/∂a = cosh a."""

    def forward(self, a):
        self.a = a
        return xp_of(a).sinh(a)

    def backward(self, g):
        return g * xp_of(g).cosh(self.a)


class Cosh(Function):
    """z = cosh a;  ∂z/∂a = sinh a."""

    def forward(self, a):
        self.a = a
        return xp_of(a).cosh(a)

    def backward(self, g):
        return g * xp_of(g).sinh(self.a)


class Asinh(Function):
    """z = asinh a;  ∂z/∂a = 1/√(a² + 1)."""

    def forward(self, a):
        self.a = a
        return xp_of(a).arcsinh(a)

    def backward(self, g):
        return g / xp_of(g).sqrt(self.a * self.a + 1)


class Acosh(Function):
    """z = acosh a (a ≥ 1);  ∂z/∂a = 1/√((a − 1)(a + 1))."""

    def forward(self, a):
        self.a = a
        return xp_of(a).arccosh(a)

    def backward(self, g):
        return g / xp_of(g).sqrt((self.a - 1) * (self.a + 1))


class Atanh(Function):
    """z = atanh a (|a| < 1);  ∂z/∂a = 1/(1 − a²)."""

    def forward(self, a):
        self.a = a
        return xp_of(a).arctanh(a)

    def backward(self, g):
        return g / (1 - self.a * self.a)


class Atan2(Function):
    """z = atan2(y, x), the angle of the point (x, y);
    ∂z/∂y = x/(x² + y²),  ∂z/∂x = −y/(x² + y²) (both 0 at the origin, as in PyTorch)."""

    def forward(self, y, x):
        self.y, self.x = y, x
        return xp_of(y).arctan2(y, x)

    def backward(self, g):
        xp = xp_of(g)
        need = self.needs_input_grad
        y, x = self.y, self.x
        r2 = x * x + y * y
        with np.errstate(divide="ignore"):  # CuPy never warns
            scale = g * xp.where(r2 == 0, 0, 1 / r2)
        return (scale * x if need[0] else None), (-scale * y if need[1] else None)
