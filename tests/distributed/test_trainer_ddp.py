"""The Trainer on several processes: under ``mpiexec -n 2`` (this module runs itself as the
worker) an MLP trained by the Trainer with batch B/2 per process ends with the weights of
the one-process Trainer with batch B (float64), the same on both ranks; epoch records and
validation are reduced over the ranks; each rank draws its own random stream. In one
process nothing changes."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import deltaflow as dl
from deltaflow import nn
from deltaflow.data import DataLoader, TensorDataset
from deltaflow.tasks.common import eval_loader, train_loader
from deltaflow.train import Trainer
from deltaflow.train.distributed import ShardSampler, rank_stream

from .launch import mpiexec

BATCH, EPOCHS = 16, 4     # 96 samples: 6 steps an epoch, 24 SGD-momentum steps


def _data(seed=3):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((96 + 30, 8))
    y = (x[:, :3].sum(axis=1) > 0).astype(np.int64) + (x[:, 3] > 0.5)
    return TensorDataset(x[:96], y[:96]), TensorDataset(x[96:], y[96:])


def _fit(train, val, batch_size, dropout=0.0, distributed=None, loader=None):
    dl.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Dropout(dropout),
                          nn.Linear(16, 3)).double()
    trainer = Trainer(model, dl.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
                      nn.CrossEntropyLoss(), progress=False, distributed=distributed)
    loader = loader or train_loader(train, batch_size, seed=0)
    trainer.fit(loader, val, epochs=EPOCHS)
    return model, trainer


def _flat(model) -> np.ndarray:
    return np.concatenate([p.data.ravel() for p in model.parameters()])


def worker() -> None:
    """Every rank: the distributed fit against the one-process reference."""
    import deltaflow.distributed as dist
    dist.init_process_group()
    rank, world = dist.get_rank(), dist.get_world_size()
    train, val = _data()
    model, trainer = _fit(train, eval_loader(val, 7), BATCH // world)
    assert len(trainer.train_loader) == 6, len(trainer.train_loader)
    # the same weights on every rank
    weights = _flat(model)
    gathered = [dl.Tensor(np.zeros_like(weights)) for _ in range(world)]
    dist.all_gather(gathered, dl.Tensor(weights))
    for other in gathered:
        np.testing.assert_array_equal(other.numpy(), weights)
    # ... equal to one process with the whole batch, and so are the epoch records
    ref, ref_trainer = _fit(train, DataLoader(val, batch_size=7), BATCH, distributed=False,
                            loader=DataLoader(train, batch_size=BATCH, shuffle=True,
                                              generator=0))
    np.testing.assert_allclose(weights, _flat(ref), rtol=1e-9, atol=1e-12)
    for mine, theirs in zip(trainer.history, ref_trainer.history):
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            np.testing.assert_allclose(mine[key], theirs[key], rtol=1e-9, err_msg=key)
    assert trainer.history[-1]["step"] == ref_trainer.history[-1]["step"] == 6 * EPOCHS
    # each rank has its own random stream, rank 0 the one of a single process
    dl.manual_seed(5)
    small = nn.Linear(2, 2)
    before = dl.random.get_rng_state()
    Trainer(small, dl.optim.SGD(small.parameters(), lr=0.1), progress=False)
    states = [None] * world
    dist.all_gather_object(states, dl.random.get_rng_state())
    assert states[0] == before and len({str(s) for s in states}) == world
    assert states[rank] == rank_stream(before, rank)
    dist.destroy_process_group()
    print(f"rank {rank}: ok", flush=True)


def test_two_processes_equal_one_with_the_whole_batch():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "MPI_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[2]), *sys.path])
    cmd = [mpiexec(), "-n", "2", sys.executable, "-m", "tests.distributed.test_trainer_ddp"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True,
                            cwd=Path(__file__).resolve().parents[2])
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"mpiexec -n 2 did not end within 120 s\n{out}\n{err}")
    assert proc.returncode == 0, f"{out}\n{err}"
    assert "rank 0: ok" in out and "rank 1: ok" in out


def test_one_process_is_unchanged():
    """With a process group of one (what ``deltaflow train`` sets up) the Trainer trains
    exactly as without one, and the shard sampler of one process reads the loader's order."""
    import deltaflow.distributed as dist
    train, val = _data()
    plain, _ = _fit(train, DataLoader(val, batch_size=7), BATCH, dropout=0.3)
    dist.init_process_group()
    try:
        grouped, trainer = _fit(train, eval_loader(val, 7), BATCH, dropout=0.3)
    finally:
        dist.destroy_process_group()
    assert trainer.world_size == 1 and trainer.is_main
    np.testing.assert_array_equal(_flat(plain), _flat(grouped))
    shuffled = DataLoader(TensorDataset(np.arange(10)), batch_size=3, shuffle=True, generator=4)
    generator = np.random.default_rng(4)
    dataset = TensorDataset(np.arange(10))
    sharded = DataLoader(dataset, batch_size=3, sampler=ShardSampler(dataset, generator),
                         generator=generator)
    for _ in range(2):   # two epochs
        assert [b[0].numpy().tolist() for b in shuffled] == \
            [b[0].numpy().tolist() for b in sharded]


def test_rank_streams_derive_from_rank_0():
    state = np.random.default_rng(7).bit_generator.state
    assert rank_stream(state, 0) == state
    one, two = rank_stream(state, 1), rank_stream(state, 2)
    assert one != state and two != one and rank_stream(state, 1) == one


if __name__ == "__main__":
    worker()
