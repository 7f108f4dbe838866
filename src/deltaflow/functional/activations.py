"""Activations: ``relu leaky_relu elu selu gelu silu mish sigmoid tanh softplus hardtanh``, and
``softmax log_softmax`` along a dim.
"""
from __future__ import annotations

from ..ops import activation as A
from ._common import _dim


def relu(x):
    return A.ReLU.apply(x)


def leaky_relu(x, negative_slope=0.01):
    return A.LeakyReLU.apply(x, negative_slope=negative_slope)


def elu(x, alpha=1.0):
    return A.ELU.apply(x, alpha=alpha)


def selu(x):
    return A.ELU.apply(x, alpha=A.SELU_ALPHA, scale=A.SELU_SCALE)


def gelu(x, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return A.GELU.apply(x, approximate=approximate)


def silu(x):
    return A.SiLU.apply(x)


def mish(x):
    return A.Mish.apply(x)


def sigmoid(x):
    return A.Sigmoid.apply(x)


def tanh(x):
    return A.Tanh.apply(x)


def softplus(x, beta=1.0, threshold=20.0):
    return A.Softplus.apply(x, beta=beta, threshold=threshold)


def hardtanh(x, min_val=-1.0, max_val=1.0):
    return A.Hardtanh.apply(x, min_val=min_val, max_val=max_val)


def softmax(x, dim=-1):
    return A.Softmax.apply(x, dim=_dim(dim, x.ndim, "softmax"))


def log_softmax(x, dim=-1):
    return A.LogSoftmax.apply(x, dim=_dim(dim, x.ndim, "log_softmax"))
