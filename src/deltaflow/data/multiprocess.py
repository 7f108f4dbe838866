"""Worker processes for ``DataLoader(num_workers=N)``: the pool and the iterator over it.

The main process draws the epoch's order and hands the index batches out round-robin,
keeping ``prefetch_factor × N`` tasks outstanding; the results come back in any order and
are yielded in task order, so the batches are those of ``num_workers=0``. What runs in a
worker is :mod:`deltaflow.data.worker`.

Start method: ``forkserver`` by default (``spawn`` where there is none). ``fork`` copies
the whole main process, including locks held by its other threads (a prefetch thread,
BLAS, a progress bar) — a child can deadlock on one; the fork server is a clean,
single-threaded process started once, which imports deltaflow once (its preload) and forks
each worker from there. Like ``spawn``, it needs the dataset, ``collate_fn`` and
``worker_init_fn`` to be picklable (module-level classes and functions) and a main script
that starts loading under ``if __name__ == "__main__":``.

No worker outlives its pool: :meth:`WorkerPool.close` (exhausted iterator, an error) or the
pool's garbage collection (``del``, ``break``, an exception unwinding the loop), or the
interpreter's exit, asks the workers to stop, joins them and terminates any that are still
busy; a worker whose main process has gone stops by itself.
"""
from __future__ import annotations

import itertools
import multiprocessing
import multiprocessing.context
import pickle
import queue
import time
import weakref

from . import worker as W

DEFAULT_START_METHOD = ("forkserver" if "forkserver" in multiprocessing.get_all_start_methods()
                        else "spawn")
JOIN_SECONDS = 2.0  # how long a stopping worker may take before it is terminated
_DONE = object()
_preload = {"set": False}


def resolve_context(context, num_workers: int):
    """``multiprocessing_context``: None (the default start method), a start method's name
    or a multiprocessing context, checked as PyTorch checks it."""
    if context is None:
        return None
    if not num_workers:
        raise ValueError(f"DataLoader: multiprocessing_context can only be used with "
                         f"multi-process loading (num_workers > 0), but got "
                         f"num_workers={num_workers}")
    if isinstance(context, str):
        methods = multiprocessing.get_all_start_methods()
        if context not in methods:
            raise ValueError(f"DataLoader: multiprocessing_context option should specify a "
                             f"valid start method in {methods!r}, but got "
                             f"multiprocessing_context={context!r}")
        return multiprocessing.get_context(context)
    if not isinstance(context, multiprocessing.context.BaseContext):
        raise TypeError(f"DataLoader: multiprocessing_context option should be a valid context "
                        f"object or a string specifying the start method, but got "
                        f"multiprocessing_context={context!r}")
    return context


def default_context():
    """The default start method's context; the fork server preloads deltaflow (set once,
    before the server starts)."""
    ctx = multiprocessing.get_context(DEFAULT_START_METHOD)
    if DEFAULT_START_METHOD == "forkserver" and not _preload["set"]:
        ctx.set_forkserver_preload(["deltaflow.data.worker"])
        _preload["set"] = True
    return ctx


def _shutdown(processes, task_queues, results, done) -> None:
    """Stop the workers: ask, wait ``JOIN_SECONDS``, then terminate (and kill)."""
    done.set()
    for tasks in task_queues:
        tasks.put(None)
    deadline = time.monotonic() + JOIN_SECONDS
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
    for process in processes:
        if process.is_alive():
            process.terminate()
            process.join(1.0)
        if process.is_alive():
            process.kill()
            process.join()
    for q in (*task_queues, results):
        q.cancel_join_thread()
        q.close()
    for process in processes:
        process.close()


