"""What every rank runs under ``mpiexec -n N python mpi_worker.py MODE OUTDIR``.

suite:  collectives, threads, DDP trainings (MLP, CNN, no_sync, SyncBatchNorm), overlap,
        find_unused_parameters; rank r saves its results as OUTDIR/rank{r}.npz
raise:  rank 1 raises ValueError at step 3 of a DDP training
kill:   rank 1 SIGKILLs itself at step 3
unused: a DDP model with a parameter no rank uses, without find_unused_parameters
"""
from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import deltaflow as dl  # noqa: E402
import deltaflow.distributed as dist  # noqa: E402
from deltaflow.nn.parallel import DistributedDataParallel as DDP  # noqa: E402
from workloads import BATCH, make_model, train  # noqa: E402


def collectives(rank, n):
    t = dl.tensor(np.arange(4.0) + rank)
    dist.all_reduce(t)
    np.testing.assert_array_equal(t.data, n * np.arange(4.0) + n * (n - 1) / 2)
    for op, fn in ((dist.ReduceOp.MAX, np.max), (dist.ReduceOp.MIN, np.min),
                   (dist.ReduceOp.PRODUCT, np.prod), (dist.ReduceOp.AVG, np.mean)):
        t = dl.tensor(np.arange(4.0) + rank)
        dist.all_reduce(t, op=op)
        np.testing.assert_allclose(t.data, fn([np.arange(4.0) + r for r in range(n)], axis=0))
    t = dl.tensor(np.arange(12.0).reshape(3, 4) * (rank + 1)).t()   # not contiguous
    work = dist.all_reduce(t, async_op=True)
    work.wait()
    np.testing.assert_array_equal(t.data, np.arange(12.0).reshape(3, 4).T * n * (n + 1) / 2)
    t = dl.tensor(np.full(3, float(rank)))
    dist.broadcast(t, src=n - 1)
    np.testing.assert_array_equal(t.data, np.full(3, n - 1.0))
    parts = [dl.zeros(2, dtype=dl.int64) for _ in range(n)]
    dist.all_gather(parts, dl.tensor(np.array([rank, 10 * rank])))
    np.testing.assert_array_equal(np.stack([p.data for p in parts]),
                                  [[r, 10 * r] for r in range(n)])
    objs = [{"rank": rank}] if rank == 0 else [None]
    dist.broadcast_object_list(objs, src=0)
    assert objs == [{"rank": 0}], objs
    gathered = [None] * n
    dist.all_gather_object(gathered, ("r", rank))
    assert gathered == [("r", r) for r in range(n)], gathered
    dist.barrier()


def threads():
    from threadpoolctl import threadpool_info
    blas = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    return np.array([int(os.environ["OMP_NUM_THREADS"])] + blas)


def overlap():
    """During backward, before the first layer's gradient is computed, the buckets of the
    later layers have started their all-reduce."""
    model = make_model("mlp")
    ddp = DDP(model, bucket_cap_mb=1e-9)   # one bucket per parameter
    started = []
    model[0].weight.register_hook(lambda g: started.append(ddp._next_bucket))
    ddp(dl.randn(4, 6, dtype=dl.float64)).sum().backward()
    return np.array(started)


