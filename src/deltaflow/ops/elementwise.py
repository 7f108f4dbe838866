"""Elementwise arithmetic and math ops.

Each op works on raw arrays through ``xp`` (NumPy or CuPy); gradients of broadcast inputs
are returned in the broadcast shape and reduced by the engine.
"""
from __future__ import annotations

import numpy as np

from ..autograd.function import Function
from ..backend import device_of, xp_of
from .activation import erf


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

    saved_outputs = ("out",)

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

    saved_outputs = ("out",)

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

    saved_outputs = ("out",)

    def forward(self, a):
        self.out = xp_of(a).sqrt(a)
        return self.out

    def backward(self, g):
        return g / (2 * self.out)


class Rsqrt(Function):
    """z = 1/√a;  ∂z/∂a = −z³/2."""

    saved_outputs = ("out",)

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


# ------------------------------------------------------------------ rounding
class Floor(Function):
    """z = ⌊a⌋;  ∂z/∂a = 0 (PyTorch's zero, also at the integers)."""

    def forward(self, a):
        return xp_of(a).floor(a)

    def backward(self, g):
        return xp_of(g).zeros_like(g)


class Ceil(Function):
    """z = ⌈a⌉;  ∂z/∂a = 0."""

    def forward(self, a):
        return xp_of(a).ceil(a)

    def backward(self, g):
        return xp_of(g).zeros_like(g)


class Trunc(Function):
    """z = a rounded towards 0;  ∂z/∂a = 0."""

    def forward(self, a):
        return xp_of(a).trunc(a)

    def backward(self, g):
        return xp_of(g).zeros_like(g)


class Round(Function):
    """z = a rounded to ``decimals`` decimal places, halves to even (PyTorch's formula:
    rint(a·10ᵈ)/10ᵈ, or rint(a/10⁻ᵈ)·10⁻ᵈ for d < 0);  ∂z/∂a = 0."""

    def forward(self, a, decimals=0):
        xp = xp_of(a)
        if decimals == 0:
            return xp.rint(a)
        scale = a.dtype.type(10.0 ** abs(decimals))
        return xp.rint(a * scale) / scale if decimals > 0 else xp.rint(a / scale) * scale

    def backward(self, g):
        return xp_of(g).zeros_like(g)


class Frac(Function):
    """z = a − trunc(a) (keeps a's sign);  ∂z/∂a = 1."""

    def forward(self, a):
        return a - xp_of(a).trunc(a)

    def backward(self, g):
        return g


# ------------------------------------------------------------- exp and log
class Expm1(Function):
    """z = eᵃ − 1 (accurate near 0);  ∂z/∂a = eᵃ = z + 1."""

    saved_outputs = ("out",)

    def forward(self, a):
        self.out = xp_of(a).expm1(a)
        return self.out

    def backward(self, g):
        return g * (self.out + 1)


class Log2(Function):
    """z = log₂ a;  ∂z/∂a = 1/(a ln 2)."""

    def forward(self, a):
        self.a = a
        return xp_of(a).log2(a)

    def backward(self, g):
        return g / (self.a * np.log(2.0))


class Log10(Function):
    """z = log₁₀ a;  ∂z/∂a = 1/(a ln 10)."""

    def forward(self, a):
        self.a = a
        return xp_of(a).log10(a)

    def backward(self, g):
        return g / (self.a * np.log(10.0))


class Reciprocal(Function):
    """z = 1/a;  ∂z/∂a = −1/a² = −z²."""

    saved_outputs = ("out",)

    def forward(self, a):
        self.out = 1 / a
        return self.out

    def backward(self, g):
        return -g * self.out * self.out


# ------------------------------------------------------------ special functions
def special_function(name, x):
    """``scipy.special``'s function ``name`` (``cupyx.scipy.special``'s on the GPU; for a
    Tensor under create_graph, the array namespace's differentiable one)."""
    xp = xp_of(x)
    if xp is not np and not hasattr(xp, "ndarray"):
        return getattr(xp, name)
    if xp is not np:
        import cupyx.scipy.special as special  # type: ignore
    else:
        try:
            import scipy.special as special
        except ImportError:  # pragma: no cover - scipy ships with scikit-learn
            raise ImportError(f"{name} needs SciPy's special functions: pip install "
                              "scipy") from None
    return getattr(special, name)


def polygamma(n, a):
    """ψ⁽ⁿ⁾(a) by :func:`special_function` (CuPy's polygamma takes n only as an array)."""
    on_gpu = device_of(a) == "cuda"
    return special_function("polygamma", a)(xp_of(a).asarray(n) if on_gpu else n, a)


class Erf(Function):
    """z = erf a = (2/√π) ∫₀ᵃ e^(−t²) dt;  ∂z/∂a = (2/√π) e^(−a²)."""

    def forward(self, a):
        self.a = a
        return erf(a)

    def backward(self, g):
        return g * (2 / np.sqrt(np.pi)) * xp_of(g).exp(-self.a * self.a)


class Erfinv(Function):
    """z = erf⁻¹ a (|a| ≤ 1);  ∂z/∂a = (√π/2) e^(z²)."""

    saved_outputs = ("out",)

    def forward(self, a):
        self.out = special_function("erfinv", a)(a)
        return self.out

    def backward(self, g):
        return g * (np.sqrt(np.pi) / 2) * xp_of(g).exp(self.out * self.out)


class Lgamma(Function):
    """z = ln |Γ(a)|;  ∂z/∂a = ψ(a) (digamma)."""

    def forward(self, a):
        self.a = a
        return special_function("gammaln", a)(a)

    def backward(self, g):
        return g * special_function("digamma", self.a)(self.a)


class Digamma(Function):
    """z = ψ(a) = Γ′(a)/Γ(a);  ∂z/∂a = ψ′(a) = polygamma(1, a)."""

    def forward(self, a):
        self.a = a
        return special_function("digamma", a)(a)

    def backward(self, g):
        return g * polygamma(1, self.a)


class Polygamma(Function):
    """z = ψ⁽ⁿ⁾(a), the n-th derivative of the digamma function;  ∂z/∂a = ψ⁽ⁿ⁺¹⁾(a)."""

    def forward(self, a, n=1):
        self.a, self.n = a, n
        return polygamma(n, a).astype(a.dtype, copy=False)

    def backward(self, g):
        return g * polygamma(self.n + 1, self.a)


# ------------------------------------------------------------------- lerp
class Lerp(Function):
    """z = a + w·(b − a) (PyTorch's form: b − (b − a)(1 − w) where |w| ≥ ½);
    ∂z/∂a = 1 − w, ∂z/∂b = w, ∂z/∂w = b − a."""

    def forward(self, a, b, w):
        xp = xp_of(a)
        self.a, self.b, self.w = a, b, w
        diff = b - a
        return xp.where(xp.abs(w) < 0.5, a + w * diff, b - diff * (1 - w))

    def backward(self, g):
        need = self.needs_input_grad
        ga = g * (1 - self.w) if need[0] else None
        gb = g * self.w if need[1] else None
        gw = g * (self.b - self.a) if need[2] else None
        return ga, gb, gw
