"""``F.embedding``, ``F.embedding_bag`` and ``F.one_hot``."""
from __future__ import annotations

import numpy as np

from ... import backend
from ...autograd.grad_mode import no_grad
from ...ops import embedding as _E
from ...tensor import Tensor

__all__ = ["embedding", "embedding_bag", "one_hot"]


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


def _check_lookup(op, idx, weight, padding_idx):
    """Check a lookup of the rows ``idx`` of the 2-D ``weight``; ``padding_idx`` made
    non-negative (None stays None)."""
    n = weight.shape[0]
    if weight.ndim != 2:
        raise ValueError(f"{op}: weight must be 2-D, got shape {tuple(weight.shape)}")
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= n):
        bad = int(idx.min()) if int(idx.min()) < 0 else int(idx.max())
        raise IndexError(f"{op}: index {bad} is out of range for {n} embeddings")
    if padding_idx is not None:
        if not -n <= padding_idx < n:
            raise ValueError(f"{op}: padding_idx {padding_idx} must be within [-{n}, {n})")
        padding_idx %= n
    return padding_idx


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """Rows of ``weight`` (num_embeddings, embedding_dim) picked by the integer ``input``;
    the result has shape input.shape + (embedding_dim,)."""
    idx = _indices(input, "embedding")
    padding_idx = _check_lookup("embedding", idx, weight, padding_idx)
    if max_norm is not None:
        _renorm_(weight, idx, max_norm, norm_type)
    return _E.Embedding.apply(weight, index=idx, padding_idx=padding_idx,
                              scale_grad_by_freq=scale_grad_by_freq)


def _offsets(op, idx, offsets, include_last_offset):
    """The start of each bag of a 1-D ``idx`` (None for a 2-D one: bags of equal length),
    checked."""
    if idx.ndim == 2:
        if offsets is not None:
            raise ValueError(f"{op}: if input is 2-D (bags of equal length), offsets has to be "
                             f"None, got {type(offsets).__name__}")
        return None
    if idx.ndim != 1:
        raise ValueError(f"{op}: input has to be 1-D or 2-D, got shape {tuple(idx.shape)}")
    if offsets is None:
        raise ValueError(f"{op}: a 1-D input needs offsets (the start of each bag)")
    starts = _indices(offsets, op)
    if starts.ndim != 1:
        raise ValueError(f"{op}: offsets has to be 1-D, got shape {tuple(starts.shape)}")
    starts = backend.to_device(starts, backend.device_of(idx))
    if len(starts) and (int(starts[0]) != 0 or bool((starts[1:] < starts[:-1]).any())
                        or int(starts[-1]) > idx.size):
        raise ValueError(f"{op}: offsets must start at 0 and be non-decreasing up to the "
                         f"input's length {idx.size}, got {starts.tolist()}")
    if include_last_offset:
        if not len(starts) or int(starts[-1]) != idx.size:
            raise ValueError(f"{op}: with include_last_offset the last offset must be the "
                             f"input's length {idx.size} (CSR format), got offsets "
                             f"{starts.tolist()}")
        starts = starts[:-1]
    return starts


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False,
                  mode="mean", sparse=False, per_sample_weights=None, include_last_offset=False,
                  padding_idx=None):
    """Sums, means or maxima of bags of rows of ``weight``, without the intermediate
    embeddings: a 2-D ``input`` (B, L) is B bags of L indices; a 1-D one is cut into bags
    at ``offsets`` (``include_last_offset``: the last offset is the end of the last bag).
    ``per_sample_weights`` (``mode='sum'`` only) scale each row; ``padding_idx`` entries are
    left out of their bag (and of its count); an empty bag gives zeros. Result (B, D)."""
    op = "embedding_bag"
    idx = _indices(input, op)
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"{op}: mode has to be one of 'sum', 'mean' or 'max', got {mode!r}")
    if mode == "max" and scale_grad_by_freq:
        raise ValueError(f"{op}: max mode does not support scaling the gradient by the "
                         f"frequency")
    if per_sample_weights is not None:
        if tuple(per_sample_weights.shape) != tuple(idx.shape):
            raise ValueError(f"{op}: per_sample_weights has shape "
                             f"{tuple(per_sample_weights.shape)}, expected the input's shape "
                             f"{tuple(idx.shape)}")
        if mode != "sum":
            raise NotImplementedError(f"{op}: per_sample_weights is only supported for "
                                      f"mode='sum' (got mode={mode!r})")
    padding_idx = _check_lookup(op, idx, weight, padding_idx)
    starts = _offsets(op, idx, offsets, include_last_offset)
    if max_norm is not None:
        _renorm_(weight, idx, max_norm, norm_type)
    samples = [] if per_sample_weights is None else [per_sample_weights]
    return _E.EmbeddingBag.apply(weight, *samples, index=idx, offsets=starts,
                                 padding_idx=padding_idx, mode=mode,
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
