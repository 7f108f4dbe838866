"""Elementwise arithmetic and math ops.

Each op works on raw arrays through ``xp`` (NumPy or CuPy); gradients of broadcast inputs
are returned in the broadcast shape and reduced by the engine.
"""
from __future__ import annotations

import numpy as np

from ..autograd.function import Function
from ..backend import xp_of


class Add(Function):
    """z = a + b;  ∂z/∂a = 1, ∂z/∂b = 1."""

    def forward(self, a, b):
        return a + b

    def backward(self, g):
        return g, g


class Sub(Function):
    """z = a − b;  ∂z/∂a = 1, ∂z/∂b = −1."""

    def forward(self, a, b):
        return a - b

    def backward(self, g):
        return g, -g


class Mul(Function):
    """z = a · b;  ∂z/∂a = b, ∂z/∂b = a."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, g):
        need = self.needs_input_grad
        return (g * self.b if need[0] else None), (g * self.a if need[1] else None)


class Div(Function):
    """z = a / b;  ∂z/∂a = 1/b, ∂z/∂b = −a/b²."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return a / b

    def backward(self, g):
        need = self.needs_input_grad
        ga = g / self.b if need[0] else None
        gb = -g * self.a / (self.b * self.b) if need[1] else None
        return ga, gb


class Neg(Function):
    """z = −a;  ∂z/∂a = −1."""

    def forward(self, a):
        return -a

    def backward(self, g):
        return -g


class Pow(Function):
    """z = aᵇ;  ∂z/∂a = b·aᵇ⁻¹ (0 where b = 0), ∂z/∂b = aᵇ·ln a (0 where a = 0 and b ≥ 0)."""

    def forward(self, a, b):
        self.a, self.b = a, b
        self.out = a ** b
        return self.out

    def backward(self, g):
        xp = xp_of(g)
        need = self.needs_input_grad
        a, b = self.a, self.b
        ga = gb = None
        with np.errstate(divide="ignore", invalid="ignore"):  # CuPy never warns
            if need[0]:
                ga = g * xp.where(b == 0, 0, b * a ** (b - 1))
            if need[1]:
                gb = g * xp.where((a == 0) & (b >= 0), 0, self.out * xp.log(a))
        return ga, gb


class PowScalar(Function):
    """z = aᵖ for a constant p;  ∂z/∂a = p·aᵖ⁻¹ (0 for p = 0, also at a = 0)."""

    name = "pow"

    def forward(self, a, p):
        self.a, self.p = a, p
        return a ** p

    def backward(self, g):
        p = self.p
        if p == 0:
            return xp_of(g).zeros_like(g)
        if p == 2:
            return g * 2 * self.a
        return g * p * self.a ** (p - 1)


class Exp(Function):
    """z = eᵃ;  ∂z/∂a = eᵃ."""

    def forward(self, a):
        self.out = xp_of(a).exp(a)
        return self.out

    def backward(self, g):
        return g * self.out


class Log(Function):
    """z = ln a;  ∂z/∂a = 1/a."""

    def forward(self, a):
        self.a = a
        return xp_of(a).log(a)

    def backward(self, g):
        return g / self.a


class Log1p(Function):
    """z = ln(1 + a);  ∂z/∂a = 1/(1 + a)."""

    def forward(self, a):
        self.a = a
        return xp_of(a).log1p(a)

    def backward(self, g):
        return g / (1 + self.a)


class Sqrt(Function):
    """z = √a;  ∂z/∂a = 1/(2√a)."""

    def forward(self, a):
        self.out = xp_of(a).sqrt(a)
        return self.out

    def backward(self, g):
        return g / (2 * self.out)


class Rsqrt(Function):
    """z = 1/√a;  ∂z/∂a = −z³/2."""

    def forward(self, a):
        self.out = 1 / xp_of(a).sqrt(a)
        return self.out

    def backward(self, g):
        return g * (-0.5) * self.out ** 3


class Abs(Function):
    """z = |a|;  ∂z/∂a = sign(a) (0 at 0)."""

    def forward(self, a):
        self.a = a
        return xp_of(a).abs(a)

    def backward(self, g):
        return g * xp_of(g).sign(self.a)


class Sign(Function):
    """z = sign(a);  ∂z/∂a = 0."""

    def forward(self, a):
        self.a = a
        return xp_of(a).sign(a)

    def backward(self, g):
        return xp_of(g).zeros_like(self.a)


class Clamp(Function):
    """z = min(max(a, lo), hi);  ∂z/∂a = 1 where lo ≤ a ≤ hi, else 0."""

    def forward(self, a, min=None, max=None):
        xp = xp_of(a)
        self.mask = xp.ones(a.shape, dtype=bool) if min is None else a >= min
        if max is not None:
            self.mask &= a <= max
        return xp.clip(a, min, max)

    def backward(self, g):
        return g * self.mask


class Maximum(Function):
    """z = max(a, b);  the gradient goes to the larger input, split ½–½ on ties (and, as in
    PyTorch, to both where a NaN makes them incomparable)."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return xp_of(a).maximum(a, b)

    def backward(self, g):
        xp = xp_of(g)
        a, b, zero = self.a, self.b, xp.zeros((), g.dtype)
        g = xp.where(a == b, g * 0.5, g)
        return xp.where(a < b, zero, g), xp.where(a > b, zero, g)


class Minimum(Function):
    """z = min(a, b);  the gradient goes to the smaller input, split ½–½ on ties (and, as in
    PyTorch, to both where a NaN makes them incomparable)."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return xp_of(a).minimum(a, b)

    def backward(self, g):
        xp = xp_of(g)
        a, b, zero = self.a, self.b, xp.zeros((), g.dtype)
        g = xp.where(a == b, g * 0.5, g)
        return xp.where(a > b, zero, g), xp.where(a < b, zero, g)


class Where(Function):
    """z = cond ? a : b;  ∂z/∂a = cond, ∂z/∂b = ¬cond (cond is not differentiable)."""

    def forward(self, cond, a, b):
        self.cond = cond
        return xp_of(a).where(cond, a, b)

    def backward(self, g):
        xp = xp_of(g)
        need = self.needs_input_grad
        zero = xp.zeros((), dtype=g.dtype)
        ga = xp.where(self.cond, g, zero) if need[1] else None
        gb = xp.where(self.cond, zero, g) if need[2] else None
        return None, ga, gb


class Cast(Function):
    """z = a converted to another dtype/device;  ∂z/∂a = 1 (cast back)."""

    name = "to"

    def forward(self, a, dtype=None, device=None, copy=False):
        from .. import backend
        self.src_device = backend.device_of(a)
        out = a if device is None else backend.to_device(a, device)
        if dtype is not None and out.dtype != dtype:
            out = out.astype(dtype)
        elif copy and out is a:
            out = a.copy()
        return out

    def backward(self, g):
        from .. import backend
        return backend.to_device(g, self.src_device)
