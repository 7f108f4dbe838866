"""``DataLoader``: batches from a dataset, in worker processes when ``num_workers > 0``.

Randomness (PyTorch's rules, deltaflow's generators): every ``iter(loader)`` -- every epoch
-- first draws a base seed, then the epoch's order, both in the main process, from the
loader's ``numpy.random.Generator``: the one passed as ``generator`` (or seeded from an int),
or, with ``shuffle=True`` and no ``generator``, one forked from deltaflow's global generator
when the loader is built; without either, the base seed comes from deltaflow's global
generator. So ``dl.manual_seed(s)`` before building the loader fixes every epoch, and the
batches do not depend on ``num_workers``. Worker ``k`` seeds Python's ``random``, NumPy's
global generator and deltaflow's from ``base_seed + k`` at the start of every epoch.
``state_dict()``/``load_state_dict()`` save and restore the generators, so a run resumed at
an epoch boundary sees the same orders and the same worker seeds as an uninterrupted one.
"""
from __future__ import annotations

import math
import queue
import threading

import numpy as np

from .. import random as dl_random
from .collate import default_collate
from .dataset import IterableDataset, as_generator
from .fetch import Fetcher
from .multiprocess import WorkerIterator, WorkerPool, default_context, resolve_context
from .worker import dumps


def _check_count(name: str, value, minimum: int) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"DataLoader: {name} must be an int >= {minimum}, got {value!r}")


