"""``F.batch_norm``, ``F.layer_norm`` and ``F.rms_norm`` (fused ops in
:mod:`deltaflow.ops.norm`); ``F.group_norm`` and ``F.instance_norm`` (layer norm of each
group / instance, then the per-channel affine map)."""
from __future__ import annotations

import numpy as np

from ... import functional as _F
from ...ops import norm as _N

__all__ = ["batch_norm", "layer_norm", "rms_norm", "group_norm", "instance_norm"]


def _affine(weight, bias):
    params = [p for p in (weight, bias) if p is not None]
    return params, {"has_weight": weight is not None, "has_bias": bias is not None}


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Normalise each channel (dim 1) of ``input`` (N, C, ...) by batch statistics
    (``training=True``; the running statistics, when given, are updated in place) or by
    ``running_mean``/``running_var`` (``training=False``)."""
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected an input of shape (N, C, ...), got "
                         f"{tuple(input.shape)}")
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise ValueError(f"batch_norm: {name} has shape {tuple(t.shape)}, expected ({c},) "
                             f"for an input with {c} channels")
    if training and input.data.size // c <= 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, "
                         f"got input size {tuple(input.shape)}")
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm: running_mean and running_var are required when "
                         "training=False")
    params, flags = _affine(weight, bias)
    return _N.BatchNorm.apply(
        input, *params, **flags, training=training,
        running_mean=None if running_mean is None else running_mean.data,
        running_var=None if running_var is None else running_var.data,
        momentum=0.0 if momentum is None else momentum, eps=eps)


def _trailing_shape(op, input, normalized_shape, **params):
    """``normalized_shape`` as a tuple, checked against ``input``'s trailing dims and the
    shapes of the affine ``params`` (None: absent)."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if tuple(input.shape[input.ndim - len(shape):]) != shape or len(shape) > input.ndim:
        raise ValueError(f"{op}: normalized_shape {shape} does not match the trailing "
                         f"dims of an input of shape {tuple(input.shape)}")
    for name, t in params.items():
        if t is not None and tuple(t.shape) != shape:
            raise ValueError(f"{op}: {name} has shape {tuple(t.shape)}, expected {shape}")
    return shape


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the last ``len(normalized_shape)`` dims, then γ·x̂ + β."""
    shape = _trailing_shape("layer_norm", input, normalized_shape, weight=weight, bias=bias)
    params, flags = _affine(weight, bias)
    return _N.LayerNorm.apply(input, *params, **flags, n_axes=len(shape), eps=eps)


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """x / √(mean(x²) + ε) over the last ``len(normalized_shape)`` dims, times γ (``weight``);
    ``eps=None`` is the machine epsilon of the input's dtype (``torch.finfo(dtype).eps``)."""
    shape = _trailing_shape("rms_norm", input, normalized_shape, weight=weight)
    if eps is None:
        eps = float(np.finfo(input.dtype).eps)
    params = [] if weight is None else [weight]
    return _N.RMSNorm.apply(input, *params, n_axes=len(shape), has_weight=weight is not None,
                            eps=eps)


def _channel_affine(op, y, weight, bias):
    """γ_c·y + β_c for per-channel (dim 1) vectors γ, β (None: absent)."""
    c = y.shape[1]
    view = (1, c) + (1,) * (y.ndim - 2)
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise ValueError(f"{op}: {name} has shape {tuple(t.shape)}, expected ({c},) for an "
                             f"input with {c} channels")
    if weight is not None:
        y = y * weight.reshape(view)
    if bias is not None:
        y = y + bias.reshape(view)
    return y


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalise (N, C, ...) over each of ``num_groups`` groups of C/num_groups channels
    (and all their positions), then the per-channel γ_c·x̂ + β_c."""
    if input.ndim < 2:
        raise ValueError(f"group_norm: expected an input of shape (N, C, ...), got "
                         f"{tuple(input.shape)}")
    n, c = input.shape[:2]
    if num_groups <= 0 or c % num_groups:
        raise ValueError(f"group_norm: expected the number of channels of an input of shape "
                         f"{tuple(input.shape)} to be divisible by num_groups={num_groups}")
    groups = input.reshape(n, num_groups, -1)
    y = layer_norm(groups, groups.shape[-1:], eps=eps).reshape(input.shape)
    return _channel_affine("group_norm", y, weight, bias)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats=True, momentum=0.1, eps=1e-5):
    """Normalise each channel of each sample of (N, C, ...) over its positions
    (``use_input_stats=True``; given running statistics are updated in place with the
    batch's mean of the per-instance mean and unbiased variance), or by
    ``running_mean``/``running_var`` (``use_input_stats=False``); then γ_c·x̂ + β_c."""
    op = "instance_norm"
    if input.ndim < 3:
        raise ValueError(f"{op}: expected an input of shape (N, C, L, ...), got "
                         f"{tuple(input.shape)}")
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise ValueError(f"{op}: running_mean and running_var are required when "
                             f"use_input_stats=False")
        return batch_norm(input, running_mean, running_var, weight, bias, False, momentum, eps)
    n, c = input.shape[:2]
    positions = input.data.size // max(n * c, 1)
    if positions <= 1:
        raise ValueError(f"{op}: expected more than 1 spatial element when training, got "
                         f"input size {tuple(input.shape)}")
    rows = input.reshape(n, c, positions)
    for name, stats, fn in (("running_mean", running_mean, lambda r: r.mean(axis=2)),
                            ("running_var", running_var, lambda r: r.var(axis=2, ddof=1))):
        if stats is None:
            continue
        if tuple(stats.shape) != (c,):
            raise ValueError(f"{op}: {name} has shape {tuple(stats.shape)}, expected ({c},) "
                             f"for an input with {c} channels")
        batch = fn(rows.data).mean(axis=0).astype(stats.dtype, copy=False)
        stats.data *= 1 - momentum
        stats.data += momentum * batch
    y = layer_norm(rows, (positions,), eps=eps).reshape(input.shape)
    return _channel_affine(op, y, weight, bias)


# ---- pytorch parity: local response normalisation ----
__all__ += ["local_response_norm"]


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """x / (k + α · mean of x² over ``size`` neighbouring channels)^β (dim 1; the window
    zero-padded by size//2 before and (size−1)//2 after each channel)."""
    if input.ndim < 3:
        raise ValueError(f"local_response_norm: expected 3D or higher dimensionality input, got "
                         f"shape {tuple(input.shape)}")
    if input.numel() == 0:
        return input
    padded = _F.pad(input * input, (0, 0) * (input.ndim - 2) + (size // 2, (size - 1) // 2))
    window_mean = _F.mean(_F.unfold(padded, 1, size, 1), -1)
    return input / (window_mean * alpha + k) ** beta
