"""``python kill_child.py K LOG -- deltaflow-arguments...``: run ``deltaflow`` and SIGKILL
this process just before its K-th file operation -- an ``os.fsync`` or ``os.replace``, the
steps of every atomic write (a checkpoint's files, their commit, the final
``model.safetensors``, the logs) -- as a crash or ``kill -9`` at that moment would.

``K = 0`` never kills: the run ends normally and LOG (a JSON file) gets the seconds since
start of each operation, which is how the kill harness learns how many operations a run
makes and when.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time


def main() -> int:
    k, log = int(sys.argv[1]), sys.argv[2]
    argv = sys.argv[sys.argv.index("--") + 1:]
    start, times = time.perf_counter(), []
    real = {name: getattr(os, name) for name in ("fsync", "replace")}

    def counted(name):
        def op(*args):
            times.append(time.perf_counter() - start)
            if len(times) == k:
                os.kill(os.getpid(), signal.SIGKILL)
            return real[name](*args)
        return op

    for name in real:
        setattr(os, name, counted(name))
    from deltaflow.cli import main as deltaflow
    try:
        return deltaflow(argv)
    finally:
        if k == 0:
            for name, fn in real.items():
                setattr(os, name, fn)
            with open(log, "w", encoding="utf-8") as f:
                json.dump({"ops": times, "end": time.perf_counter() - start}, f)


if __name__ == "__main__":
    sys.exit(main())
