"""The default process group and the collectives on Tensors, with ``torch.distributed``'s
names and semantics (in place on the tensor's array).

``init_process_group()`` reads the environment that an MPI launcher (``mpiexec``,
``mpirun``, ``srun``) gives each process; started without one it is a group of one process
that needs nothing installed. mpi4py is imported only here, only when launched by MPI.
"""
from __future__ import annotations

import enum
import os
import sys
import time

import numpy as np

from ..autograd import write_clock
from . import threads
from .communicator import Communicator, LocalCommunicator, Request

# what MPI launchers put in each process's environment: rank, and world size when they say
_LAUNCHER_VARS = (("PMI_RANK", "PMI_SIZE"), ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
                  ("PMIX_RANK", None), ("MV2_COMM_WORLD_RANK", "MV2_COMM_WORLD_SIZE"))

_comm: Communicator | None = None
# the group whose job an uncaught exception ends: kept after destroy_process_group, since an
# exception raised on the way out (a `finally: destroy_process_group()`) must still end it
_job: Communicator | None = None
_previous_excepthook = None
#: seconds between a failing rank's last line on stderr and MPI_Abort
ABORT_GRACE_SECONDS = 0.2


class ReduceOp(enum.Enum):
    """How ``all_reduce`` combines the ranks' values (``AVG``: the sum over the world size,
    for floating tensors)."""

    SUM = "sum"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"
    AVG = "avg"


class Work:
    """What ``async_op=True`` returns: ``wait()`` finishes the operation."""

    def __init__(self, request: Request, finish=None):
        self.request, self.finish = request, finish

    def wait(self) -> bool:
        self.request.wait()
        if self.finish is not None:
            self.finish()
            self.finish = None
        return True

    def is_completed(self) -> bool:
        return self.finish is None and self.request.test()


def _launched_by_mpi():
    """(rank, size) as the launcher's variables say (size None when they do not), or None
    when no MPI launcher started this process."""
    for rank_var, size_var in _LAUNCHER_VARS:
        if rank_var in os.environ:
            size = os.environ.get(size_var) if size_var else None
            return int(os.environ[rank_var]), (int(size) if size else None)
    return None


def is_mpi_available() -> bool:
    """Whether mpi4py can be imported (``pip install "deltaflow[distributed]"``)."""
    from importlib.util import find_spec
    return find_spec("mpi4py") is not None


def is_available() -> bool:
    return True


def init_process_group(backend: str | None = None, init_method: str | None = None,
                       timeout=None, world_size: int = -1, rank: int = -1, *,
                       threads_per_rank: int | None = None) -> None:
    """Join the default process group: every process started by ``mpiexec -n N`` (or any
    MPI launcher) with ``backend="mpi"`` (the default and the only backend); without a
    launcher, a group of one. Then, with several ranks on this machine, limits this rank's
    thread pools to its share of the cores (``threads_per_rank`` or
    ``DELTAFLOW_THREADS_PER_RANK`` overrides; 0: no limit) and installs an excepthook that
    ends every rank when one raises (``deltaflow.distributed: rank R failed: ...``)."""
    global _comm, _job, _previous_excepthook
    if _comm is not None:
        raise RuntimeError("init_process_group: trying to initialize the default process "
                           "group twice (call destroy_process_group() first)")
    if backend not in (None, "mpi"):
        raise ValueError(f"init_process_group: backend {backend!r} is not supported; deltaflow "
                         "runs on MPI (backend='mpi'). An NCCL communicator for GPU arrays is "
                         "not implemented yet")
    if init_method not in (None, "env://"):
        raise ValueError(f"init_process_group: init_method {init_method!r} is not supported: "
                         "the MPI launcher's environment says who is who (start the processes "
                         "with mpiexec -n N ...)")
    launched = _launched_by_mpi()
    if launched is None:
        comm = LocalCommunicator()
    elif is_mpi_available():
        from .communicator import MPICommunicator
        comm = MPICommunicator()
    elif launched[1] == 1:
        comm = LocalCommunicator()
    else:
        raise RuntimeError(f"init_process_group: this process was started by an MPI launcher "
                           f"(rank {launched[0]}) but mpi4py is not installed; install it with "
                           "pip install \"deltaflow[distributed]\"")
    for name, given, actual in (("world_size", world_size, comm.size),
                                ("rank", rank, comm.rank)):
        if given not in (-1, None) and given != actual:
            raise ValueError(f"init_process_group: {name}={given} was given but the MPI "
                             f"launcher made this process {name} {actual}")
    _comm = comm
    n = threads.threads_per_rank(comm.local_size, threads_per_rank)
    if n and (comm.local_size > 1 or threads_per_rank is not None
              or os.environ.get(threads.ENV, "").strip()):
        threads.limit_threads(n)
    if comm.size > 1:
        _job = comm
        if sys.excepthook is not _abort_on_exception:
            _previous_excepthook = sys.excepthook
            sys.excepthook = _abort_on_exception


def _abort_on_exception(exc_type, exc, tb):
    """sys.excepthook on every rank: the traceback, one line naming the rank and its error,
    then MPI_Abort, which ends every rank (the others may be waiting in a collective)."""
    (_previous_excepthook or sys.__excepthook__)(exc_type, exc, tb)
    text = str(exc).strip().splitlines()
    abort(f"{exc_type.__name__}: {text[0]}" if text else exc_type.__name__)


