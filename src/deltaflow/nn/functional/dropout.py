"""``F.dropout`` and ``F.dropout2d``: masks drawn from :func:`deltaflow.random.generator`."""
from __future__ import annotations

import numpy as np

from ... import random as _random
from ...ops import dropout as _D

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
