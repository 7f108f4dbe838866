"""Activation functions of ``torch.nn.functional`` (ops in :mod:`deltaflow.ops.activation`).

``inplace=True`` is accepted for compatibility and computes out of place (autograd arrays
are never overwritten)."""
from __future__ import annotations

from ... import functional as _F

__all__ = ["relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "silu", "mish", "sigmoid",
           "tanh", "softplus", "hardtanh", "logsigmoid", "softmax", "log_softmax"]


def relu(input, inplace=False):
    return _F.relu(input)


def relu6(input, inplace=False):
    return _F.hardtanh(input, 0.0, 6.0)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return _F.leaky_relu(input, negative_slope)


def elu(input, alpha=1.0, inplace=False):
    return _F.elu(input, alpha)


def selu(input, inplace=False):
    return _F.selu(input)


def gelu(input, approximate="none"):
    return _F.gelu(input, approximate)


def silu(input, inplace=False):
    return _F.silu(input)


def mish(input, inplace=False):
    return _F.mish(input)


def sigmoid(input):
    return _F.sigmoid(input)


def tanh(input):
    return _F.tanh(input)


def softplus(input, beta=1.0, threshold=20.0):
    return _F.softplus(input, beta, threshold)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) cannot be greater than max_val "
                         f"({max_val})")
    return _F.hardtanh(input, min_val, max_val)


def logsigmoid(input):
    """log σ(x) = −softplus(−x), stable for any x."""
    return -_F.softplus(-input)


def _softmax_dim(ndim):
    """PyTorch's legacy choice when ``dim`` is not given."""
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input, dim=None, dtype=None):
    if dtype is not None:
        input = input.to(dtype)
    return _F.softmax(input, _softmax_dim(input.ndim) if dim is None else dim)


def log_softmax(input, dim=None, dtype=None):
    if dtype is not None:
        input = input.to(dtype)
    return _F.log_softmax(input, _softmax_dim(input.ndim) if dim is None else dim)
