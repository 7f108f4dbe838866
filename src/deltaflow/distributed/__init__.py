"""``deltaflow.distributed``: data-parallel training across processes and machines on MPI
(mpi4py), with ``torch.distributed``'s names. Launch with ``mpiexec -n N python train.py``;
see docs/distributed.md.

``init_process_group()`` · ``is_initialized()`` · ``get_rank()`` · ``get_world_size()`` ·
``barrier()`` · ``all_reduce(tensor, op=ReduceOp.SUM)`` · ``broadcast(tensor, src)`` ·
``all_gather(tensor_list, tensor)`` · ``broadcast_object_list`` · ``all_gather_object`` ·
``destroy_process_group()`` · ``abort(reason)`` · ``get_communicator()`` (the
:class:`~deltaflow.distributed.communicator.Communicator` under all of them).
"""
from .communicator import Communicator, LocalCommunicator, Request
from .process_group import (ReduceOp, Work, abort, all_gather, all_gather_object, all_reduce,
                            barrier, broadcast, broadcast_object_list, destroy_process_group,
                            get_backend, get_communicator, get_rank, get_world_size,
                            init_process_group, is_available, is_initialized, is_mpi_available)

__all__ = ["Communicator", "LocalCommunicator", "ReduceOp", "Request", "Work", "abort",
           "all_gather", "all_gather_object", "all_reduce", "barrier", "broadcast",
           "broadcast_object_list", "destroy_process_group", "get_backend", "get_communicator",
           "get_rank", "get_world_size", "init_process_group", "is_available",
           "is_initialized", "is_mpi_available"]
