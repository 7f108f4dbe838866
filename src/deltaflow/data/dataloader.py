"""``DataLoader``: batches from a dataset, shuffled by its own seeded generator.

Shuffling draws one permutation per epoch (when iteration starts) from the loader's
``numpy.random.Generator``: the one passed as ``generator`` (or seeded from an int), else one
forked from deltaflow's global generator when the loader is built -- so ``dl.manual_seed(s)``
before building the loader fixes every epoch's order. ``state_dict()``/``load_state_dict()``
save and restore that generator, so a run resumed at an epoch boundary sees the same
orders as an uninterrupted one.
"""
from __future__ import annotations

import math
import queue
import threading

import numpy as np

from .collate import default_collate
from .dataset import IterableDataset, as_generator


class DataLoader:
    """Iterate over ``dataset`` in batches.

    Args:
        batch_size: samples per batch.
        shuffle: a new random order every epoch.
        drop_last: drop the last batch when it is smaller than ``batch_size``.
        collate_fn: list of samples → batch (default :func:`default_collate`). With the
            default, datasets that have ``get_batch(indices)`` (``TensorDataset``) are read
            a whole batch at a time.
        generator: ``numpy.random.Generator`` or int seed for shuffling.
        prefetch: number of batches a background thread prepares ahead (0: none).
        sampler: the order of indices (a :mod:`~deltaflow.data.sampler` sampler or any
            iterable of indices with ``len``); not with ``shuffle``.
        batch_sampler: yields lists of indices, one per batch; not with ``batch_size``,
            ``shuffle``, ``sampler`` or ``drop_last``.
        num_workers: PyTorch's worker processes; here ``> 0`` loads in one background thread
            (``prefetch`` = ``prefetch_factor`` × ``num_workers`` batches ahead, default 2 ×).
        pin_memory, timeout, persistent_workers: accepted for PyTorch code; no effect (CPU
            arrays need no pinning; the thread has no start-up to keep).
    """

    def __init__(self, dataset, batch_size: int | None = 1, shuffle: bool = False,
                 sampler=None, batch_sampler=None, num_workers: int = 0, collate_fn=None,
                 pin_memory: bool = False, drop_last: bool = False, timeout: float = 0,
                 generator=None, *, prefetch: int = 0, prefetch_factor: int | None = None,
                 persistent_workers: bool = False):
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("DataLoader: batch_sampler option is mutually exclusive with "
                                 "batch_size, shuffle, sampler, and drop_last")
        elif not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) \
                or batch_size <= 0:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got "
                             f"{batch_size!r}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"DataLoader: num_workers must be an int >= 0, got "
                             f"{num_workers!r}")
        if num_workers:
            prefetch = max(prefetch, (prefetch_factor or 2) * num_workers)
        if prefetch < 0:
            raise ValueError(f"DataLoader: prefetch must be >= 0, got {prefetch}")
        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable and (shuffle or sampler is not None or batch_sampler is not None):
            raise ValueError("DataLoader: shuffle, sampler and batch_sampler are not "
                             "available for an IterableDataset")
        self.sampler, self.batch_sampler = sampler, batch_sampler
        self.num_workers, self.pin_memory = num_workers, pin_memory
        self.dataset = dataset
        self.batch_size = None if batch_sampler is not None else int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.collate_fn = collate_fn if collate_fn is not None else default_collate
        self._fast = collate_fn is None and hasattr(dataset, "get_batch")
        self.generator = as_generator(generator) if shuffle else None
        self.prefetch = int(prefetch)

    def __len__(self) -> int:
        if self._iterable:
            raise TypeError("DataLoader over an IterableDataset has no len()")
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _index_batches(self):
        """The epoch's index arrays (the order is drawn now, not lazily)."""
        if self.batch_sampler is not None:
            return [np.asarray(batch, dtype=np.int64) for batch in self.batch_sampler]
        if self.sampler is not None:
            order = np.fromiter(self.sampler, dtype=np.int64)
        else:
            n = len(self.dataset)
            order = self.generator.permutation(n) if self.shuffle else np.arange(n)
        n = len(order)
        stop = n - n % self.batch_size if self.drop_last else n
        return [order[i:i + self.batch_size] for i in range(0, stop, self.batch_size)]

    def _map_batches(self, index_batches):
        for idx in index_batches:
            if self._fast:
                yield self.dataset.get_batch(idx)
            else:
                yield self.collate_fn([self.dataset[int(i)] for i in idx])

    def _stream_batches(self):
        chunk = []
        for sample in self.dataset:
            chunk.append(sample)
            if len(chunk) == self.batch_size:
                yield self.collate_fn(chunk)
                chunk = []
        if chunk and not self.drop_last:
            yield self.collate_fn(chunk)

    def __iter__(self):
        batches = self._stream_batches() if self._iterable else \
            self._map_batches(self._index_batches())
        return _Prefetcher(batches, self.prefetch) if self.prefetch else batches

    def _order_source(self):
        """The sampler or batch sampler that decides the order, if one was given."""
        return self.batch_sampler if self.batch_sampler is not None else self.sampler

    def state_dict(self) -> dict:
        """The shuffling generator's state, or the sampler's (JSON-serialisable); empty
        when the order is not random."""
        source = self._order_source()
        if source is not None:
            return {"sampler": source.state_dict()} if hasattr(source, "state_dict") else {}
        return {"generator": self.generator.bit_generator.state} if self.shuffle else {}

    def load_state_dict(self, state_dict: dict) -> None:
        source = self._order_source()
        if source is not None and "sampler" in state_dict:
            source.load_state_dict(state_dict["sampler"])
        elif self.shuffle and "generator" in state_dict:
            self.generator.bit_generator.state = state_dict["generator"]


_DONE = object()


def _put(q: queue.Queue, stop: threading.Event, item) -> bool:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _work(batches, q: queue.Queue, stop: threading.Event) -> None:
    """The prefetch thread's body (holds no reference to the consumer, which may be dropped)."""
    try:
        for batch in batches:
            if not _put(q, stop, (batch, None)):
                return
    except BaseException as e:  # noqa: BLE001 - handed to the consumer
        _put(q, stop, (None, e))
        return
    _put(q, stop, (_DONE, None))


class _Prefetcher:
    """Run a batch iterator in a daemon thread, ``depth`` batches ahead of the consumer.

    NumPy releases the GIL inside its copies, so gathering the next batch overlaps with the
    training step. Exceptions in the thread are re-raised in the consumer; a consumer that
    stops early (``break``) stops the thread when it is closed or garbage-collected.
    """

    def __init__(self, batches, depth: int):
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=_work, args=(batches, self._queue, self._stop),
                                        daemon=True, name="deltaflow-prefetch")
        self._thread.start()

    def __iter__(self):
        return self

    def __next__(self):
        if self._stop.is_set():
            raise StopIteration
        batch, error = self._queue.get()
        if error is not None:
            self.close()
            raise error
        if batch is _DONE:
            self.close()
            raise StopIteration
        return batch

    def close(self) -> None:
        """Stop the worker thread."""
        self._stop.set()

    def __del__(self):
        self.close()
