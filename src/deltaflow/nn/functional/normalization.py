"""``F.batch_norm`` and ``F.layer_norm`` (fused ops in :mod:`deltaflow.ops.norm`)."""
from __future__ import annotations

from ...ops import norm as _N

__all__ = ["batch_norm", "layer_norm"]


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


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the last ``len(normalized_shape)`` dims, then γ·x̂ + β."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if tuple(input.shape[input.ndim - len(shape):]) != shape or len(shape) > input.ndim:
        raise ValueError(f"layer_norm: normalized_shape {shape} does not match the trailing "
                         f"dims of an input of shape {tuple(input.shape)}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != shape:
            raise ValueError(f"layer_norm: {name} has shape {tuple(t.shape)}, expected {shape}")
    params, flags = _affine(weight, bias)
    return _N.LayerNorm.apply(input, *params, **flags, n_axes=len(shape), eps=eps)
