"""Gradient clipping. Gradients are never written in place (they may be shared between
``.grad`` fields, see docs/architecture.md): clipping rebinds ``p.grad.data``."""
from __future__ import annotations

import math

import numpy as np

from ... import backend
from ...tensor import Tensor


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def _norm(a, norm_type):
    """‖a‖_p of one array, as a float64 scalar array."""
    xp = backend.xp_of(a)
    a = a.astype(xp.float64, copy=False)
    if norm_type == math.inf:
        return xp.abs(a).max() if a.size else xp.zeros(())
    if norm_type == 2:
        return xp.sqrt(xp.vdot(a.reshape(-1), a.reshape(-1)))
    return (xp.abs(a) ** norm_type).sum() ** (1.0 / norm_type)


def get_total_norm(tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False):
    """‖(‖t₁‖_p, ‖t₂‖_p, ...)‖_p: the p-norm of all the tensors seen as one vector."""
    norm_type = float(norm_type)
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    if not tensors:
        return Tensor(0.0)
    norms = [float(_norm(t.data, norm_type)) for t in tensors]
    if norm_type == math.inf:
        total = max(norms)
    else:
        total = sum(n ** norm_type for n in norms) ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from "
                           "`parameters` is non-finite, so it cannot be clipped. To disable "
                           "this error and scale the gradients by the non-finite norm anyway, "
                           "set `error_if_nonfinite=False`")
    return Tensor.constant(
        backend.xp_of(tensors[0].data).asarray(total, dtype=tensors[0].dtype))


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach=None):
    """Scale all gradients by min(1, max_norm/(‖g‖ + 10⁻⁶)), where ‖g‖ is the p-norm of
    every gradient together; returns ‖g‖ (before clipping) as a Tensor."""
    grads = _grads(parameters)
    if not grads:
        return Tensor(0.0)
    total = get_total_norm(grads, norm_type, error_if_nonfinite)
    coef = float(max_norm) / (float(total.data) + 1e-6)
    if coef < 1.0:
        with np.errstate(invalid="ignore"):  # a non-finite norm gives NaNs, as in PyTorch
            for g in grads:
                g.data = g.data * g.data.dtype.type(coef)
    return total


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every gradient element into [−clip_value, clip_value]."""
    clip_value = float(clip_value)
    for g in _grads(parameters):
        g.data = backend.xp_of(g.data).clip(g.data, -clip_value, clip_value)