def unused_on_one_rank(rank, n):
    """``extra`` is used by rank 0 only: with find_unused_parameters its gradient is rank 0's
    over n (the other ranks add zeros); ``never`` is used by no rank and keeps grad None."""
    class Net(dl.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = dl.nn.Linear(3, 2)
            self.extra = dl.nn.Linear(2, 2)
            self.never = dl.nn.Linear(2, 2)

        def forward(self, x, use_extra):
            h = self.fc(x)
            return self.extra(h) if use_extra else h

    dl.manual_seed(1)
    net = Net().double()
    ddp = DDP(net, find_unused_parameters=True)
    x = dl.tensor(np.random.default_rng(rank).standard_normal((4, 3)))
    params = [net.fc.weight, net.extra.weight]
    local = dl.autograd.grad(net(x, rank == 0).sum(), params, allow_unused=True)
    expected = [dl.tensor(np.zeros(p.shape) if g is None else g.data) for p, g in
                zip(params, local)]
    for t in expected:
        dist.all_reduce(t, op=dist.ReduceOp.AVG)
    ddp(x, rank == 0).sum().backward()
    for p, t in zip(params, expected):
        np.testing.assert_allclose(p.grad.data, t.data, rtol=1e-12)
    assert net.never.weight.grad is None


def sync_bn_once(rank, n):
    """One forward/backward of SyncBatchNorm on the shard: outputs and input gradients
    (loss Σ y·v / B over the global batch) for comparison with BatchNorm on the batch."""
    out = {}
    for kind, shape in (("1d", (BATCH, 5)), ("2d", (BATCH, 3, 2, 2))):
        rng = np.random.default_rng(11)
        x_all, v_all = rng.standard_normal(shape) * 2 + 1, rng.standard_normal(shape)
        local = BATCH // n
        x = dl.tensor(x_all[rank * local:(rank + 1) * local], requires_grad=True)
        bn = dl.nn.SyncBatchNorm(shape[1]).double()
        with dl.no_grad():
            bn.weight.data[...] = np.linspace(0.5, 1.5, shape[1])
            bn.bias.data[...] = np.linspace(-1, 1, shape[1])
        y = bn(x)
        (y * dl.tensor(v_all[rank * local:(rank + 1) * local])).sum().div(BATCH).backward()
        out[f"sbn{kind}_y"], out[f"sbn{kind}_gx"] = y.data, x.grad.data
        out[f"sbn{kind}_mean"], out[f"sbn{kind}_var"] = bn.running_mean.data, bn.running_var.data
    return out


def suite(outdir):
    dist.init_process_group()
    rank, n = dist.get_rank(), dist.get_world_size()
    collectives(rank, n)
    unused_on_one_rank(rank, n)
    res = {"threads": threads(), "overlap": overlap()}
    res.update(sync_bn_once(rank, n))
    for kind in ("mlp", "cnn"):
        for micro in (1, 2):
            state = train(kind, n, rank, DDP, micro)
            res.update({f"{kind}{micro}.{k}": v for k, v in state.items()})

    def sync_ddp(model):
        return DDP(dl.nn.SyncBatchNorm.convert_sync_batchnorm(model))
    for kind in ("bn", "bn2d"):
        res.update({f"{kind}.{k}": v for k, v in train(kind, n, rank, sync_ddp).items()})
    np.savez(Path(outdir) / f"rank{rank}.npz", **res)
    dist.destroy_process_group()


def failing(mode):
    dist.init_process_group()
    try:   # as the CLI does: the exception passes through destroy_process_group
        rank = dist.get_rank()
        ddp = DDP(make_model("mlp"))
        opt = dl.optim.SGD(ddp.parameters(), lr=0.1)
        for step in range(1000):
            if step == 3 and rank == 1:
                if mode == "raise":
                    raise ValueError("boom at step 3")
                os.kill(os.getpid(), signal.SIGKILL)
            opt.zero_grad()
            ddp(dl.randn(4, 6, dtype=dl.float64)).sum().backward()
            opt.step()
        print("finished: should not happen", flush=True)
    finally:
        dist.destroy_process_group()


def unused():
    class Net(dl.nn.Module):
        def __init__(self):
            super().__init__()
            self.used = dl.nn.Linear(3, 2)
            self.idle = dl.nn.Linear(3, 2)

        def forward(self, x):
            return self.used(x)

    dist.init_process_group()
    ddp = DDP(Net())
    ddp(dl.randn(4, 3)).sum().backward()
    print("finished: should not happen", flush=True)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "suite":
        suite(sys.argv[2])
    elif mode in ("raise", "kill"):
        failing(mode)
    elif mode == "unused":
        unused()
