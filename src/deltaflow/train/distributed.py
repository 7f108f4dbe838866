"""What the :class:`~deltaflow.train.Trainer` and ``deltaflow train`` need of a run on N
processes (``mpiexec -n N``, ``srun``): the rank and world size, sums of metrics across
ranks, one random stream per rank, the training data's shard, and small collectives on
text and JSON.

Everything here goes through :mod:`deltaflow.distributed` (MPI through mpi4py) and is a
no-op in a single process, where ``dl.distributed`` is not initialized (world size 1).
"""
from __future__ import annotations

import numpy as np

from .. import distributed as dist
from ..data import DistributedSampler
from ..tensor import Tensor


def rank_and_size() -> tuple[int, int]:
    """``(rank, world size)`` of the process group, ``(0, 1)`` when none is initialized."""
    if not dist.is_initialized():
        return 0, 1
    return dist.get_rank(), dist.get_world_size()


def all_sum(values) -> np.ndarray:
    """The float64 element-wise sum of ``values`` over all ranks (every rank gets it)."""
    buffer = Tensor(np.array(values, dtype=np.float64))
    if rank_and_size()[1] > 1:
        dist.all_reduce(buffer)
    return buffer.numpy()


def any_rank(flag: bool) -> bool:
    """True on every rank when ``flag`` is true on at least one."""
    return bool(all_sum([float(flag)])[0] > 0)


def barrier() -> None:
    if rank_and_size()[1] > 1:
        dist.barrier()


def broadcast_text(text: str | None, src: int = 0) -> str:
    """``text`` of rank ``src`` on every rank (e.g. the run folder rank 0 made)."""
    if rank_and_size()[1] == 1:
        return text
    box = [text]
    dist.broadcast_object_list(box, src)
    return box[0]


def gather_json(obj) -> list:
    """``[obj of rank 0, obj of rank 1, ...]`` on every rank, for small JSON-serialisable
    ``obj`` (once per epoch, never in the training step)."""
    world = rank_and_size()[1]
    if world == 1:
        return [obj]
    gathered = [None] * world
    dist.all_gather_object(gathered, obj)
    return gathered


def rank_stream(state: dict, rank: int) -> dict:
    """Rank ``rank``'s random stream derived from rank 0's generator ``state``: the PCG64
    state advanced by ``rank`` jumps of 2^127 draws (``bit_generator.jumped``), so streams
    never overlap and all derive from ``--seed``; rank 0 keeps ``state``."""
    if rank == 0:
        return state
    bit_generator = np.random.PCG64()
    bit_generator.state = state
    return bit_generator.jumped(rank).state


def broadcast_buffers(module) -> None:
    """Every buffer of ``module`` (BatchNorm statistics) set to rank 0's values."""
    if rank_and_size()[1] == 1:
        return
    for buffer in module.buffers():
        dist.broadcast(buffer, 0)


def gather_rows(array: np.ndarray, axis: int = 0) -> np.ndarray:
    """The arrays of all ranks interleaved along ``axis`` into the global order (row ``j``
    of rank ``r`` is global row ``j·N + r``): the inverse of :func:`shard_rows`."""
    world = rank_and_size()[1]
    if world == 1:
        return array
    parts = [Tensor(np.zeros_like(array)) for _ in range(world)]
    dist.all_gather(parts, Tensor(np.ascontiguousarray(array)))
    stacked = np.stack([p.numpy() for p in parts], axis=axis + 1)   # (..., rows, N, ...)
    shape = list(array.shape)
    shape[axis] *= world
    return stacked.reshape(shape)


def shard_rows(array: np.ndarray, axis: int = 0):
    """This rank's rows ``rank, rank + N, ...`` of ``array`` along ``axis`` (all of them in a
    single process)."""
    rank, world = rank_and_size()
    if world == 1:
        return array
    index = [slice(None)] * array.ndim
    index[axis] = slice(rank, None, world)
    return array[tuple(index)]


class ShardSampler(DistributedSampler):
    """A :class:`~deltaflow.data.DistributedSampler` whose order follows the loader's
    generator: each epoch it draws the permutation that ``DataLoader(shuffle=True,
    generator=g)`` would draw from the same ``g`` (shared with the loader), pads it to a
    multiple of the world size by repeating from the start (as PyTorch does) and keeps every
    N-th index from ``rank``. So the global batch ``k`` of N processes with batch ``B/N``
    each holds the samples of batch ``k`` of one process with batch ``B``, and with N = 1
    the order is exactly that of ``shuffle=True``. ``set_epoch`` changes nothing (the
    generator moves on by itself); ``state_dict`` is the generator's (the same on every
    rank)."""

    def __init__(self, dataset, generator: np.random.Generator):
        super().__init__(dataset, shuffle=True)   # rank and world size of the default group
        self.generator = generator

    def __iter__(self):
        order = np.resize(self.generator.permutation(len(self.dataset)), self.total_size)
        return iter(order[self.rank::self.num_replicas].tolist())

    def state_dict(self) -> dict:
        return {"generator": self.generator.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.generator.bit_generator.state = state["generator"]
