"""Activation functions f(z) and their derivatives f′(z), plus softmax / log-softmax."""
from __future__ import annotations

import math

import numpy as np

from ..autograd.function import Function
from ..backend import xp_of
from . import gelu_kernels, relu_kernels
from .gelu_kernels import INV_SQRT_2PI

_SQRT_2 = math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def erf(x):
    """Elementwise error function (SciPy's when available, else the exact ``math.erf``)."""
    xp = xp_of(x)
    if xp is not np:
        import cupyx.scipy.special as special  # type: ignore
        return special.erf(x)
    try:
        from scipy.special import erf as _erf
        return _erf(x)
    except ImportError:  # pragma: no cover - scipy ships with scikit-learn
        return np.vectorize(math.erf, otypes=[x.dtype])(x)


def _exp_half_square(z):
    """e^{−z²/2}, in one buffer (−z²/2 by :mod:`deltaflow.ops.gelu_kernels`)."""
    e = gelu_kernels.pick(z).half_square(z)
    return xp_of(z).exp(e, out=e)


def _exact(z):
    return xp_of(z) is not np or z.dtype == np.float64


def normal_cdf_pdf(z):
    """Φ(z) = ½·erfc(−z/√2) and φ(z) = e^{−z²/2}/√(2π), computed together (they share
    e^{−z²/2}).

    float64 (and any CuPy array) uses the exact erf. float32/float16 on NumPy use
    Abramowitz & Stegun 7.1.26 on |z|: with x = |z|/√2 and E = ½·erfc(x) ≈ ½·poly(t)·e^{−x²},
    Φ(z) = E for z < 0 and 1 − E for z ≥ 0. Its absolute error is below 1.5·10⁻⁷ (a few
    float32 ulps) and, as E is never subtracted from 1 on the left, the left tail keeps
    its relative accuracy (1.6·10⁻³ at z = −5, 2 % at z = −10, where ½(1 + erf) in
    float32 has lost every digit); about twenty vectorised passes, a sixth of SciPy's
    erf time (:func:`deltaflow.ops.gelu_kernels.cdf_pdf`).
    """
    e = _exp_half_square(z)
    if _exact(z):
        return 0.5 * (1 + erf(z / _SQRT_2)), e * INV_SQRT_2PI
    return gelu_kernels.cdf_pdf(z, e)


def gelu_and_slope(z):
    """y = z·Φ(z) and f′(z) = z·φ(z) + Φ(z), with :func:`normal_cdf_pdf`'s Φ and φ; for
    float32 with Numba, one fused loop after the exp pass (:mod:`deltaflow.ops.gelu_kernels`,
    the same numbers)."""
    if _exact(z):
        cdf, pdf = normal_cdf_pdf(z)
        slope = z * pdf
        slope += cdf
        return z * cdf, slope
    return gelu_kernels.pick(z).gelu(z, _exp_half_square(z))


def sigmoid(x):
    """σ(x) = 1/(1+e⁻ˣ), computed as ½ + ½·tanh(x/2): no overflow for any x."""
    xp = xp_of(x)
    s = xp.tanh(x * 0.5)
    s *= 0.5
    s += 0.5
    return s


class ReLU(Function):
    """f(z) = max(z, 0);  f′(z) = 0 if z ≤ 0 else 1 (a NaN passes the gradient, as PyTorch)."""

    def forward(self, z):
        self.out = relu_kernels.pick(z).forward(z)
        return self.out

    def backward(self, g):
        return relu_kernels.pick(g, self.out).backward(g, self.out)

    def backward_graph(self, g):
        return xp_of(g).where(self.out <= 0, 0.0, g)   # f″ = 0: the mask is a constant


class LeakyReLU(Function):
    """f(z) = z if z > 0 else s·z;  f′(z) = 1 if z > 0 else s."""

    name = "leaky_relu"

    def forward(self, z, negative_slope=0.01):
        self.z, self.slope = z, negative_slope
        return xp_of(z).where(z > 0, z, z * negative_slope)

    def backward(self, g):
        return xp_of(g).where(self.z > 0, g, g * self.slope)


