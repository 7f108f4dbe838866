"""What each process of the ``ddp`` benchmark runs (started by ``python -m benchmarks.ddp``).

``python -m benchmarks.ddp_worker profile OUT.json`` (one process, no MPI): per workload the
phases of a plain step (forward, backward, optimizer), when each parameter's gradient is
ready during backward, the gradient bytes, and the DDP step on one process per bucket size.

``mpiexec -n P python -m benchmarks.ddp_worker mpi OUT.json``: the all-reduce sweep through
deltaflow's Communicator (1 KiB … 64 MiB), then per workload and bucket size the DDP step,
the same step under ``no_sync`` (compute only) and the buckets' all-reduces one after the
other (communication only), interleaved step by step. Every timing is the slowest rank's;
rank 0 writes the medians to OUT.json.

Data is synthetic (random, shaped like the workloads' batches): timings do not depend on it.
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import time

import numpy as np

import deltaflow as dl
import deltaflow.distributed as dist
from benchmarks import cost_model
from benchmarks.workloads import cnn, mlp, transformer
from deltaflow import nn, optim
from deltaflow.nn.parallel import DistributedDataParallel as DDP

BUCKETS_MB = (1, 5, 25, 100)
SIZES = [2 ** k for k in range(10, 27)]          # 1 KiB … 64 MiB
AUTOGROUP_ENV = "DELTAFLOW_BENCH_AUTOGROUP_NICE"  # set by benchmarks.ddp
WARMUP = 2                                       # untimed steps first


def _mlp():
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                          nn.Linear(512, 10))
    rng = np.random.default_rng(0)
    x = dl.tensor(rng.random((mlp.BATCH, 784), dtype=np.float32))
    y = dl.tensor(rng.integers(0, 10, mlp.BATCH))
    return model, (x, y), nn.CrossEntropyLoss(), \
        lambda ps: optim.SGD(ps, lr=mlp.LR, momentum=mlp.MOMENTUM)


def _cnn():
    rng = np.random.default_rng(0)
    x = dl.tensor(rng.random((cnn.BATCH, 1, 28, 28), dtype=np.float32))
    y = dl.tensor(rng.integers(0, 10, cnn.BATCH))
    return cnn.layers(nn), (x, y), nn.CrossEntropyLoss(), \
        lambda ps: optim.Adam(ps, lr=cnn.LR)


def _transformer():
    rng = np.random.default_rng(0)
    seq, vocab = transformer.SEQ, transformer.VOCAB
    x = dl.tensor(rng.integers(0, vocab, (32, seq)))
    y = dl.tensor(rng.integers(0, vocab, 32 * seq))
    mask = dl.tensor(np.triu(np.full((seq, seq), -np.inf, dtype=np.float32), 1))
    model = transformer.build_model(nn, dl)

    def loss_fn(out, target):
        return nn.functional.cross_entropy(out.reshape(-1, vocab), target)
    return model, ((x, mask), y), loss_fn, \
        lambda ps: optim.AdamW(ps, lr=transformer.LR, weight_decay=0.01)


WORKLOADS = {"mlp": _mlp, "cnn": _cnn, "transformer": _transformer}
MEASURED_STEPS = ("mlp", "cnn")       # the per-step breakdown on several processes


class Runner:
    """One workload's model (plain or DDP with ``bucket_mb``), its batch and optimizer."""

    def __init__(self, name, bucket_mb=None):
        dl.manual_seed(0)
        self.model, (self.x, self.y), self.loss_fn, make_opt = WORKLOADS[name]()
        self.net = self.model if bucket_mb is None else DDP(self.model, bucket_cap_mb=bucket_mb)
        self.opt = make_opt(self.model.parameters())
        self.params = [p for p in self.model.parameters() if p.requires_grad]

    def step(self, sync=True):
        """One training step; returns (forward, backward, optimizer) seconds."""
        t0 = time.perf_counter()
        self.opt.zero_grad()
        args = self.x if isinstance(self.x, tuple) else (self.x,)
        if sync or self.net is self.model:
            loss = self.loss_fn(self.net(*args), self.y)
            t1 = time.perf_counter()
            loss.backward()
        else:
            with self.net.no_sync():
                loss = self.loss_fn(self.net(*args), self.y)
                t1 = time.perf_counter()
                loss.backward()
        t2 = time.perf_counter()
        self.opt.step()
        return t1 - t0, t2 - t1, time.perf_counter() - t2


def slowest(comm, values):
    """Every rank's values, elementwise max over ranks (a synchronous step lasts as long as
    its slowest rank)."""
    a = np.array(values, dtype=np.float64)
    comm.allreduce(a, "max")
    return a.tolist()


def mean(comm, values):
    """Every rank's values, elementwise mean over ranks."""
    a = np.array(values, dtype=np.float64)
    comm.allreduce(a, "sum")
    return (a / comm.size).tolist()


def medians(rows):
    return [statistics.median(col) for col in zip(*rows)]


