"""``default_collate``: turn a list of samples into a batch, like PyTorch's.

Tensors and arrays are stacked along a new first dimension; Python ``int`` → int64,
``float`` → float32 (deltaflow's default float), ``bool`` → bool tensors; NumPy scalars keep
their dtype; dicts, tuples, lists and named tuples are collated field by field; strings
stay a list.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .. import backend
from ..tensor import Tensor


def _stack(arrays) -> Tensor:
    xp = backend.xp_of(arrays[0])
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise RuntimeError(f"default_collate: cannot stack samples of different shapes "
                           f"{sorted(shapes)}; pad them or pass a collate_fn")
    return Tensor.constant(xp.stack(arrays))


def default_collate(batch):
    """Collate a list of samples (see the module docstring)."""
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _stack([b.data for b in batch])
    if isinstance(elem, np.ndarray) or backend.xp_of(elem) is not np:
        return _stack(list(batch))
    if isinstance(elem, np.generic):
        return Tensor.constant(np.array(batch, dtype=elem.dtype))
    if isinstance(elem, bool):
        return Tensor.constant(np.array(batch, dtype=np.bool_))
    if isinstance(elem, int):
        return Tensor.constant(np.array(batch, dtype=np.int64))
    if isinstance(elem, float):
        return Tensor.constant(np.array(batch, dtype=backend.default_float))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, Mapping):
        return {k: default_collate([b[k] for b in batch]) for k in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):
        return type(elem)(*(default_collate(list(f)) for f in zip(*batch)))
    if isinstance(elem, Sequence):
        if len({len(b) for b in batch}) != 1:
            raise RuntimeError("default_collate: each sample in a batch must have the same "
                               "number of fields")
        return tuple(default_collate(list(f)) for f in zip(*batch))
    raise TypeError(f"default_collate: don't know how to batch samples of type "
                    f"{type(elem).__name__}; pass a collate_fn")