class ELU(Function):
    """f(z) = z if z > 0 else α(eᶻ − 1);  f′(z) = 1 if z > 0 else f(z) + α."""

    def forward(self, z, alpha=1.0, scale=1.0):
        xp = xp_of(z)
        self.z, self.alpha, self.scale = z, alpha, scale
        neg = alpha * xp.expm1(xp.minimum(z, 0))
        self.out = xp.where(z > 0, z, neg)
        return self.out * scale if scale != 1.0 else self.out

    def backward(self, g):
        xp = xp_of(g)
        d = xp.where(self.z > 0, 1.0, self.out + self.alpha)
        return g * (d * self.scale)

    def recompute_saved(self, saved):
        z = saved["z"]
        xp = xp_of(z)
        saved["out"] = xp.where(z > 0, z, self.alpha * xp.expm1(xp.minimum(z, 0)))


class GELU(Function):
    """f(z) = z·Φ(z), f′(z) = Φ(z) + z·φ(z) (exact); or, with approximate='tanh',
    f(z) = ½z(1 + t), t = tanh(u), u = √(2/π)(z + 0.044715z³),
    f′(z) = ½(1 + t) + ½z(1 − t²)·√(2/π)(1 + 3·0.044715z²)."""

    def forward(self, z, approximate="none"):
        xp = xp_of(z)
        self.z, self.approximate = z, approximate
        if approximate == "tanh":
            self.t = xp.tanh(_SQRT_2_OVER_PI * (z + 0.044715 * z ** 3))
            return 0.5 * z * (1 + self.t)
        out, self.slope = gelu_and_slope(z)
        return out

    def backward(self, g):
        z = self.z
        if self.approximate == "tanh":
            t = self.t
            inner_d = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * z * z)
            return g * (0.5 * (1 + t) + 0.5 * z * (1 - t * t) * inner_d)
        return g * self.slope

    def recompute_saved(self, saved):
        z = saved["z"]
        xp = xp_of(z)
        if self.approximate == "tanh":
            saved["t"] = xp.tanh(_SQRT_2_OVER_PI * (z + 0.044715 * z ** 3))
        else:
            saved["slope"] = 0.5 * (1 + xp.erf(z / _SQRT_2)) + \
                z * (xp.exp(-0.5 * z * z) * INV_SQRT_2PI)

    def backward_graph(self, g):
        if self.approximate == "tanh":
            return super().backward_graph(g)
        return g * self.saved_tensors()["slope"]


class SiLU(Function):
    """f(z) = z·σ(z);  f′(z) = σ(z)(1 + z(1 − σ(z)))."""

    def forward(self, z):
        self.z = z
        self.s = sigmoid(z)
        return z * self.s

    def backward(self, g):
        s = self.s
        return g * (s * (1 + self.z * (1 - s)))

    def recompute_saved(self, saved):
        saved["s"] = sigmoid(saved["z"])


def softplus(z, beta=1.0, threshold=20.0):
    """softplus(z) = ln(1 + e^{βz})/β, linear above the threshold, stable everywhere."""
    xp = xp_of(z)
    bz = z * beta
    return xp.where(bz > threshold, z, (xp.maximum(bz, 0) + xp.log1p(xp.exp(-xp.abs(bz)))) / beta)


class Softplus(Function):
    """f(z) = ln(1 + e^{βz})/β;  f′(z) = σ(βz) (1 above the threshold)."""

    def forward(self, z, beta=1.0, threshold=20.0):
        self.z, self.beta, self.threshold = z, beta, threshold
        return softplus(z, beta, threshold)

    def backward(self, g):
        xp = xp_of(g)
        bz = self.z * self.beta
        return g * xp.where(bz > self.threshold, 1.0, sigmoid(bz))


