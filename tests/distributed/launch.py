"""Start ``mpiexec -n N python mpi_worker.py ...`` with a timeout, never leaving a process
behind; skip when mpi4py or mpiexec is missing."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from importlib.util import find_spec
from pathlib import Path

import pytest

WORKER = Path(__file__).resolve().parent / "mpi_worker.py"


def mpiexec() -> str:
    """mpiexec next to this Python (the mpich wheel puts it in the venv's bin), else on
    PATH; skips the test when there is none or mpi4py is missing."""
    if find_spec("mpi4py") is None:
        pytest.skip("mpi4py is not installed (pip install -e \".[distributed]\")")
    here = Path(sys.executable).parent / "mpiexec"
    found = str(here) if here.exists() else shutil.which("mpiexec")
    if found is None:
        pytest.skip("mpiexec not found next to sys.executable or on PATH")
    return found


def launch(cmd, what: str, timeout: float, env=None, cwd=None):
    """Run ``cmd`` (an mpiexec command line) in its own session, without the MPI variables of
    any job this one runs in; returns (returncode, stdout, stderr, seconds). The whole group
    is killed, and the test fails, on timeout."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "MPI_"))}
    full_env.update(env or {})
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=full_env, cwd=cwd, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{what} did not end within {timeout} s\nstdout:\n{out}\nstderr:\n{err}")
    return proc.returncode, out, err, time.monotonic() - start


def run(n: int, *args: str, timeout: float = 120, env=None):
    """Run the worker on ``n`` ranks; returns (returncode, stdout, stderr, seconds)."""
    cmd = [mpiexec(), "-n", str(n), sys.executable, str(WORKER), *args]
    return launch(cmd, f"mpiexec -n {n} {' '.join(args)}", timeout, env)