def abort(reason: str, exit_code: int = 1):
    """Print ``deltaflow.distributed: rank R failed: <reason>`` to stderr and end every
    process of the group with ``exit_code``: what a rank that must stop alone calls (an
    exception reaching the top does it through the excepthook; ``sys.exit`` on one rank
    while the others wait in a collective would hang them)."""
    comm = _comm or _job or LocalCommunicator()
    print(f"deltaflow.distributed: rank {comm.rank} failed: {reason}", file=sys.stderr,
          flush=True)
    # MPI_Abort tears the job down at once; the launcher forwards a rank's stderr from a
    # pipe, and a CI run once lost this line (and the traceback's last one) that way:
    # give it a moment to read them first
    time.sleep(ABORT_GRACE_SECONDS)
    comm.abort(exit_code)


def destroy_process_group(group=None) -> None:
    """Leave the default group; ``init_process_group`` may be called again. The excepthook
    stays: an exception after this (or propagating through it) still ends every rank."""
    global _comm
    _check_group(group)
    comm = _default()
    _comm = None
    comm.free()


def is_initialized() -> bool:
    return _comm is not None


def _default() -> Communicator:
    if _comm is None:
        raise ValueError("Default process group has not been initialized, please make sure "
                         "to call init_process_group.")
    return _comm


def _check_group(group):
    if group is not None:
        raise ValueError("deltaflow.distributed: only the default group (group=None) exists")


def get_communicator(group=None) -> Communicator:
    """The default group's :class:`Communicator` (what DDP and SyncBatchNorm use)."""
    _check_group(group)
    return _default()


def get_rank(group=None) -> int:
    return get_communicator(group).rank


def get_world_size(group=None) -> int:
    return get_communicator(group).size


def get_backend(group=None) -> str:
    get_communicator(group)
    return "mpi"


def barrier(group=None, async_op: bool = False):
    get_communicator(group).barrier()
    return Work(Request()) if async_op else None


def _check_src(what, src, comm):
    if not 0 <= src < comm.size:
        raise ValueError(f"{what}: src must be a rank in [0, {comm.size - 1}], got {src}")


def _buffer(tensor, what):
    """The tensor's array when contiguous, else a contiguous copy, and how to write it
    back (a stamp of the tensor's version either way)."""
    from ..tensor import Tensor

    if not isinstance(tensor, Tensor):
        raise TypeError(f"{what}: expected a Tensor, got {type(tensor).__name__}")
    data = tensor.data
    buf = data if data.flags.c_contiguous else np.ascontiguousarray(data)

    def write_back():
        if buf is not data:
            data[...] = buf
        write_clock.stamp(tensor)
    return buf, write_back


def all_reduce(tensor, op: ReduceOp = ReduceOp.SUM, group=None, async_op: bool = False):
    """``tensor`` ← ``op`` over every rank's ``tensor``, in place."""
    comm = get_communicator(group)
    if not isinstance(op, ReduceOp):
        raise TypeError(f"all_reduce: op must be a dl.distributed.ReduceOp, got {op!r}")
    buf, write_back = _buffer(tensor, "all_reduce")
    if op is ReduceOp.AVG and buf.dtype.kind not in "fc":
        raise TypeError(f"all_reduce: ReduceOp.AVG needs a floating tensor, got {buf.dtype}")
    request = comm.iallreduce(buf, "sum" if op is ReduceOp.AVG else op.value)

    def finish():
        if op is ReduceOp.AVG:
            buf[...] /= comm.size
        write_back()
    work = Work(request, finish)
    if async_op:
        return work
    work.wait()
    return None


def broadcast(tensor, src: int, group=None, async_op: bool = False):
    """``tensor`` ← rank ``src``'s ``tensor``, in place."""
    comm = get_communicator(group)
    _check_src("broadcast", src, comm)
    buf, write_back = _buffer(tensor, "broadcast")
    comm.bcast(buf, src)
    write_back()
    return Work(Request()) if async_op else None


def all_gather(tensor_list, tensor, group=None, async_op: bool = False):
    """``tensor_list[r]`` ← rank ``r``'s ``tensor`` (a list of world-size tensors of its
    shape and dtype)."""
    comm = get_communicator(group)
    send, _ = _buffer(tensor, "all_gather")
    if len(tensor_list) != comm.size:
        raise ValueError(f"all_gather: tensor_list must hold world size ({comm.size}) tensors, "
                         f"got {len(tensor_list)}")
    for t in tensor_list:
        if tuple(t.shape) != send.shape or t.dtype != send.dtype:
            raise ValueError(f"all_gather: every tensor in tensor_list must have the shape "
                             f"{send.shape} and dtype {send.dtype} of the tensor sent, got "
                             f"{tuple(t.shape)} {t.dtype}")
    recv = np.empty((comm.size,) + send.shape, dtype=send.dtype)
    comm.allgather(send, recv)
    for t, part in zip(tensor_list, recv):
        t.data[...] = part
        write_clock.stamp(t)
    return Work(Request()) if async_op else None


def broadcast_object_list(object_list: list, src: int = 0, group=None) -> None:
    """``object_list[:]`` ← rank ``src``'s list (pickled: not for the hot path)."""
    comm = get_communicator(group)
    _check_src("broadcast_object_list", src, comm)
    object_list[:] = comm.bcast_object(list(object_list), src)


def all_gather_object(object_list: list, obj, group=None) -> None:
    """``object_list[r]`` ← rank ``r``'s ``obj`` (pickled: not for the hot path)."""
    comm = get_communicator(group)
    if len(object_list) != comm.size:
        raise ValueError(f"all_gather_object: object_list must have world size "
                         f"({comm.size}) entries, got {len(object_list)}")
    object_list[:] = comm.allgather_object(obj)
