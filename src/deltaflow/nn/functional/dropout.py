"""``F.dropout`` and ``F.dropout2d``: masks drawn from :func:`deltaflow.random.generator`."""
from __future__ import annotations

import numpy as np

from ... import random as _random
from ...ops import dropout as _D
from ...tensor import Tensor

__all__ = ["dropout", "dropout1d", "dropout2d"]


def _keep_mask(input, shape, p):
    """[u ≥ p]/(1 − p) of ``shape`` in the input's dtype (all zeros when p = 1)."""
    dtype = input.dtype if input.dtype in (np.float32, np.float64) else np.float32
    u = _random.generator(input.device).random(shape, dtype=dtype)
    if p >= 1:
        return (u * 0).astype(input.dtype, copy=False)
    keep = u >= p
    return (keep * (1.0 / (1.0 - p))).astype(input.dtype, copy=False)


def _check_p(op, p):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {p}")


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability p and scale the rest by 1/(1 − p) (training only)."""
    _check_p("dropout", p)
    if not training or p == 0:
        return input
    return _D.Dropout.apply(input, mask=_keep_mask(input, input.shape, p))


def _channel_dropout(op, input, p, training, ndims):
    _check_p(op, p)
    if input.ndim not in ndims:
        raise ValueError(f"{op}: expected a {' or '.join(f'{d}D' for d in ndims)} input "
                         f"(N, C, ...), got shape {tuple(input.shape)}")
    if not training or p == 0:
        return input
    shape = input.shape[:2] + (1,) * (input.ndim - 2)
    return _D.Dropout.apply(input, mask=_keep_mask(input, shape, p))


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, L) inputs with probability p."""
    return _channel_dropout("dropout1d", input, p, training, (3,))


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, H, W) inputs (or (N, C, L), as PyTorch interprets 3-D
    input) with probability p; the rest are scaled by 1/(1 − p)."""
    return _channel_dropout("dropout2d", input, p, training, (3, 4))


# ---- pytorch parity: dropout3d and alpha dropout ----
__all__ += ["dropout3d", "alpha_dropout", "feature_alpha_dropout"]

SELU_SATURATION = 1.7580993408473766  # −λα of SELU: the value alpha dropout sets dropped units to


def dropout3d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, D, H, W) or (C, D, H, W) inputs with probability p."""
    if input.ndim == 4:
        return dropout3d(input.unsqueeze(0), p, training).squeeze(0)
    return _channel_dropout("dropout3d", input, p, training, (5,))


def _alpha_dropout(op, input, p, training, shape):
    """x·m·a + b with m ~ Bernoulli(1 − p), dropped units at SELU's saturation −α′ and (a, b)
    restoring zero mean and unit variance (Klambauer et al., PyTorch's constants)."""
    _check_p(op, p)
    if not training or p == 0:
        return input
    if p == 1:
        return input * 0.0
    u = _random.generator(input.device).random(shape, dtype=np.float64)
    keep = (u >= p).astype(input.dtype)
    a = 1.0 / np.sqrt((SELU_SATURATION ** 2 * p + 1) * (1 - p))
    shift = (keep - 1) * (SELU_SATURATION * a) + SELU_SATURATION * a * p
    return _D.Dropout.apply(input, mask=keep * a) + Tensor.constant(shift.astype(input.dtype))


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Dropout for SELU networks: dropped elements take SELU's saturation value, and the
    output is rescaled to keep the input's mean and variance."""
    return _alpha_dropout("alpha_dropout", input, p, training, input.shape)


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    """``alpha_dropout`` of whole channels (dim 1)."""
    shape = input.shape[:2] + (1,) * (input.ndim - 2)
    return _alpha_dropout("feature_alpha_dropout", input, p, training, shape)