def profile(name, steps):
    """The plain step's phases, the gradients' ready fractions, and DDP's one-process steps
    (each bucket size), all interleaved step by step."""
    run = Runner(name)
    stamps = {}
    for i, p in enumerate(run.params):
        p.register_post_accumulate_grad_hook(
            lambda _p, i=i: stamps.__setitem__(i, time.perf_counter()))
    ddps = {mb: Runner(name, mb) for mb in (BUCKETS_MB if name in MEASURED_STEPS else (25,))}
    rows, ready, ddp_rows = [], [], []
    for s in range(WARMUP + steps):
        stamps.clear()
        t0 = time.perf_counter()
        f, b, o = run.step()
        ddp = [sum(r.step()) for r in ddps.values()]
        if s >= WARMUP:
            rows.append((f, b, o))
            ready.append([(stamps[i] - t0 - f) / b for i in range(len(run.params))])
            ddp_rows.append(ddp)
    forward, backward, optimizer = medians(rows)
    ddp_step = dict(zip(map(str, ddps), medians(ddp_rows)))
    plain = statistics.median(sum(r) for r in rows)
    return {"forward": forward, "backward": backward, "optimizer": optimizer,
            "param_bytes": [p.data.nbytes for p in run.params],
            "ready": [min(1.0, r) for r in medians(ready)], "plain_step": plain,
            "ddp_step": ddp_step, "ddp_overhead": max(0.0, ddp_step["25"] - plain)}


def allreduce_sweep(comm, quick):
    """Median time of ``iallreduce(...).wait()`` (DDP's call) and of blocking ``allreduce``
    per message size, the slowest rank's."""
    out = []
    for size in SIZES[::4] if quick else SIZES:
        buf = np.ones(size // 4, dtype=np.float32)
        reps = 3 if quick else (25 if size <= 2 ** 20 else 11 if size <= 2 ** 24 else 7)
        rows = []
        for r in range(reps + 2):
            times = []
            for blocking in (False, True):
                buf.fill(1)
                comm.barrier()
                t0 = time.perf_counter()
                if blocking:
                    comm.allreduce(buf)
                else:
                    comm.iallreduce(buf).wait()
                times.append(time.perf_counter() - t0)
            if r >= 2:
                rows.append(slowest(comm, times))
        nb, b = medians(rows)
        out.append({"bytes": size, "iallreduce": nb, "allreduce": b})
    return out


def breakdown(comm, name, steps):
    """Per bucket size: the DDP step, the no_sync step and the buckets' all-reduces alone,
    interleaved, medians of the slowest rank."""
    out = {}
    for mb in BUCKETS_MB:
        run = Runner(name, mb)
        groups = cost_model.buckets([p.data.nbytes for p in run.params], mb * cost_model.MIB)
        bufs = [np.ones(sum(run.params[i].data.size for i in g), dtype=np.float32)
                for g in groups]
        rows = []
        for s in range(WARMUP + steps):
            comm.barrier()
            ddp = run.step(sync=True)
            comm.barrier()
            local = run.step(sync=False)
            comm.barrier()
            t0 = time.perf_counter()
            for buf in bufs:
                comm.iallreduce(buf).wait()
            alone = time.perf_counter() - t0
            if s >= WARMUP:
                values = [sum(ddp), *ddp, sum(local), *local, alone]
                rows.append(slowest(comm, values) + mean(comm, values)[4:5])
        m = medians(rows)
        out[str(mb)] = {"step": m[0], "forward": m[1], "backward": m[2], "optimizer": m[3],
                        "compute": m[4], "comm": m[8], "compute_mean_rank": m[9],
                        "buckets": len(groups)}
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    _inherit_priority()
    mode, path, quick = argv[0], argv[1], "--quick" in argv
    steps = 3 if quick else 15
    dist.init_process_group()
    comm = dist.get_communicator()
    if mode == "profile":
        result = {"threads": _threads(), "profiles": {
            name: profile(name, steps if name != "transformer" else max(3, steps // 3))
            for name in WORKLOADS}}
    else:
        result = {"world_size": comm.size, "threads": _threads(),
                  "allreduce": allreduce_sweep(comm, quick),
                  "steps": {name: breakdown(comm, name, steps) for name in MEASURED_STEPS}}
    if comm.rank == 0:
        with open(path, "w") as f:
            json.dump(result, f)
    dist.destroy_process_group()


def _inherit_priority():
    """MPICH's launcher starts each rank in a session of its own, which Linux schedules as
    its own group (autogroup) at nice 0: take the nice of the benchmark's group instead."""
    nice = os.environ.get(AUTOGROUP_ENV)
    if nice:
        try:
            with open("/proc/self/autogroup", "w") as f:
                f.write(nice)
        except OSError:
            pass


def _threads():
    from threadpoolctl import threadpool_info
    return max((i.get("num_threads", 1) for i in threadpool_info()), default=1)


if __name__ == "__main__":
    main()
