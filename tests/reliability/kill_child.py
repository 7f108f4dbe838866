"""``python kill_child.py WHEN LOG -- deltaflow-arguments...``: run ``deltaflow`` and SIGKILL
this process, as a crash or ``kill -9`` would, at the moment WHEN names:

* ``K`` (an integer, 1 or more): just before its K-th file operation -- an ``os.fsync`` or
  ``os.replace``, the steps of every atomic write (a checkpoint's files, their commit, the
  final ``model.safetensors``, the logs);
* ``startup:S``: when it has used S seconds of CPU time, or at its first file operation if
  that comes first -- always in start-up (imports, the data, the model, the checkpoint's
  load);
* ``train:S``: when it has used S seconds of CPU time after start-up, which ends at its
  first file operation (the write of ``config.toml``, after the set-up and the checkpoint's
  load): in a training step, a checkpoint's write, a validation, the final save.

Delays count CPU time (``time.process_time``), not wall time, so that a kill lands at the
same point of the work however busy the machine is: a campaign measured while other
processes took most of the CPU stays right when they stop.

``0`` never kills: the run ends normally and LOG (a JSON file) gets, for each operation,
its CPU time since start and, for a rename, its destination (else null) -- how the kill
harness learns how many operations a run makes, when, and when each checkpoint was
committed.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time


def _kill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _kill_at(cpu_seconds: float) -> None:
    """SIGKILL this process once its CPU time reaches ``cpu_seconds`` (a thread that looks
    every millisecond: it fires inside NumPy's and the file system's calls too, which
    release the interpreter lock)."""
    def watch():
        while time.process_time() < cpu_seconds:
            time.sleep(0.001)
        _kill()
    threading.Thread(target=watch, daemon=True).start()


def main() -> int:
    when, log = sys.argv[1], sys.argv[2]
    argv = sys.argv[sys.argv.index("--") + 1:]
    kind, _, seconds = when.rpartition(":")      # "train:0.5" -> ("train", ..., "0.5")
    k = 0 if kind else int(when)
    if kind not in ("", "startup", "train"):
        raise SystemExit(f"kill_child.py: WHEN must be K, startup:S or train:S, got {when!r}")
    ops = []
    real = {name: getattr(os, name) for name in ("fsync", "replace")}

    def counted(name):
        def op(*args):
            now = time.process_time()
            ops.append([now, os.fspath(args[1]) if name == "replace" else None])
            if len(ops) == k or (len(ops) == 1 and kind == "startup"):
                _kill()
            if len(ops) == 1 and kind == "train":
                _kill_at(now + float(seconds))
            return real[name](*args)
        return op

    for name in real:
        setattr(os, name, counted(name))
    if kind == "startup":
        _kill_at(float(seconds))
    from deltaflow.cli import main as deltaflow
    try:
        return deltaflow(argv)
    finally:
        if when == "0":
            for name, fn in real.items():
                setattr(os, name, fn)
            with open(log, "w", encoding="utf-8") as f:
                json.dump({"ops": ops, "end": time.process_time()}, f)


if __name__ == "__main__":
    sys.exit(main())
