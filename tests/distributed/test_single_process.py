"""dl.distributed without a launcher: a group of one, nothing imported from MPI."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import deltaflow as dl
import deltaflow.distributed as dist


@pytest.fixture
def group():
    dist.init_process_group()
    yield
    dist.destroy_process_group()


def _python(code, **env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_"))}
    clean.update(env)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=clean, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_no_launcher_is_world_one_without_mpi4py():
    got = _python("import json, sys, deltaflow as dl; a = 'mpi4py' in sys.modules; "
                  "dl.distributed.init_process_group(); "
                  "print(json.dumps([a, 'mpi4py' in sys.modules, dl.distributed.get_rank(), "
                  "dl.distributed.get_world_size()]))")
    assert got == [False, False, 0, 1]


def test_threads_per_rank_override():
    pytest.importorskip("threadpoolctl")
    got = _python("import json, os, deltaflow as dl; "
                  "from threadpoolctl import threadpool_info; "
                  "dl.distributed.init_process_group(); "
                  "print(json.dumps([os.environ['OMP_NUM_THREADS']] + "
                  "[p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas']))",
                  DELTAFLOW_THREADS_PER_RANK="1")
    assert got == ["1"] + [1] * (len(got) - 1)


def test_collectives_of_one_rank(group):
    t = dl.tensor([1.0, 2.0])
    dist.all_reduce(t, op=dist.ReduceOp.AVG)
    dist.broadcast(t, src=0)
    parts = [dl.zeros(2)]
    dist.all_gather(parts, t)
    np.testing.assert_array_equal(parts[0].data, [1.0, 2.0])
    objs = [{"a": 1}]
    dist.broadcast_object_list(objs)
    assert objs == [{"a": 1}] and dist.is_initialized() and dist.get_backend() == "mpi"


def test_errors():
    with pytest.raises(ValueError, match="not been initialized"):
        dist.get_rank()
    with pytest.raises(ValueError, match="backend 'nccl' is not supported"):
        dist.init_process_group("nccl")
    dist.init_process_group()
    try:
        with pytest.raises(RuntimeError, match="twice"):
            dist.init_process_group()
        with pytest.raises(ValueError, match=r"src must be a rank in \[0, 0\], got 1"):
            dist.broadcast(dl.zeros(1), src=1)
        with pytest.raises(TypeError, match="ReduceOp"):
            dist.all_reduce(dl.zeros(1), op="sum")
        with pytest.raises(ValueError, match="device_ids"):
            dl.nn.parallel.DistributedDataParallel(dl.nn.Linear(2, 2), device_ids=[0])
    finally:
        dist.destroy_process_group()
    assert not dist.is_initialized()


def test_unused_parameter_error_and_find_unused(group):
    model = dl.nn.ModuleList([dl.nn.Linear(2, 2), dl.nn.Linear(2, 2)])

    class Net(dl.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = model

        def forward(self, x):
            return self.layers[0](x)

    ddp = dl.nn.parallel.DistributedDataParallel(Net())
    with pytest.raises(RuntimeError, match=r"rank 0: layers\.1\.weight, layers\.1\.bias\. "):
        ddp(dl.randn(3, 2)).sum().backward()
    ddp = dl.nn.parallel.DistributedDataParallel(Net(), find_unused_parameters=True)
    ddp(dl.randn(3, 2)).sum().backward()
    assert model[0].weight.grad is not None and model[1].weight.grad is None


def test_post_accumulate_hook_runs_during_backward():
    # the engine accumulates a leaf as soon as its last consumer ran: w2 before w1's node
    w1 = dl.nn.Parameter(dl.randn(3, 3))
    w2 = dl.nn.Parameter(dl.randn(3, 3))
    events = []
    w2.register_post_accumulate_grad_hook(lambda t: events.append(("w2", t.grad is not None)))
    w1.register_hook(lambda g: events.append("w1 computed"))
    handle = w1.register_post_accumulate_grad_hook(lambda t: events.append("w1"))
    ((dl.randn(2, 3) @ w1).tanh() @ w2).sum().backward()
    assert events == [("w2", True), "w1 computed", "w1"]
    handle.remove()
    with pytest.raises(RuntimeError, match="non-leaf"):
        (w1 * 2).register_post_accumulate_grad_hook(print)
    from deltaflow.autograd.engine import queue_callback
    with pytest.raises(RuntimeError, match="no backward is running"):
        queue_callback(print)