class DataLoader:
    """Iterate over ``dataset`` in batches (PyTorch's arguments, in PyTorch's order).

    Args:
        batch_size: samples per batch.
        shuffle: a new random order every epoch.
        sampler: the order of indices (a :mod:`~deltaflow.data.sampler` sampler or any
            iterable of indices with ``len``); not with ``shuffle``.
        batch_sampler: yields lists of indices, one per batch; not with ``batch_size``,
            ``shuffle``, ``sampler`` or ``drop_last``.
        num_workers: worker processes that load the batches (0: in the main process).
        collate_fn: list of samples → batch (default :func:`default_collate`). With the
            default, datasets that have ``get_batch(indices)`` (``TensorDataset``) are read
            a whole batch at a time.
        pin_memory: accepted for PyTorch code; no effect (host arrays need no pinning).
        drop_last: drop the last batch when it is smaller than ``batch_size``.
        timeout: with workers, seconds to wait for a batch before a RuntimeError (0: no
            limit).
        worker_init_fn: called as ``worker_init_fn(worker_id)`` in each worker, after its
            seeding, before its first batch.
        multiprocessing_context: a start method's name or a ``multiprocessing`` context
            (default ``forkserver``, see :mod:`deltaflow.data.multiprocess`).
        generator: ``numpy.random.Generator`` or int seed for the order and the base seed.
        prefetch_factor: batches each worker prepares ahead (default 2; only with workers).
        persistent_workers: keep the worker processes from one epoch to the next.
        prefetch: without workers, batches a background thread prepares ahead (0: none).
    """

    def __init__(self, dataset, batch_size: int | None = 1, shuffle: bool = False,
                 sampler=None, batch_sampler=None, num_workers: int = 0, collate_fn=None,
                 pin_memory: bool = False, drop_last: bool = False, timeout: float = 0,
                 worker_init_fn=None, multiprocessing_context=None, generator=None, *,
                 prefetch_factor: int | None = None, persistent_workers: bool = False,
                 prefetch: int = 0):
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
        if not isinstance(num_workers, (int, np.integer)) or num_workers < 0:
            raise ValueError(f"DataLoader: num_workers option should be non-negative; use "
                             f"num_workers=0 to disable multiprocessing (got {num_workers!r})")
        if not timeout >= 0:
            raise ValueError(f"DataLoader: timeout option should be non-negative, got "
                             f"{timeout!r}")
        if num_workers:
            prefetch_factor = 2 if prefetch_factor is None else prefetch_factor
            _check_count("prefetch_factor", prefetch_factor, 1)
            if prefetch:
                raise ValueError("DataLoader: prefetch (a loading thread) is for "
                                 "num_workers=0; worker processes prefetch prefetch_factor "
                                 "batches each")
        elif prefetch_factor is not None:
            raise ValueError("DataLoader: prefetch_factor option could only be specified in "
                             "multiprocessing. let num_workers > 0 to enable "
                             "multiprocessing, otherwise set prefetch_factor to None.")
        elif persistent_workers:
            raise ValueError("DataLoader: persistent_workers option needs num_workers > 0")
        _check_count("prefetch", prefetch, 0)
        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable and (shuffle or sampler is not None or batch_sampler is not None):
            raise ValueError("DataLoader: shuffle, sampler and batch_sampler are not "
                             "available for an IterableDataset")
        self.dataset = dataset
        self.batch_size = None if batch_sampler is not None else int(batch_size)
        self.shuffle, self.sampler, self.batch_sampler = shuffle, sampler, batch_sampler
        self.num_workers, self.pin_memory = int(num_workers), pin_memory
        self.drop_last = drop_last
        self.timeout, self.worker_init_fn = timeout, worker_init_fn
        self.multiprocessing_context = resolve_context(multiprocessing_context, num_workers)
        self.prefetch_factor, self.persistent_workers = prefetch_factor, persistent_workers
        self.prefetch = int(prefetch)
        self.collate_fn = collate_fn if collate_fn is not None else default_collate
        self.fetcher = Fetcher(dataset, self.collate_fn, self.batch_size, drop_last,
                               fast=collate_fn is None and hasattr(dataset, "get_batch"))
        self.generator = as_generator(generator) if shuffle or generator is not None else None
        self._iterator = None  # the persistent workers' iterator

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

    def _base_seed(self) -> int:
        rng = self.generator if self.generator is not None else dl_random.generator()
        return int(rng.integers(0, 2**63 - 1))

    def __iter__(self):
        base_seed = self._base_seed()
        tasks = None if self._iterable else self._index_batches()
        if self.num_workers:
            return self._worker_iterator(tasks, base_seed)
        batches = self.fetcher.stream() if self._iterable else map(self.fetcher, tasks)
        return _Prefetcher(batches, self.prefetch) if self.prefetch else batches

    def _worker_iterator(self, tasks, base_seed: int) -> WorkerIterator:
        if self._iterator is not None and not self._iterator.pool.closed:
            return self._iterator.restart(tasks, base_seed)
        try:
            setup = dumps((self.fetcher, self._iterable, self.worker_init_fn))
        except Exception as e:  # noqa: BLE001 - one message for every kind of pickling error
            raise TypeError(f"DataLoader: with num_workers > 0 the dataset, collate_fn and "
                            f"worker_init_fn are sent to the worker processes and must be "
                            f"picklable (module-level classes and functions): {e}") from e
        pool = WorkerPool(self.multiprocessing_context or default_context(), setup,
                          self.num_workers, base_seed)
        iterator = WorkerIterator(pool, self.prefetch_factor * self.num_workers, self.timeout,
                                  self.persistent_workers).start(tasks)
        if self.persistent_workers:
            self._iterator = iterator
        return iterator

    def _order_source(self):
        """The sampler or batch sampler that decides the order, if one was given."""
        return self.batch_sampler if self.batch_sampler is not None else self.sampler

    def state_dict(self) -> dict:
        """The loader's generator state and the sampler's (JSON-serialisable); empty when
        neither is random."""
        state = {}
        source = self._order_source()
        if source is not None and hasattr(source, "state_dict"):
            state["sampler"] = source.state_dict()
        if self.generator is not None:
            state["generator"] = self.generator.bit_generator.state
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        source = self._order_source()
        if source is not None and "sampler" in state_dict:
            source.load_state_dict(state_dict["sampler"])
        if self.generator is not None and "generator" in state_dict:
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