class WorkerPool:
    """``num_workers`` started processes, each with its own task queue, sharing one result
    queue."""

    def __init__(self, ctx, setup: bytes, num_workers: int, base_seed: int):
        self.results, self.done = ctx.Queue(), ctx.Event()
        self.task_queues = [ctx.Queue() for _ in range(num_workers)]
        self.processes: list = []
        self._finalizer = weakref.finalize(self, _shutdown, self.processes, self.task_queues,
                                           self.results, self.done)
        for worker_id, tasks in enumerate(self.task_queues):
            process = ctx.Process(target=W.worker_loop, daemon=True,
                                  name=f"deltaflow-loader-worker-{worker_id}",
                                  args=(setup, worker_id, num_workers, base_seed, tasks,
                                        self.results, self.done))
            process.start()
            self.processes.append(process)
        self.pids = [process.pid for process in self.processes]

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def close(self) -> None:
        self._finalizer()

    def send(self, worker_id: int, message) -> None:
        self.task_queues[worker_id].put(message)

    def receive(self, timeout: float):
        """The next message from any worker. RuntimeError when a worker has died, or when
        ``timeout`` (> 0) seconds pass without one."""
        deadline = time.monotonic() + timeout if timeout else None
        while True:
            wait = W.POLL_SECONDS if deadline is None else \
                max(0.0, min(W.POLL_SECONDS, deadline - time.monotonic()))
            try:
                return self.results.get(timeout=wait)
            except queue.Empty:
                pass
            dead = [p for p in self.processes if not p.is_alive()]
            if dead:
                raise RuntimeError(
                    f"DataLoader worker (pid(s) {', '.join(str(p.pid) for p in dead)}) exited "
                    f"unexpectedly (exit code(s) {', '.join(str(p.exitcode) for p in dead)})")
            if deadline is not None and time.monotonic() >= deadline:
                raise RuntimeError(f"DataLoader timed out after {timeout} seconds")

    def start_epoch(self, base_seed: int, timeout: float) -> None:
        """Reseed the workers and restart their streams; results still on their way from
        an abandoned epoch are dropped (each worker's acknowledgement comes after them)."""
        for worker_id in range(len(self.processes)):
            self.send(worker_id, ("epoch", None, base_seed))
        pending = len(self.processes)
        while pending:
            _, kind, _ = self.receive(timeout)
            pending -= kind == "epoch"


class WorkerIterator:
    """The batches of one epoch from a :class:`WorkerPool`, in task order.

    ``tasks`` are index arrays (map-style) or None (an iterable dataset: each worker's
    next batch, round-robin, until every worker's stream has ended)."""

    def __init__(self, pool: WorkerPool, window: int, timeout: float, persistent: bool):
        self.pool, self.window, self.timeout, self.persistent = pool, window, timeout, persistent

    @property
    def worker_pids(self) -> list[int]:
        return list(self.pool.pids)

    def start(self, tasks) -> WorkerIterator:
        n = len(self.pool.processes)
        self.tasks = iter(tasks) if tasks is not None else itertools.repeat(None)
        self.active, self.turn = [True] * n, 0
        self.sent = self.next_id = 0
        self.results, self.owner = {}, {}
        self.finished = False
        self._dispatch()
        return self

    def restart(self, tasks, base_seed: int) -> WorkerIterator:
        """The next epoch on the same (persistent) workers."""
        try:
            self.pool.start_epoch(base_seed, self.timeout)
        except BaseException:
            self._fail()
            raise
        return self.start(tasks)

    def _dispatch(self) -> None:
        while self.sent - self.next_id < self.window and any(self.active):
            indices = next(self.tasks, _DONE)
            if indices is _DONE:
                return
            while not self.active[self.turn]:
                self.turn = (self.turn + 1) % len(self.active)
            self.pool.send(self.turn, ("fetch", self.sent, indices))
            self.owner[self.sent] = self.turn
            self.turn = (self.turn + 1) % len(self.active)
            self.sent += 1

    def __iter__(self):
        return self

    def __next__(self):
        while not self.finished:
            if self.next_id == self.sent:
                self._finish()
                break
            try:
                while self.next_id not in self.results:
                    task_id, kind, payload = self.pool.receive(self.timeout)
                    if task_id is None:  # a late acknowledgement
                        continue
                    if kind == "end":
                        self.active[self.owner[task_id]] = False
                    self.results[task_id] = kind, payload
                kind, payload = self.results.pop(self.next_id)
                del self.owner[self.next_id]
                self.next_id += 1
                if kind == "error":
                    W.reraise(payload)
                self._dispatch()
                if kind == "batch":
                    return pickle.loads(payload)
            except BaseException:
                self._fail()
                raise
        raise StopIteration

    def _finish(self) -> None:
        self.finished = True
        if not self.persistent:
            self.pool.close()

    def _fail(self) -> None:
        self.finished = True
        self.pool.close()
