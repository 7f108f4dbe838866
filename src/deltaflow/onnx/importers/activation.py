"""Activations and (log-)softmax, as deltaflow's differentiable functions."""
from __future__ import annotations

import math

from ... import creation
from ... import functional as Fn
from ...nn import functional as F
from .registry import Unsupported, importer
from .values import axis as norm_axis
from .values import is_float


@importer("Relu")
def relu(x):
    """ONNX Relu: max(x, 0)."""
    return F.relu(x) if is_float(x) else Fn.clamp(x, min=0)


@importer("Sigmoid")
def sigmoid(x):
    """ONNX Sigmoid: 1 / (1 + e^(−x))."""
    return Fn.sigmoid(x)


@importer("Tanh")
def tanh(x):
    """ONNX Tanh."""
    return Fn.tanh(x)


@importer("LeakyRelu")
def leaky_relu(x, *, alpha=0.01):
    """ONNX LeakyRelu: x if x ≥ 0 else alpha · x."""
    return F.leaky_relu(x, alpha)


@importer("Elu")
def elu(x, *, alpha=1.0):
    """ONNX Elu: x if x > 0 else alpha · (eˣ − 1)."""
    return F.elu(x, alpha)


@importer("Selu")
def selu(x, *, alpha=1.67326319217681884765625, gamma=1.05070102214813232421875):
    """ONNX Selu: gamma · (x if x > 0 else alpha · (eˣ − 1))."""
    return F.elu(x, alpha) * gamma


@importer("Celu", 12)
def celu(x, *, alpha=1.0):
    """ONNX Celu: max(0, x) + min(0, alpha · (e^(x/alpha) − 1))."""
    return F.celu(x, alpha)


@importer("ThresholdedRelu", 10)
def thresholded_relu(x, *, alpha=1.0):
    """ONNX ThresholdedRelu: x if x > alpha else 0."""
    return Fn.where(x > alpha, x, creation.zeros_like(x))


@importer("HardSigmoid")
def hard_sigmoid(x, *, alpha=0.2, beta=0.5):
    """ONNX HardSigmoid: max(0, min(1, alpha · x + beta))."""
    return Fn.clamp(x * alpha + beta, 0.0, 1.0)


@importer("HardSwish", 14)
def hard_swish(x):
    """ONNX HardSwish: x · max(0, min(1, x/6 + 1/2))."""
    return x * Fn.clamp(x * (1 / 6) + 0.5, 0.0, 1.0)


@importer("Softplus")
def softplus(x):
    """ONNX Softplus: ln(1 + eˣ)."""
    return F.softplus(x)


@importer("Softsign")
def softsign(x):
    """ONNX Softsign: x / (1 + |x|)."""
    return F.softsign(x)


@importer("Mish", 18)
def mish(x):
    """ONNX Mish: x · tanh(softplus(x))."""
    return F.mish(x)


@importer("Gelu", 20)
def gelu(x, *, approximate="none"):
    """ONNX Gelu: x · Φ(x), or its tanh approximation."""
    if approximate not in ("none", "tanh"):
        raise Unsupported(f"Gelu: approximate={approximate!r} (expected 'none' or 'tanh')")
    return F.gelu(x, approximate=approximate)


@importer("PRelu")
def prelu(x, slope):
    """ONNX PRelu: x if x ≥ 0 else slope · x (slope broadcast to x)."""
    return Fn.where(x < 0, x * slope, x)


def _coerced(fn, x, axis):
    """Softmax before opset 13: over the flattened dims from ``axis`` on."""
    a = norm_axis(axis, x.ndim, "softmax")
    inner = math.prod(x.shape[a:])
    return fn(x.reshape(math.prod(x.shape[:a]), inner), dim=1).reshape(x.shape)


@importer("Softmax")
def softmax_v1(x, *, axis=1):
    """ONNX Softmax (opsets 1–12): eˣ / Σ eˣ over the dims from ``axis`` on, flattened."""
    return _coerced(F.softmax, x, axis)


@importer("Softmax", 13)
def softmax(x, *, axis=-1):
    """ONNX Softmax: eˣ / Σ eˣ along ``axis``."""
    return F.softmax(x, dim=axis)


@importer("LogSoftmax")
def log_softmax_v1(x, *, axis=1):
    """ONNX LogSoftmax (opsets 1–12): x − log Σ eˣ over the dims from ``axis`` on, flattened."""
    return _coerced(F.log_softmax, x, axis)


@importer("LogSoftmax", 13)
def log_softmax(x, *, axis=-1):
    """ONNX LogSoftmax: x − log Σ eˣ along ``axis``."""
    return F.log_softmax(x, dim=axis)
