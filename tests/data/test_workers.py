"""DataLoader(num_workers > 0): real worker processes, PyTorch's semantics.

Same batches as num_workers=0; per-worker random streams seeded from the loader's base seed;
worker errors re-raised with the worker's traceback; timeout; persistent workers; and no
worker process left behind in any way out of a loop. The classes and functions the workers
use are module-level (the fork server pickles them by reference); the module does not import
torch, so the workers never do. Every test runs under `no_leftover_processes`, which kills
and reports any process a test leaves behind.
"""
from __future__ import annotations

import gc
import json
import math
import os
import random
import signal
import time

import numpy as np
import pytest

import deltaflow as dl
from deltaflow.data import (
    ChainDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    TensorDataset,
    get_worker_info,
)
from deltaflow.data.worker import dumps

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc (Linux)")


# ------------------------------------------------------------------ process bookkeeping
def _parents() -> dict[int, int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":  # a zombie has exited
            parents[int(entry)] = int(fields[1])
    return parents


def _workers_of_this_process() -> set[int]:
    """Live descendants of this process, except multiprocessing's fork server and resource
    tracker (children that live as long as this process; the workers are the fork
    server's children)."""
    parents, found, frontier = _parents(), set(), {os.getpid()}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
        found |= frontier
    return {pid for pid in found if not _is_infrastructure(pid, parents)}


def _is_infrastructure(pid: int, parents: dict[int, int]) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
    except OSError:
        return False
    return parents.get(pid) == os.getpid() and (b"multiprocessing.forkserver" in cmdline or
                                                b"multiprocessing.resource_tracker" in cmdline)


def _alive(pids) -> set[int]:
    parents = _parents()
    return {pid for pid in pids if pid in parents}


def _gone_soon(pids, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _alive(pids)


@pytest.fixture(autouse=True)
def no_leftover_processes():
    """Kill whatever worker processes a test leaves behind, then fail it for leaving them."""
    before = _workers_of_this_process()
    yield
    gc.collect()
    left = _workers_of_this_process() - before
    if left and not _gone_soon(left, 3.0):
        for pid in _alive(left):
            os.kill(pid, signal.SIGKILL)
        pytest.fail(f"worker processes left behind: {sorted(left)}")


# ------------------------------------------------------------------ datasets the workers use
def _tensors(n=23):
    return TensorDataset(np.arange(2 * n, dtype=np.float32).reshape(n, 2), np.arange(n))


class Samples(Dataset):
    """Per-sample path: index, the worker's pid and id, and one draw of each generator."""

    def __init__(self, n=12, slow_index=None, broken_index=None, exit_index=None):
        self.n, self.slow_index = n, slow_index
        self.broken_index, self.exit_index = broken_index, exit_index

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i == self.slow_index:
            time.sleep(30)
        if i == self.broken_index:
            raise ValueError(f"bad sample {i}")
        if i == self.exit_index:
            os._exit(3)
        info = get_worker_info()
        return {"i": i, "pid": os.getpid(), "worker": -1 if info is None else info.id,
                "seed": -1 if info is None else info.seed, "np": np.random.random(),
                "py": random.random(), "dl": float(dl.rand(1).item()),
                "init": _INIT.get("worker_id", -1)}


class MissingKey(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return {}["missing"]


class Range(IterableDataset):
    """0 … n−1; each worker reads its share when `shard`."""

    def __init__(self, n, shard=True):
        self.n, self.shard = n, shard

    def __iter__(self):
        info = get_worker_info()
        if info is None or not self.shard:
            return iter(range(self.n))
        per_worker = math.ceil(self.n / info.num_workers)
        start = info.id * per_worker
        return iter(range(start, min(start + per_worker, self.n)))


_INIT: dict = {}


def record_worker_id(worker_id):
    _INIT["worker_id"] = worker_id


def failing_init(worker_id):
    raise OSError(f"init of worker {worker_id} failed")


def _values(loader, key="i"):
    return [batch[key].tolist() for batch in loader]


def _same_batches(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        if isinstance(x, dict):
            assert x.keys() == y.keys()
            x, y = list(x.values()), list(y.values())
        for u, v in zip(x, y):
            np.testing.assert_array_equal(np.asarray(u), np.asarray(v))


# ------------------------------------------------------------------ same batches
@pytest.mark.parametrize("make", [
    lambda **kw: DataLoader(_tensors(), batch_size=4, shuffle=True, generator=3, **kw),
    lambda **kw: DataLoader(Samples(13), batch_size=3, shuffle=True, drop_last=True,
                            generator=np.random.default_rng(5), **kw),
    lambda **kw: DataLoader(_tensors(), batch_size=5,
                            sampler=RandomSampler(range(23), generator=7), **kw),
], ids=["tensor-dataset", "per-sample", "sampler"])
def test_workers_give_the_batches_of_num_workers_0(make):
    plain, workers = make(), make(num_workers=2)
    for _ in range(2):  # each epoch a new order, the same in both
        a = [b["i"] if isinstance(b, dict) else b for b in plain]
        b = [b["i"] if isinstance(b, dict) else b for b in workers]
        _same_batches(a, b)
    assert plain.state_dict() == workers.state_dict()


def test_batches_follow_manual_seed_and_global_rng_is_used_alike():
    runs = []
    for workers in (0, 2):
        dl.manual_seed(11)
        loader = DataLoader(_tensors(10), batch_size=4, shuffle=True, num_workers=workers)
        unshuffled = DataLoader(_tensors(6), batch_size=4, num_workers=workers)
        order = [[y.tolist() for _, y in loader] for _ in range(2)]
        list(unshuffled)  # draws its base seed from deltaflow's generator
        runs.append((order, dl.get_rng_state()))
    assert runs[0] == runs[1]


def test_tensors_cross_as_arrays():
    x, y = next(iter(DataLoader(_tensors(), batch_size=4, num_workers=1)))
    assert isinstance(x, dl.Tensor) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(x.numpy(), [[0, 1], [2, 3], [4, 5], [6, 7]])
    leaf = dl.tensor([1.0, 2.0], requires_grad=True)
    back = __import__("pickle").loads(dumps({"t": leaf * 2, "leaf": leaf}))
    assert back["t"].tolist() == [2.0, 4.0] and back["t"]._ctx is None  # no graph: a leaf
    assert back["t"].requires_grad and back["leaf"].requires_grad


def test_a_training_run_does_not_depend_on_num_workers():
    from deltaflow.train import Trainer

    data = TensorDataset(np.random.default_rng(0).normal(size=(20, 2)).astype(np.float32),
                         np.arange(20) % 3)
    weights = []
    for workers in (0, 2):
        dl.manual_seed(0)
        model = dl.nn.Sequential(dl.nn.Linear(2, 8), dl.nn.Dropout(0.5), dl.nn.Linear(8, 3))
        trainer = Trainer(model, dl.optim.SGD(model.parameters(), lr=0.1),
                          dl.nn.CrossEntropyLoss(), metrics=(), progress=False)
        trainer.fit(DataLoader(data, batch_size=4, shuffle=True, num_workers=workers),
                    DataLoader(data, batch_size=8, num_workers=workers), epochs=2)
        weights.append([p.numpy().copy() for p in model.parameters()])
    for a, b in zip(*weights, strict=True):
        np.testing.assert_array_equal(a, b)


def test_char_dataset_pickles_its_text_not_its_windows():
    from deltaflow.data.datasets import CharDataset

    text = CharDataset(np.arange(1000) % 7, block_size=64)
    assert len(dumps(text)) < 2 * text.ids.nbytes
    x, y = next(iter(DataLoader(text, batch_size=3, num_workers=1)))
    np.testing.assert_array_equal(x.numpy(), text.get_batch(np.arange(3))[0].numpy())


# ------------------------------------------------------------------ randomness in workers
def _streams(loader):
    """{worker id: [(np, py, dl) draws]} and the seeds seen, over one epoch."""
    streams, seeds = {}, {}
    for batch in loader:
        for w, s, *draws in zip(batch["worker"].tolist(), batch["seed"].tolist(),
                                batch["np"].tolist(), batch["py"].tolist(),
                                batch["dl"].tolist()):
            streams.setdefault(w, []).append(tuple(draws))
            seeds[w] = s
    return streams, seeds


def test_worker_random_streams_differ_per_worker_and_repeat_per_seed():
    def epochs(seed):
        loader = DataLoader(Samples(8), batch_size=2, num_workers=2, generator=seed)
        return [_streams(loader) for _ in range(2)]

    first, again, other = epochs(0), epochs(0), epochs(1)
    assert first == again, "same generator seed: same worker streams"
    (streams, seeds), (streams2, seeds2) = first
    assert sorted(streams) == [0, 1] and seeds[1] == seeds[0] + 1
    for a, b in zip(streams[0], streams[1]):
        assert all(x != y for x, y in zip(a, b)), "each generator differs between workers"
    assert seeds2 != seeds and streams2 != streams, "each epoch draws a new base seed"
    assert other[0] != first[0]
    assert get_worker_info() is None


def test_worker_init_fn_runs_in_each_worker():
    loader = DataLoader(Samples(8), batch_size=2, num_workers=2, worker_init_fn=record_worker_id)
    for batch in loader:
        assert batch["init"].tolist() == batch["worker"].tolist()
    assert "worker_id" not in _INIT, "worker_init_fn runs in the workers, not here"


# ------------------------------------------------------------------ errors
def test_worker_exception_is_reraised_with_the_worker_traceback():
    loader = DataLoader(Samples(8, broken_index=5), batch_size=2, num_workers=2)
    with pytest.raises(ValueError) as info:
        list(loader)
    message = str(info.value)
    assert message.startswith("Caught ValueError in DataLoader worker process 0.\n"
                              "Original Traceback (most recent call last):")
    assert "in __getitem__" in message and "ValueError: bad sample 5" in message
    with pytest.raises(KeyError, match="Caught KeyError in DataLoader worker process") as info:
        list(DataLoader(MissingKey(), num_workers=1))
    assert "KeyError: 'missing'" in str(info.value) and "\\n" not in str(info.value)
    with pytest.raises(OSError, match=r"(?s)worker process 0\..*init of worker 0 failed"):
        list(DataLoader(Samples(4), num_workers=2, worker_init_fn=failing_init))


def test_timeout():
    loader = DataLoader(Samples(6, slow_index=2), batch_size=1, num_workers=2, timeout=0.5)
    start = time.monotonic()
    with pytest.raises(RuntimeError, match=r"DataLoader timed out after 0.5 seconds"):
        list(loader)
    assert time.monotonic() - start < 10, "the busy worker is terminated, not waited for"


def test_a_worker_that_dies_is_reported():
    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid\(s\) \d+\) exited "
                                           r"unexpectedly \(exit code\(s\) 3\)"):
        list(DataLoader(Samples(6, exit_index=3), batch_size=1, num_workers=2))


def test_unpicklable_dataset_is_refused_clearly():
    class Local(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return i

    with pytest.raises(TypeError, match="must be picklable"):
        iter(DataLoader(Local(), num_workers=1))


# ------------------------------------------------------------------ no leftover processes
def _raise_in_loop(loader):
    for batch in loader:
        raise ArithmeticError(batch["pid"].tolist())  # the training step failed


@pytest.mark.parametrize("way_out", ["exhausted", "del", "break", "gc", "exception",
                                     "worker-error"])
def test_no_worker_outlives_the_loop(way_out):
    loader = DataLoader(Samples(40, broken_index=30 if way_out == "worker-error" else None),
                        batch_size=2, num_workers=2)
    it = iter(loader)
    pids = it.worker_pids
    assert len(pids) == 2 and _alive(pids) == set(pids)
    if way_out == "exhausted":
        assert len(list(it)) == 20
    elif way_out == "del":
        next(it)
        del it
    elif way_out == "break":
        del it
        for batch in loader:
            pids += batch["pid"].tolist()
            break
    elif way_out == "gc":
        next(it)
        cycle = [it]
        cycle.append(cycle)
        del it, cycle
        gc.collect()
    elif way_out == "exception":
        del it
        with pytest.raises(ArithmeticError) as info:
            _raise_in_loop(loader)
        pids += info.value.args[0]
    else:
        with pytest.raises(ValueError, match="bad sample 30"):
            list(it)
    assert _gone_soon(pids), f"{way_out}: workers {sorted(_alive(pids))} still running"


_ORPHAN_SCRIPT = """
import os, sys, time
import numpy as np
from deltaflow.data import DataLoader, Dataset

class Slow(Dataset):
    def __len__(self):
        return 100

    def __getitem__(self, i):
        time.sleep(0.05)
        return os.getpid()

if __name__ == "__main__":
    for batch in DataLoader(Slow(), batch_size=1, num_workers=2):
        print(int(batch[0]), flush=True)
"""


def test_workers_stop_when_the_main_process_is_killed(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "orphan.py"
    script.write_text(_ORPHAN_SCRIPT)
    main = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    pids, line = set(), "?"
    try:
        while len(pids) < 2 and line:
            line = main.stdout.readline()
            pids.update([int(line)] if line else [])
    finally:
        main.kill()
        main.wait()
        errors = main.stderr.read()
        main.stdout.close()
        main.stderr.close()
    assert len(pids) == 2, f"the script stopped before its workers answered: {errors}"
    try:
        assert _gone_soon(pids, 5.0), "orphaned workers must stop by themselves"
    finally:
        for pid in _alive(pids):
            os.kill(pid, signal.SIGKILL)


# ------------------------------------------------------------------ persistent workers
def test_persistent_workers_are_reused_and_go_with_the_loader():
    persistent = DataLoader(Samples(12), batch_size=3, shuffle=True, generator=2, num_workers=2,
                            persistent_workers=True)
    plain = DataLoader(Samples(12), batch_size=3, shuffle=True, generator=2)
    pids = []
    for _ in range(3):
        batches = list(persistent)
        _same_batches([b["i"] for b in batches], [b["i"] for b in plain])
        pids.append(sorted(set(sum((b["pid"].tolist() for b in batches), []))))
    assert pids[0] == pids[1] == pids[2] and len(pids[0]) == 2
    for _ in persistent:  # abandoned mid-epoch: the next epoch is still complete
        break
    for _ in plain:
        break
    assert _values(persistent) == _values(plain)
    assert _alive(pids[0]) == set(pids[0])
    del persistent
    assert _gone_soon(pids[0])

    fresh = DataLoader(Samples(4), batch_size=2, num_workers=2)
    assert set(sum(_values(fresh, "pid"), [])).isdisjoint(sum(_values(fresh, "pid"), []))


def test_persistent_workers_are_reseeded_each_epoch_like_fresh_ones():
    def streams(persistent):
        loader = DataLoader(Samples(8), batch_size=2, num_workers=2, generator=4,
                            persistent_workers=persistent)
        return [_streams(loader) for _ in range(2)]

    assert streams(True) == streams(False)


def test_resume_with_workers_repeats_orders_and_worker_streams():
    def loader():
        return DataLoader(Samples(9), batch_size=2, shuffle=True, num_workers=2, generator=8)

    run = loader()
    _values(run)
    saved = json.loads(json.dumps(run.state_dict()))
    expected = [[b["i"].tolist() + b["np"].tolist() for b in run] for _ in range(2)]
    resumed = loader()
    resumed.load_state_dict(saved)
    assert [[b["i"].tolist() + b["np"].tolist() for b in resumed] for _ in range(2)] == expected


# ------------------------------------------------------------------ iterable datasets
def test_iterable_dataset_sharded_across_workers():
    got = sorted(sum(_plain(DataLoader(Range(10), batch_size=2, num_workers=2)), []))
    assert got == list(range(10))
    assert _plain(DataLoader(Range(10), batch_size=2, num_workers=2)) == \
        [[0, 1], [5, 6], [2, 3], [7, 8], [4], [9]], "one batch from each worker in turn"
    unsharded = sorted(sum(_plain(DataLoader(Range(5, shard=False), batch_size=2,
                                             num_workers=2)), []))
    assert unsharded == sorted(2 * list(range(5))), "each worker reads its own copy"
    chained = _plain(DataLoader(ChainDataset([Range(3), Range(4)]), batch_size=4,
                                num_workers=2, drop_last=True, persistent_workers=True))
    assert chained == [[0, 1, 0, 1]], "shards 0,1 | 2 of Range(3), 0,1 | 2,3 of Range(4)"


def _plain(loader):
    return [b.tolist() for b in loader]


# ------------------------------------------------------------------ options
def test_spawn_context_works():
    loader = DataLoader(_tensors(6), batch_size=4, num_workers=1,
                        multiprocessing_context="spawn")
    assert [y.tolist() for _, y in loader] == [[0, 1, 2, 3], [4, 5]]


@pytest.mark.parametrize("kwargs,message", [
    (dict(prefetch_factor=2), "prefetch_factor option could only be specified in "
                              "multiprocessing"),
    (dict(persistent_workers=True), "persistent_workers option needs num_workers > 0"),
    (dict(timeout=-1), "timeout option should be non-negative"),
    (dict(num_workers=-1), "num_workers option should be non-negative"),
    (dict(multiprocessing_context="spawn"), "multiprocessing_context can only be used with "
                                            "multi-process loading"),
    (dict(num_workers=1, multiprocessing_context="nope"), "multiprocessing_context option "
                                                          "should specify a valid start method"),
])
def test_worker_option_errors_match_torch(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DataLoader(_tensors(), **kwargs)
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match=message):
        torch.utils.data.DataLoader(list(range(4)), **kwargs)


def test_prefetch_thread_is_for_num_workers_0():
    with pytest.raises(ValueError, match="prefetch"):
        DataLoader(_tensors(), num_workers=1, prefetch=2)
    with pytest.raises(TypeError, match="multiprocessing_context option should be a valid"):
        DataLoader(_tensors(), num_workers=1, multiprocessing_context=3)
