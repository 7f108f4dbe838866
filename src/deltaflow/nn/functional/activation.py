"""Activation functions of ``torch.nn.functional`` (ops in :mod:`deltaflow.ops.activation`).

``inplace=True`` is accepted for compatibility and computes out of place (autograd arrays
are never overwritten)."""
from __future__ import annotations

import warnings

from ... import creation
from ... import functional as _F
from ...ops import activation as A

__all__ = ["relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "silu", "mish", "sigmoid",
           "tanh", "softplus", "hardtanh", "logsigmoid", "softmax", "log_softmax", "softmin",
           "hardsigmoid", "hardswish", "celu", "softsign", "prelu", "glu", "gumbel_softmax"]


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


def _softmax_dim(name, ndim, stacklevel):
    """PyTorch's legacy choice when ``dim`` is not given (0 for 0-, 1- and 3-dim inputs, else
    1), with PyTorch's deprecation warning."""
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call "
                  "to include dim=X as an argument.", stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        dim = _softmax_dim("softmax", input.ndim, _stacklevel)
    if dtype is not None:
        input = input.to(dtype)
    return _F.softmax(input, dim)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        dim = _softmax_dim("log_softmax", input.ndim, _stacklevel)
    if dtype is not None:
        input = input.to(dtype)
    return _F.log_softmax(input, dim)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    """softmax(−x) along ``dim``."""
    if dim is None:
        dim = _softmax_dim("softmin", input.ndim, _stacklevel)
    if dtype is not None:
        input = input.to(dtype)
    return _F.softmax(-input, dim)


def _floating(input, op):
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating point input, got {input.dtype}")


def hardsigmoid(input, inplace=False):
    """min(max(x + 3, 0), 6)/6."""
    _floating(input, "hardsigmoid")
    return A.Hardsigmoid.apply(input)


def hardswish(input, inplace=False):
    """x·min(max(x + 3, 0), 6)/6."""
    _floating(input, "hardswish")
    return A.Hardswish.apply(input)


def celu(input, alpha=1.0, inplace=False):
    """x if x > 0 else α(e^{x/α} − 1), computed as α·elu(x/α)."""
    if alpha == 0:
        raise ValueError("celu: alpha cannot be 0")
    return _F.elu(input / alpha) * alpha


def softsign(input):
    """x / (1 + |x|)."""
    return input / (input.abs() + 1)


def prelu(input, weight):
    """x if x > 0 else a·x, with one slope a for all channels (``weight`` of one element) or
    one per channel (dim 1; dim 0 of a 1-D input counts as one channel)."""
    if weight.ndim > 1:
        raise RuntimeError(f"prelu: expected weight to be a scalar or 1-D tensor, got "
                           f"{weight.ndim} dims (shape {tuple(weight.shape)})")
    if weight.dtype != input.dtype:
        raise RuntimeError(f"prelu: input ({input.dtype}) and weight ({weight.dtype}) must have "
                           "the same dtype")
    channels = input.shape[1] if input.ndim > 1 else 1
    if weight.numel() != 1 and weight.numel() != channels:
        raise RuntimeError(f"prelu: weight has {weight.numel()} parameters but the input of "
                           f"shape {tuple(input.shape)} has {channels} channels")
    shape = [1] * input.ndim
    if input.ndim > 1:
        shape[1] = weight.numel()
    return _F.where(input > 0, input, weight.reshape(tuple(shape)) * input)


def glu(input, dim=-1):
    """a ⊙ σ(b), where a and b are the two halves of ``input`` along ``dim``."""
    if input.ndim == 0:
        raise RuntimeError("glu: does not support scalars, the halved dimension must be even")
    d = _F._dim(dim, input.ndim, "glu")
    if input.shape[d] % 2:
        raise RuntimeError(f"glu: halving dimension must be even, but dimension {d} is size "
                           f"{input.shape[d]} (input of shape {tuple(input.shape)})")
    a, b = _F.chunk(input, 2, d)
    return a * _F.sigmoid(b)


def gumbel_softmax(logits, tau=1.0, hard=False, eps=1e-10, dim=-1):
    """y = softmax((logits + g)/τ) along ``dim``, g = −log E with E ~ Exp(1) from the global
    generator (Gumbel(0, 1) noise). ``hard=True``: the one-hot of argmax y in the forward
    pass, with y's gradient (straight through: y_hard − y.detach() + y). ``eps`` is unused,
    as in PyTorch."""
    gumbels = -_F.log(creation.empty_like(logits).exponential_())
    y_soft = _F.softmax((logits + gumbels) / tau, dim)
    if not hard:
        return y_soft
    d = _F._dim(dim, logits.ndim, "gumbel_softmax")
    index = _F.argmax(y_soft, d, keepdim=True)
    y_hard = _F.scatter_add(creation.zeros_like(logits), d, index,
                            creation.ones_like(index, dtype=logits.dtype))
    return y_hard - y_soft.detach() + y_soft


# ---- pytorch parity: shrinkage, threshold, RReLU and the in-place forms ----
__all__ += ["threshold", "threshold_", "hardshrink", "softshrink", "tanhshrink", "rrelu",
            "rrelu_", "relu_", "elu_", "leaky_relu_", "hardtanh_", "selu_", "celu_"]


def threshold(input, threshold, value, inplace=False):
    """x where x > threshold, else ``value``."""
    return _F.where(input > threshold, input, value)


_threshold = threshold  # for threshold_, whose argument takes the name


def hardshrink(input, lambd=0.5):
    """x where |x| > λ, else 0."""
    return _F.where(_F.abs(input) > lambd, input, 0.0)


def softshrink(input, lambd=0.5):
    """x − λ where x > λ, x + λ where x < −λ, else 0."""
    if lambd < 0:
        raise RuntimeError(f"softshrink: lambda must be greater or equal to 0, got {lambd}")
    return _F.where(input > lambd, input - lambd, _F.where(input < -lambd, input + lambd, 0.0))


def tanhshrink(input):
    """x − tanh x."""
    return input - _F.tanh(input)


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    """x where x > 0, else a·x: in training a ~ U(lower, upper) per element (the global
    generator), in eval a = (lower + upper)/2."""
    if not training:
        return _F.leaky_relu(input, (lower + upper) / 2)
    slopes = creation.empty_like(input).uniform_(lower, upper)
    return _F.where(input > 0, input, input * slopes)


def relu_(input):
    return _F.inplace(input, "relu_", _F.relu)


def elu_(input, alpha=1.0):
    return _F.inplace(input, "elu_", _F.elu, alpha)


def leaky_relu_(input, negative_slope=0.01):
    return _F.inplace(input, "leaky_relu_", _F.leaky_relu, negative_slope)


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    return _F.inplace(input, "hardtanh_", _F.hardtanh, min_val, max_val)


def selu_(input):
    return _F.inplace(input, "selu_", _F.selu)


def celu_(input, alpha=1.0):
    # on a copy: celu's first node (x / α) would save the array written in place
    return _F.inplace(input, "celu_", lambda x: celu(_F.clone(x), alpha))


def threshold_(input, threshold, value):
    return _F.inplace(input, "threshold_", _threshold, threshold, value)


def rrelu_(input, lower=1.0 / 8, upper=1.0 / 3, training=False):
    return _F.inplace(input, "rrelu_", rrelu, lower, upper, training)
