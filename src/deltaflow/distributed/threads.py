"""Each rank's share of the machine's cores for its BLAS, OpenMP and Numba thread pools.

N ranks on one machine, each with a BLAS pool as wide as the machine, run N× as many
threads as cores and slow each other down. :func:`init_process_group` therefore gives each
rank ``cores // ranks on this machine`` threads (at least 1), or what
``DELTAFLOW_THREADS_PER_RANK`` or its ``threads_per_rank`` argument says (0: leave the
thread pools alone).

The limit is applied the ways the benchmarks already limit threads: the environment
variables (``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS``,
``NUMBA_NUM_THREADS``: read by libraries that load later and by child processes such as
DataLoader workers), ``threadpoolctl`` for the BLAS that NumPy has already loaded (when it
is installed: the ``[distributed]`` extra brings it), and ``numba.set_num_threads`` when
Numba is already imported.
"""
from __future__ import annotations

import os
import sys
import warnings

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "NUMBA_NUM_THREADS")
ENV = "DELTAFLOW_THREADS_PER_RANK"


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def threads_per_rank(local_size: int, requested: int | None = None) -> int:
    """The argument, else ``DELTAFLOW_THREADS_PER_RANK``, else this rank's share of the
    cores; 0 means: do not limit."""
    if requested is None and os.environ.get(ENV, "").strip():
        text = os.environ[ENV]
        try:
            requested = int(text)
        except ValueError:
            raise ValueError(f"{ENV} must be a whole number of threads (0: no limit), got "
                             f"{text!r}") from None
    if requested is None:
        return max(1, usable_cores() // max(1, local_size))
    if requested < 0:
        raise ValueError(f"init_process_group: threads_per_rank must be >= 0 (0: no limit), "
                         f"got {requested}")
    return requested


def limit_threads(n: int) -> None:
    """Limit this process's thread pools to ``n`` threads."""
    for var in THREAD_VARS:
        os.environ[var] = str(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        warnings.warn(f"deltaflow.distributed: threadpoolctl is not installed, so the BLAS "
                      f"that NumPy has loaded keeps its own thread count; install it "
                      f"(pip install threadpoolctl, in the [distributed] extra) or launch with "
                      f"OPENBLAS_NUM_THREADS={n} OMP_NUM_THREADS={n}", stacklevel=3)
    else:
        threadpool_limits(n)
    numba = sys.modules.get("numba")
    if numba is not None:
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
