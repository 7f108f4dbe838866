"""One implementation of one workload, in its own process: ``python -m benchmarks.worker``.

The harness starts one worker per (workload, implementation), so each has a fresh heap and
its peak RSS (``VmHWM``) is its own. Protocol: JSON lines on the worker's original stdout
(the workload's own prints go to stderr). After start-up the worker sends one message
(``ready``, ``na`` or ``error``); then for each ``run`` line on stdin it times one call and
answers ``{"t": wall seconds, "cpu": CPU seconds of all its threads}``; ``quit`` answers
with the memory figures and exits.
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import time
import traceback


def _status_kib(field: str) -> int | None:
    """A ``kB`` field of /proc/self/status (VmHWM: peak RSS, VmRSS: current RSS)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    if field == "VmHWM":  # not Linux: ru_maxrss (KiB on Linux, bytes on macOS)
        import resource
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return rss // 1024 if sys.platform == "darwin" else rss
    return None


def _threads(impl: str) -> dict:
    """Thread settings as this process sees them."""
    out = {}
    if impl == "torch":
        import torch
        out["torch"] = torch.get_num_threads()
        out["torch_interop"] = torch.get_num_interop_threads()
    if impl == "deltaflow":
        from deltaflow import backend
        out["deltaflow_malloc_tuned"] = backend.allocator_tuned
    try:
        from threadpoolctl import threadpool_info
        for pool in threadpool_info():
            out[f"{pool['internal_api']}"] = pool["num_threads"]
    except ImportError:
        pass
    return out


def _die_with_parent() -> None:
    """On Linux, get SIGTERM when the harness dies, so no worker is left running a call."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal
        try:
            ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("workload")
    p.add_argument("impl")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--threads", type=int, required=True)
    args = p.parse_args()

    _die_with_parent()
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # the workload's prints go to stderr, not into the protocol
    sys.stdout = sys.stderr

    def send(**msg):
        proto.write(json.dumps(msg) + "\n")

    try:
        if args.impl == "torch":
            try:
                import torch
            except ImportError:
                send(status="na", why="torch is not installed")
                return
            torch.set_num_threads(args.threads)
        if args.impl == "deltaflow":  # as the CLI and Trainer.fit do in a training process
            from deltaflow import backend
            backend.tune_allocator()
        from benchmarks.workloads import load
        mod = load(args.workload)
        rss_before = _status_kib("VmRSS")
        kwargs = {"quick": True} if args.quick and "quick" in inspect.signature(
            mod.make).parameters else {}
        fn = mod.make(args.impl, **kwargs)
    except Exception:
        send(status="error", error=traceback.format_exc())
        return
    if fn is None:
        send(status="na", why=f"{args.workload} has no {args.impl} implementation here")
        return
    send(status="ready", units=getattr(fn, "units", 1), note=getattr(fn, "note", None),
         threads=_threads(args.impl), rss_before_make_kib=rss_before)

    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "run":
            try:
                c0, t0 = time.process_time(), time.perf_counter()
                fn()
                send(t=time.perf_counter() - t0, cpu=time.process_time() - c0)
            except Exception:
                send(error=traceback.format_exc())
                return
        elif cmd == "quit":
            send(peak_rss_kib=_status_kib("VmHWM"), rss_kib=_status_kib("VmRSS"))
            return


if __name__ == "__main__":
    main()
