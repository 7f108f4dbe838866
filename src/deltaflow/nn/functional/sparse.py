"""``F.embedding`` and ``F.one_hot``."""
from __future__ import annotations

import numpy as np

from ... import backend
from ...autograd.grad_mode import no_grad
from ...ops import embedding as _E
from ...tensor import Tensor

__all__ = ["embedding", "one_hot"]


def _indices(input, op):
    idx = input.data if isinstance(input, Tensor) else np.asarray(input)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{op}: indices must be integers, got dtype {idx.dtype}")
    return idx


def _renorm_(weight, idx, max_norm, norm_type):
    """Rescale in place the rows of ``weight`` used by ``idx`` whose p-norm exceeds
    ``max_norm`` to norm ``max_norm`` (not recorded by autograd, like PyTorch)."""
    xp = backend.xp_of(weight.data)
    rows = xp.unique(idx.reshape(-1))
    w = weight.data[rows]
    norms = (xp.abs(w) ** norm_type).sum(axis=1) ** (1.0 / norm_type)
    scale = xp.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0).astype(w.dtype)
    with no_grad():
        weight.data[rows] = w * scale[:, None]


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """Rows of ``weight`` (num_embeddings, embedding_dim) picked by the integer ``input``;
    the result has shape input.shape + (embedding_dim,)."""
    idx = _indices(input, "embedding")
    n = weight.shape[0]
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D, got shape {tuple(weight.shape)}")
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= n):
        bad = int(idx.min()) if int(idx.min()) < 0 else int(idx.max())
        raise IndexError(f"embedding: index {bad} is out of range for {n} embeddings")
    if padding_idx is not None:
        if not -n <= padding_idx < n:
            raise ValueError(f"embedding: padding_idx {padding_idx} must be within "
                             f"[-{n}, {n})")
        padding_idx %= n
    if max_norm is not None:
        _renorm_(weight, idx, max_norm, norm_type)
    return _E.Embedding.apply(weight, index=idx, padding_idx=padding_idx,
                              scale_grad_by_freq=scale_grad_by_freq)


def one_hot(tensor, num_classes=-1):
    """An int64 tensor of shape tensor.shape + (num_classes,) with a 1 at each index
    (``num_classes=-1``: one more than the largest index)."""
    idx = _indices(tensor, "one_hot")
    if idx.size and int(idx.min()) < 0:
        raise RuntimeError("one_hot: class values must be non-negative")
    if num_classes == -1:
        num_classes = int(idx.max()) + 1 if idx.size else 0
    elif idx.size and int(idx.max()) >= num_classes:
        raise RuntimeError(f"one_hot: class values must be smaller than num_classes "
                           f"({num_classes}), got {int(idx.max())}")
    xp = backend.xp_of(idx)
    out = (idx[..., None] == xp.arange(num_classes)).astype(np.int64)
    return Tensor.constant(out)