class Mish(Function):
    """f(z) = z·tanh(softplus(z));  f′(z) = tanh(sp) + z·σ(z)·(1 − tanh²(sp))."""

    def forward(self, z):
        xp = xp_of(z)
        self.z = z
        self.t = xp.tanh(softplus(z))
        return z * self.t

    def backward(self, g):
        t = self.t
        return g * (t + self.z * sigmoid(self.z) * (1 - t * t))

    def recompute_saved(self, saved):
        saved["t"] = xp_of(saved["z"]).tanh(softplus(saved["z"]))


class Sigmoid(Function):
    """f(z) = σ(z) = 1/(1 + e⁻ᶻ);  f′(z) = σ(z)(1 − σ(z))."""

    saved_outputs = ("out",)

    def forward(self, z):
        self.out = sigmoid(z)
        return self.out

    def backward(self, g):
        s = self.out
        return g * s * (1 - s)


class Tanh(Function):
    """f(z) = tanh z;  f′(z) = 1 − tanh² z."""

    saved_outputs = ("out",)

    def forward(self, z):
        self.out = xp_of(z).tanh(z)
        return self.out

    def backward(self, g):
        t = self.out
        return g * (1 - t * t)


class Hardtanh(Function):
    """f(z) = clip(z, lo, hi);  f′(z) = 0 where z ≤ lo or z ≥ hi, else 1 (NaN included)."""

    def forward(self, z, min_val=-1.0, max_val=1.0):
        self.mask = ~((z <= min_val) | (z >= max_val))
        return xp_of(z).clip(z, min_val, max_val)

    def backward(self, g):
        return g * self.mask


class Softmax(Function):
    """yᵢ = e^{zᵢ − m} / Σⱼ e^{zⱼ − m} (m = max z);  ∂L/∂z = y ⊙ (g − Σ g ⊙ y)."""

    saved_outputs = ("out",)

    def forward(self, z, dim=-1):
        xp = xp_of(z)
        e = xp.exp(z - z.max(axis=dim, keepdims=True))
        e /= e.sum(axis=dim, keepdims=True)
        self.out, self.dim = e, dim
        return e

    def backward(self, g):
        y = self.out
        gy = g * y
        gy -= y * xp_of(g).sum(gy, axis=self.dim, keepdims=True)
        return gy


class LogSoftmax(Function):
    """yᵢ = zᵢ − m − ln Σⱼ e^{zⱼ − m};  ∂L/∂z = g − softmax(z) ⊙ Σ g."""

    name = "log_softmax"
    saved_outputs = ("out",)

    def forward(self, z, dim=-1):
        xp = xp_of(z)
        shifted = z - z.max(axis=dim, keepdims=True)
        out = shifted - xp.log(xp.exp(shifted).sum(axis=dim, keepdims=True))
        self.out, self.dim = out, dim
        return out

    def backward(self, g):
        xp = xp_of(g)
        return g - xp.exp(self.out) * xp.sum(g, axis=self.dim, keepdims=True)


class Hardsigmoid(Function):
    """f(z) = min(max(z + 3, 0), 6)/6;  f′(z) = 1/6 for −3 < z < 3, else 0 (NaN included)."""

    def forward(self, z):
        self.inside = (z > -3) & (z < 3)
        return xp_of(z).clip(z + 3, 0, 6) / 6

    def backward(self, g):
        return g * self.inside / 6


class Hardswish(Function):
    """f(z) = z·min(max(z + 3, 0), 6)/6;  f′(z) = 0 for z ≤ −3, z/3 + ½ for −3 < z < 3,
    1 for z ≥ 3 (PyTorch's values at ±3; a NaN passes the gradient)."""

    def forward(self, z):
        self.z = z
        return z * xp_of(z).clip(z + 3, 0, 6) / 6

    def backward(self, g):
        xp = xp_of(g)
        z = self.z
        d = xp.where(z <= -3, 0.0, xp.where(z < 3, z / 3 + 0.5, 1.0))
        return g * d
