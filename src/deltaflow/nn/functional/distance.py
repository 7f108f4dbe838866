"""Norms and distances of ``torch.nn.functional``: ``normalize``, ``cosine_similarity``,
``pairwise_distance`` (composed of differentiable ops)."""
from __future__ import annotations

import numpy as np

from ... import functional as _F
from ...autograd import no_grad

__all__ = ["normalize", "cosine_similarity", "pairwise_distance"]


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """x / max(‖x‖ₚ, eps), the norm taken along ``dim``."""
    if out is not None:
        raise NotImplementedError("normalize: out= is not supported; use the returned tensor")
    if input.dtype.kind != "f":
        raise TypeError(f"normalize: expected a floating point input, got {input.dtype}")
    denom = _F.norm(input, p, dim, keepdim=True).clamp_min(eps)
    return input / denom


def _broadcast(x1, x2, op):
    try:
        shape = np.broadcast_shapes(x1.shape, x2.shape)
    except ValueError:
        raise RuntimeError(f"{op}: x1 of shape {tuple(x1.shape)} and x2 of shape "
                           f"{tuple(x2.shape)} cannot be broadcast together") from None
    return [x if x.shape == shape else _F.broadcast_to(x, shape) for x in (x1, x2)]


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """Σ (x1/max(‖x1‖, eps)) ⊙ (x2/max(‖x2‖, eps)) along ``dim`` (PyTorch 2's formula: each
    input normalised first, so |result| ≤ 1; the clamp at eps is not differentiated)."""
    if x1.dtype.kind != "f" and x2.dtype.kind != "f":
        raise TypeError(f"cosine_similarity: expected floating point inputs, got {x1.dtype} "
                        f"and {x2.dtype}")
    x1, x2 = _broadcast(*_F._pair(x1, x2), "cosine_similarity")
    d = _F._dim(dim, x1.ndim, "cosine_similarity")
    norms = []
    for x in (x1, x2):
        n = _F.norm(x, 2, d, keepdim=True).clone()
        with no_grad():
            n.clamp_min_(eps)
        norms.append(n)
    return ((x1 / norms[0]) * (x2 / norms[1])).sum(d)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """‖x1 − x2 + eps‖ₚ along the last dim (of the broadcast shape)."""
    ndim = max(x1.ndim, x2.ndim)
    if ndim == 0:
        raise RuntimeError("pairwise_distance: expected inputs with at least 1 dimension")
    return _F.norm(x1 - x2 + eps, p, ndim - 1, keepdim=keepdim)


# ---- pytorch parity: pdist ----
__all__ += ["pdist"]


def pdist(input, p=2.0):
    """‖xᵢ − xⱼ‖ₚ for every pair of rows i < j of an (N, M) input, in row-major order."""
    if input.ndim != 2:
        raise RuntimeError(f"pdist: expected a 2-D input, got shape {tuple(input.shape)}")
    i, j = np.triu_indices(input.shape[0], 1)
    return _F.norm(input[i] - input[j], p, dim=1)
