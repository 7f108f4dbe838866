"""Samplers: the order in which a :class:`~deltaflow.data.DataLoader` reads a dataset
(mirrors ``torch.utils.data``'s). A sampler iterates over dataset indices; a
:class:`BatchSampler` over lists of them. The random ones draw from their own seeded
``numpy.random.Generator`` (``generator``: a Generator, an int seed, or None: forked from
deltaflow's global generator) and save it with ``state_dict()``, so a resumed run reads the
same orders.
"""
from __future__ import annotations

import math

import numpy as np

from .dataset import as_generator


class Sampler:
    """Base class: ``__iter__`` yields indices, ``__len__`` says how many."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class SequentialSampler(Sampler):
    """0, 1, …, len(data_source) − 1."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class _Random(Sampler):
    def __init__(self, generator):
        self.generator = as_generator(generator)

    def state_dict(self) -> dict:
        return {"generator": self.generator.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.generator.bit_generator.state = state["generator"]


class RandomSampler(_Random):
    """A random permutation of the indices per pass, or ``num_samples`` indices drawn with
    ``replacement``."""

    def __init__(self, data_source, replacement: bool = False, num_samples: int | None = None,
                 generator=None):
        super().__init__(generator)
        self.data_source, self.replacement = data_source, replacement
        if num_samples is not None and (not isinstance(num_samples, int) or num_samples < 1):
            raise ValueError(f"RandomSampler: num_samples must be a positive int, got "
                             f"{num_samples!r}")
        self._num_samples = num_samples

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        n = len(self.data_source)
        if self.replacement:
            return iter(self.generator.integers(0, n, size=self.num_samples).tolist())
        repeats = math.ceil(self.num_samples / n) if n else 0
        order = np.concatenate([self.generator.permutation(n) for _ in range(repeats)]) \
            if repeats else np.arange(0)
        return iter(order[:self.num_samples].tolist())

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(_Random):
    """The given ``indices`` in a random order per pass."""

    def __init__(self, indices, generator=None):
        super().__init__(generator)
        self.indices = list(indices)

    def __iter__(self):
        return iter([self.indices[i] for i in self.generator.permutation(len(self.indices))])

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(_Random):
    """``num_samples`` indices in ``0 … len(weights) − 1``, index ``i`` drawn with
    probability ``weights[i] / Σ weights`` (need not sum to 1); with ``replacement=False``
    each index at most once, each draw from the indices not drawn yet (as
    ``torch.multinomial``)."""

    def __init__(self, weights, num_samples: int, replacement: bool = True, generator=None):
        if not isinstance(num_samples, (int, np.integer)) or isinstance(num_samples, bool) \
                or num_samples <= 0:
            raise ValueError(f"WeightedRandomSampler: num_samples should be a positive integer "
                             f"value, but got num_samples={num_samples!r}")
        if not isinstance(replacement, bool):
            raise ValueError(f"WeightedRandomSampler: replacement should be a boolean value, "
                             f"but got replacement={replacement!r}")
        weights = np.asarray(weights, dtype=np.float64)
        if weights.ndim != 1:
            raise ValueError(f"WeightedRandomSampler: weights should be a 1d sequence but given "
                             f"weights have shape {weights.shape}")
        if not np.isfinite(weights).all() or (weights < 0).any() or weights.sum() <= 0:
            raise ValueError("WeightedRandomSampler: weights must be finite, non-negative and "
                             "not all zero")
        if not replacement and num_samples > np.count_nonzero(weights):
            raise ValueError(f"WeightedRandomSampler: cannot draw {num_samples} samples without "
                             f"replacement from {np.count_nonzero(weights)} non-zero weights")
        super().__init__(generator)
        self.weights, self.num_samples, self.replacement = weights, int(num_samples), replacement

    def __iter__(self):
        p = self.weights / self.weights.sum()
        drawn = self.generator.choice(len(p), size=self.num_samples, replace=self.replacement,
                                      p=p)
        return iter(drawn.tolist())

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Lists of ``batch_size`` indices from ``sampler`` (the last one shorter unless
    ``drop_last``)."""

    def __init__(self, sampler, batch_size: int, drop_last: bool):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"BatchSampler: batch_size must be a positive int, got "
                             f"{batch_size!r}")
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last

    def __iter__(self):
        batch = []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def state_dict(self) -> dict:
        return self.sampler.state_dict() if hasattr(self.sampler, "state_dict") else {}

    def load_state_dict(self, state: dict) -> None:
        if hasattr(self.sampler, "load_state_dict"):
            self.sampler.load_state_dict(state)


__all__ = ["BatchSampler", "RandomSampler", "Sampler", "SequentialSampler",
           "SubsetRandomSampler", "WeightedRandomSampler"]
