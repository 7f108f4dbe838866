"""What runs inside a DataLoader worker process, and :func:`get_worker_info`.

A worker receives its :class:`~deltaflow.data.fetch.Fetcher` (dataset, collate function,
batch options) and ``worker_init_fn`` once, as bytes from :func:`dumps`, then answers the
messages on its own task queue, in order, on the result queue it shares with the others:

* ``("fetch", task_id, indices)`` → ``(task_id, "batch", dumps(batch))``, or
  ``(task_id, "error", report)`` when the batch raised, or, for an iterable dataset whose
  stream (this worker's copy of it) is exhausted, ``(task_id, "end", None)``;
* ``("epoch", None, base_seed)`` → reseed, restart the stream, ``(None, "epoch", worker_id)``;
* ``None`` → exit.

Tensors cross the process boundary as NumPy arrays (:func:`dumps`). A worker exits by
itself when the main process is gone.
"""
from __future__ import annotations

import io
import multiprocessing
import pickle
import queue
import random
import sys
import traceback
from dataclasses import dataclass

import numpy as np

from .. import backend
from .. import random as dl_random
from ..tensor import Tensor

POLL_SECONDS = 1.0  # how often an idle worker checks that the main process is alive
_END = object()


@dataclass(frozen=True)
class WorkerInfo:
    """Which worker this is (``id`` in ``0 … num_workers − 1``), the ``seed`` its random
    generators got this epoch, and its own copy of the ``dataset``."""

    id: int
    num_workers: int
    seed: int
    dataset: object


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """The current DataLoader worker's :class:`WorkerInfo`; None in the main process.

    An :class:`~deltaflow.data.IterableDataset` uses it to read only its share of the
    stream in each worker (``info.id`` of ``info.num_workers``)."""
    return _worker_info


def rebuild_tensor(array, device: str, requires_grad: bool) -> Tensor:
    if requires_grad:
        return Tensor(array, device=device, requires_grad=True)
    return Tensor.constant(backend.to_device(array, device))


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj):
        if isinstance(obj, Tensor):
            return rebuild_tensor, (backend.to_device(obj.data, "cpu"), obj.device,
                                    obj.requires_grad)
        return NotImplemented


def dumps(obj) -> bytes:
    """``obj`` pickled for another deltaflow process: a Tensor travels as its NumPy array
    (with its device and ``requires_grad``), never with its graph. Only for our own
    processes: nothing read from disk is ever unpickled."""
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buffer.getvalue()


def error_report(worker_id: int) -> tuple:
    """The exception being handled, as ``(pickled type or None, type name, traceback text,
    worker_id)`` (:func:`reraise` turns it back into an exception)."""
    exc_type, _, _ = info = sys.exc_info()
    try:
        pickled_type = pickle.dumps(exc_type)
    except Exception:  # noqa: BLE001 - a local class: re-raised as RuntimeError
        pickled_type = None
    return pickled_type, exc_type.__name__, "".join(traceback.format_exception(*info)), worker_id


class _Message(str):
    """A KeyError's message shown as written (KeyError shows the repr of its argument)."""

    def __repr__(self):
        return str(self)


def reraise(report: tuple):
    """Raise the worker's exception in the main process, as PyTorch does: same type (else
    RuntimeError), message ``Caught <Type> in DataLoader worker process <k>.`` followed by
    the worker's traceback."""
    pickled_type, name, text, worker_id = report
    message = f"Caught {name} in DataLoader worker process {worker_id}.\nOriginal {text}"
    try:
        exc_type = pickle.loads(pickled_type) if pickled_type is not None else RuntimeError
        error = exc_type(_Message(message) if exc_type is KeyError else message)
    except Exception:  # noqa: BLE001 - type not importable here or not constructible
        raise RuntimeError(message) from None
    raise error


def seed_everything(seed: int, base_seed: int, worker_id: int) -> None:
    """Python's ``random`` and deltaflow's generator from ``seed`` (= base_seed + worker
    id); NumPy's global generator from both, through a SeedSequence (its seed has 32
    bits)."""
    random.seed(seed)
    dl_random.manual_seed(seed)
    np.random.seed(np.random.SeedSequence([worker_id, base_seed]).generate_state(4))


class _Worker:
    def __init__(self, setup: bytes, worker_id: int, num_workers: int, base_seed: int):
        self.id, self.num_workers = worker_id, num_workers
        self.init_error = self.fetcher = self.batches = None
        try:
            self.fetcher, self.iterable, init_fn = pickle.loads(setup)
            self.start_epoch(base_seed)
            if init_fn is not None:
                init_fn(worker_id)
        except Exception:  # noqa: BLE001 - reported with the first task, as PyTorch does
            self.init_error = error_report(worker_id)

    def start_epoch(self, base_seed: int) -> None:
        global _worker_info
        if self.fetcher is None:  # the set-up failed: the first task reports it
            return
        seed = base_seed + self.id
        seed_everything(seed, base_seed, self.id)
        _worker_info = WorkerInfo(self.id, self.num_workers, seed, self.fetcher.dataset)
        self.batches = self.fetcher.stream() if self.iterable else None

    def run(self, indices) -> tuple:
        """(kind, payload) for one task."""
        if self.init_error is not None:
            report, self.init_error = self.init_error, None
            return "error", report
        try:
            if self.batches is None:
                return "batch", dumps(self.fetcher(indices))
            batch = next(self.batches, _END)
            return ("end", None) if batch is _END else ("batch", dumps(batch))
        except Exception:  # noqa: BLE001 - handed to the main process
            return "error", error_report(self.id)


def worker_loop(setup: bytes, worker_id: int, num_workers: int, base_seed: int, tasks,
                results, done) -> None:
    """The body of worker process ``worker_id`` (see the module docstring)."""
    parent = multiprocessing.parent_process()
    try:
        worker = _Worker(setup, worker_id, num_workers, base_seed)
        while True:
            try:
                message = tasks.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if done.is_set() or (parent is not None and not parent.is_alive()):
                    break
                continue
            if message is None or done.is_set():  # stopping: skip the tasks still queued
                break
            kind, task_id, payload = message
            if kind == "epoch":
                worker.start_epoch(payload)
                results.put((None, "epoch", worker_id))
            else:
                results.put((task_id, *worker.run(payload)))
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the main process
        pass                   # reports it
    if done.is_set():
        results.cancel_join_thread()  # exit even if nobody reads what is still queued
