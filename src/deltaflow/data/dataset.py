"""Datasets: ``Dataset``, ``IterableDataset``, ``TensorDataset``, ``Subset``,
``ConcatDataset``, ``ChainDataset``, ``StackDataset``, ``random_split``.

A map-style dataset has ``__len__`` and ``__getitem__(i)``. A dataset may also define
``get_batch(indices)`` (``indices``: an int64 NumPy array) returning the already-collated
batch; :class:`~deltaflow.data.DataLoader` then fetches a whole batch with one fancy-index
per tensor instead of one Python call per sample. ``TensorDataset`` has it, and so has
a ``Subset`` of a dataset that has it, and a ``StackDataset`` of datasets that all have it.
"""
from __future__ import annotations

import bisect
import math

import numpy as np

from .. import backend
from .. import random as _random
from ..tensor import Tensor


class Dataset:
    """Base class for map-style datasets: subclasses define ``__getitem__`` and ``__len__``."""

    def __getitem__(self, index):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset:
    """Base class for stream-style datasets: subclasses define ``__iter__`` (yielding
    samples). A DataLoader batches them in order; shuffle is not available.

    With ``num_workers > 0`` every worker iterates its own copy of the dataset, so each
    sample comes ``num_workers`` times unless ``__iter__`` reads only its worker's share,
    as PyTorch documents::

        def __iter__(self):
            info = dl.data.get_worker_info()          # None in the main process
            if info is None:
                return iter(range(self.start, self.end))
            per_worker = math.ceil((self.end - self.start) / info.num_workers)
            start = self.start + info.id * per_worker
            return iter(range(start, min(start + per_worker, self.end)))

    The loader takes one batch from each worker in turn.
    """

    def __iter__(self):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")

    def __add__(self, other: IterableDataset) -> ChainDataset:
        return ChainDataset([self, other])


def _as_tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x))


class TensorDataset(Dataset):
    """Samples are ``(t[i] for t in tensors)``; all tensors share their first dimension.

    Arrays are wrapped without copying (NumPy arrays keep their dtype).
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        self.tensors = tuple(_as_tensor(t) for t in tensors)
        sizes = [t.shape[0] if t.ndim else None for t in self.tensors]
        if None in sizes or len(set(sizes)) != 1:
            raise ValueError(f"TensorDataset: all tensors need the same first dimension; got "
                             f"shapes {[tuple(t.shape) for t in self.tensors]}")

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def __getitem__(self, index):
        return tuple(Tensor.constant(t.data[index]) for t in self.tensors)

    def get_batch(self, indices: np.ndarray) -> tuple:
        """The collated batch for ``indices`` (one ``take`` per tensor, on its device)."""
        return tuple(Tensor.constant(t.data.take(backend.xp_of(t.data).asarray(indices), axis=0))
                     for t in self.tensors)


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index):
        return self.dataset[int(self.indices[index])]

    def __getattr__(self, name):
        if name == "get_batch" and hasattr(self.__dict__.get("dataset"), "get_batch"):
            return lambda indices: self.dataset.get_batch(self.indices[indices])
        raise AttributeError(name)


class ConcatDataset(Dataset):
    """Several datasets one after the other."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset needs at least one dataset")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def _locate(self, index: int):
        if index < 0:
            if -index > len(self):
                raise IndexError(f"ConcatDataset: index {index} out of range for length "
                                 f"{len(self)}")
            index += len(self)
        k = bisect.bisect_right(self.cumulative_sizes, index)
        if k == len(self.datasets):
            raise IndexError(f"ConcatDataset: index {index} out of range for length {len(self)}")
        return k, index - (self.cumulative_sizes[k - 1] if k else 0)

    def __getitem__(self, index):
        k, i = self._locate(int(index))
        return self.datasets[k][i]


class ChainDataset(IterableDataset):
    """Several iterable datasets one after the other (also ``a + b``)."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise TypeError(f"ChainDataset only supports IterableDataset, got "
                                f"{type(d).__name__}")

    def __iter__(self):
        for d in self.datasets:
            yield from d

    def __len__(self) -> int:
        return sum(len(d) for d in self.datasets)


class StackDataset(Dataset):
    """Sample ``i`` of several datasets of one length together: ``StackDataset(a, b)[i]`` is
    ``(a[i], b[i])``, ``StackDataset(x=a, y=b)[i]`` is ``{"x": a[i], "y": b[i]}``."""

    def __init__(self, *args, **kwargs):
        if args and kwargs:
            raise ValueError("StackDataset: supported either tuple- (via args) or dict- (via "
                             "kwargs) like input/output, but both types are given")
        if not args and not kwargs:
            raise ValueError("StackDataset: at least one dataset should be passed")
        self.datasets = args or kwargs
        lengths = [len(d) for d in (args or kwargs.values())]
        if len(set(lengths)) != 1:
            raise ValueError(f"StackDataset: size mismatch between datasets: lengths {lengths}")
        self._length = lengths[0]

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index):
        if isinstance(self.datasets, dict):
            return {k: d[index] for k, d in self.datasets.items()}
        return tuple(d[index] for d in self.datasets)

    def __getattr__(self, name):
        datasets = self.__dict__.get("datasets", ())
        parts = datasets.values() if isinstance(datasets, dict) else datasets
        if name == "get_batch" and parts and all(hasattr(d, "get_batch") for d in parts):
            return self._get_batch
        raise AttributeError(name)

    def _get_batch(self, indices: np.ndarray):
        if isinstance(self.datasets, dict):
            return {k: d.get_batch(indices) for k, d in self.datasets.items()}
        return tuple(d.get_batch(indices) for d in self.datasets)


def as_generator(generator) -> np.random.Generator:
    """A NumPy Generator from ``None`` (forked from deltaflow's), a seed, or a Generator."""
    if generator is None:
        return _random.fork_rng()
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, (int, np.integer)):
        return np.random.default_rng(int(generator))
    raise TypeError(f"generator must be None, an int seed or a numpy.random.Generator, got "
                    f"{type(generator).__name__}")


def random_split(dataset, lengths, generator=None) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random :class:`Subset` s.

    ``lengths`` are sizes summing to ``len(dataset)``, or fractions summing to 1 (sizes are
    floored and the remainder is handed out one by one from the first split, as in PyTorch).
    ``generator``: a ``numpy.random.Generator`` or an int seed; by default one derived from
    ``dl.manual_seed``'s generator.
    """
    n = len(dataset)
    lengths = list(lengths)
    if lengths and all(0 <= f <= 1 for f in lengths) and math.isclose(sum(lengths), 1) \
            and sum(lengths) <= 1 + 1e-9 and not all(isinstance(f, int) for f in lengths):
        sizes = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        lengths = sizes
    if any(int(s) != s or s < 0 for s in lengths) or sum(lengths) != n:
        raise ValueError(f"random_split: lengths {lengths} must be non-negative sizes summing "
                         f"to the dataset's length {n}, or fractions summing to 1")
    perm = as_generator(generator).permutation(n)
    bounds = np.cumsum([0] + [int(s) for s in lengths])
    return [Subset(dataset, perm[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
