"""Communicators: the one interface between deltaflow and a transport.

Everything distributed (the ``dl.distributed`` collectives, ``DistributedDataParallel``,
``SyncBatchNorm``) talks to a :class:`Communicator`, which works in place on contiguous
arrays. Two exist: :class:`MPICommunicator` (mpi4py's buffer-based, uppercase calls on NumPy
arrays: no pickling) and :class:`LocalCommunicator` (one process: nothing to exchange). A
GPU communicator (NCCL through CuPy) would be a third subclass; nothing above this file
would change.
"""
from __future__ import annotations

import os
import pickle
import sys

import numpy as np

OPS = ("sum", "product", "min", "max")


class Request:
    """A started non-blocking operation: ``wait()`` blocks until it is done, ``test()``
    says whether it is (and makes progress)."""

    def wait(self) -> None:
        pass

    def test(self) -> bool:
        return True


class Communicator:
    """A group of ``size`` processes, this one being ``rank``. Array arguments are
    C-contiguous arrays, changed in place; every process calls every collective in the
    same order."""

    rank: int = 0
    size: int = 1
    local_size: int = 1   # processes of the group on this machine

    def allreduce(self, array, op: str = "sum") -> None:
        """``array`` ← the elementwise ``op`` (one of ``OPS``) of every rank's ``array``."""
        self.iallreduce(array, op).wait()

    def iallreduce(self, array, op: str = "sum") -> Request:
        """Start :meth:`allreduce`; ``array`` holds the result once the request is done."""
        raise NotImplementedError

    def bcast(self, array, root: int = 0) -> None:
        """``array`` ← rank ``root``'s ``array``."""
        raise NotImplementedError

    def allgather(self, send, recv) -> None:
        """``recv[r]`` ← rank ``r``'s ``send`` (``recv`` has shape ``(size, *send.shape)``)."""
        raise NotImplementedError

    def barrier(self) -> None:
        raise NotImplementedError

    def abort(self, exit_code: int = 1):
        """End every process of the job now, with ``exit_code``."""
        raise NotImplementedError

    def free(self) -> None:
        """Release the transport's resources (the group is unusable afterwards)."""

    # objects: pickled into byte arrays, outside the hot path
    def bcast_object(self, obj, root: int = 0):
        data = np.frombuffer(pickle.dumps(obj), dtype=np.uint8) if self.rank == root else None
        n = np.array([0 if data is None else data.size], dtype=np.int64)
        self.bcast(n, root)
        buf = data.copy() if data is not None else np.empty(int(n[0]), dtype=np.uint8)
        self.bcast(buf, root)
        return obj if self.rank == root else pickle.loads(buf.tobytes())

    def allgather_object(self, obj) -> list:
        data = np.frombuffer(pickle.dumps(obj), dtype=np.uint8)
        sizes = np.zeros((self.size, 1), dtype=np.int64)
        self.allgather(np.array([data.size], dtype=np.int64), sizes)
        buf = np.zeros((self.size, int(sizes.max())), dtype=np.uint8)
        send = np.zeros(buf.shape[1], dtype=np.uint8)
        send[:data.size] = data
        self.allgather(send, buf)
        return [pickle.loads(buf[r, :int(sizes[r, 0])].tobytes()) for r in range(self.size)]


class LocalCommunicator(Communicator):
    """World size 1: every collective leaves the array as it is."""

    def iallreduce(self, array, op="sum"):
        return Request()

    def bcast(self, array, root=0):
        pass

    def allgather(self, send, recv):
        recv[0] = send

    def barrier(self):
        pass

    def abort(self, exit_code=1):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(exit_code)


class _MPIRequest(Request):
    def __init__(self, request):
        self.request = request

    def wait(self):
        self.request.Wait()

    def test(self):
        return self.request.Test()


class MPICommunicator(Communicator):
    """MPI through mpi4py: a duplicate of ``COMM_WORLD`` (so that deltaflow's messages
    never mix with the program's own), NumPy arrays only."""

    def __init__(self):
        from mpi4py import MPI

        self.MPI = MPI
        self.comm = MPI.COMM_WORLD.Dup()
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        node = self.comm.Split_type(MPI.COMM_TYPE_SHARED)
        self.local_size = node.Get_size()
        node.Free()
        self._ops = {"sum": MPI.SUM, "product": MPI.PROD, "min": MPI.MIN, "max": MPI.MAX}

    def _check(self, array, what):
        if not isinstance(array, np.ndarray):
            raise TypeError(f"distributed {what}: the MPI communicator works on NumPy arrays, "
                            f"got {type(array).__name__} (GPU arrays need a GPU communicator, "
                            "not implemented yet)")
        if not array.flags.c_contiguous:
            raise ValueError(f"distributed {what}: the array must be C-contiguous")

    def iallreduce(self, array, op="sum"):
        self._check(array, "all_reduce")
        return _MPIRequest(self.comm.Iallreduce(self.MPI.IN_PLACE, array, op=self._ops[op]))

    def allreduce(self, array, op="sum"):
        self._check(array, "all_reduce")
        self.comm.Allreduce(self.MPI.IN_PLACE, array, op=self._ops[op])

    def bcast(self, array, root=0):
        self._check(array, "broadcast")
        self.comm.Bcast(array, root=root)

    def allgather(self, send, recv):
        self._check(send, "all_gather")
        self._check(recv, "all_gather")
        self.comm.Allgather(send, recv)

    def barrier(self):
        self.comm.Barrier()

    def abort(self, exit_code=1):
        """Ends the whole MPI job (``COMM_WORLD``), also after :meth:`free`."""
        sys.stdout.flush()
        sys.stderr.flush()
        self.MPI.COMM_WORLD.Abort(exit_code)

    def free(self):
        self.comm.Free()
