"""The kill harness: ``deltaflow train`` SIGKILLed again and again, resumed after each kill,
must end with the bits of a run never interrupted.

A campaign for one task (:data:`TASKS`: classify, charlm, gan) first runs the task once
uninterrupted (through :mod:`kill_child` with ``WHEN = 0``, which logs when each file
operation happened), then starts the same run in a fresh folder and kills it ``kills``
times, each time

* in start-up (``startup``, one kill in ten): after a random part of the uninterrupted
  run's start-up, or at the first file operation if that comes first;
* after a random delay from the end of start-up (``time``, four in ten): most land in a
  training step, some in a checkpoint's write, a validation, the final save (delays are
  CPU time of the killed process, so the machine's load moves no kill); or
* just before the k-th file operation (``file_op``, half): an ``fsync`` or ``rename`` of an
  atomic write -- inside a checkpoint's pending files or their commit, ``config.toml``,
  ``metrics.jsonl``, the final ``model.safetensors``;

and starts it again: ``deltaflow train --resume RUN`` when the folder has a checkpoint, else
(killed before its first one) the same command in a fresh folder. The delay and k are drawn
from a window of one share of the run's remaining work, split among the kills still to
come plus one -- from the last checkpoint's step, the uninterrupted run's CPU time per
checkpoint (the median gap between its checkpoint commits, which a first run's one-off
compilation does not stretch) and its number of file operations --, after the restart's
own writes. So the windows grow while kills land before a new checkpoint and shrink after
a jump, and the last kill's window is half of what is left: a kill cannot come after the
run's end unless the restart needs half the uninterrupted run's CPU time per step. Each task's run
is sized for its kills (:func:`arguments`): a checkpoint after every step, at least two
steps per kill.

Every restart must print no traceback and no error, and end (a hang: still running after
ten times the uninterrupted run's duration plus :data:`HANG` seconds); the last one runs to
the end, and its ``model.safetensors`` must equal the uninterrupted run's bit for bit, with
the same epochs and steps in ``metrics.jsonl``. Should a run end before its quota of kills,
the campaign goes on with a new round (a fresh folder), so ``kills`` is always reached;
``rounds`` and ``max_kills_in_a_round`` say whether one run took them all.

``python tests/reliability/harness.py --kills 50 [--task classify ...]`` runs campaigns and
prints one JSON line per task (docs/reliability.md records them).
"""
from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MNIST = ROOT.parent / "shared" / "data" / "mnist"
CHILD = HERE / "kill_child.py"
TEXT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n"
        * 40)
COMMON = ["--no-progress", "--no-plot"]


def _epochs(steps: int, per_epoch: int, least: int) -> str:
    """Enough epochs of ``per_epoch`` steps for ``steps`` steps (``least`` at least)."""
    return str(max(least, math.ceil(steps / per_epoch)))


def _classify(work: Path, steps: int) -> list:
    return ["--hidden", "32", "--epochs", _epochs(steps, 21, 3), "--dropout", "0.3",
            "--checkpoint-every", "1"]


def _charlm(work: Path, steps: int) -> list:
    text = work / "tiny.txt"
    text.write_text(TEXT)
    return ["--task", "charlm", "--data", f"text:{text}", "--stateful", "--hidden-size", "16",
            "--embed-dim", "8", "--seq-len", "16", "--batch-size", "8",
            "--epochs", _epochs(steps, 30, 3), "--steps-per-epoch", "30", "--eval-chars",
            "300", "--sample-tokens", "20", "--checkpoint-every", "1"]


def small_mnist(folder: Path, train: int = 1024, test: int = 256) -> Path:
    """The first ``train``/``test`` images of ``../shared/data/mnist`` as IDX files in
    ``folder/mnist`` (a GAN epoch of seconds, not minutes)."""
    out = folder / "mnist"
    out.mkdir(parents=True, exist_ok=True)
    for stem, n in (("train-images-idx3-ubyte", train), ("train-labels-idx1-ubyte", train),
                    ("t10k-images-idx3-ubyte", test), ("t10k-labels-idx1-ubyte", test)):
        data = gzip.decompress((MNIST / f"{stem}.gz").read_bytes())
        dims = int(data[3])
        shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
        item = int(np.prod(shape[1:])) if dims > 1 else 1
        head = data[:4] + n.to_bytes(4, "big") + data[8:4 + 4 * dims]
        (out / stem).write_bytes(head + data[4 + 4 * dims:4 + 4 * dims + n * item])
    return folder


def _gan(work: Path, steps: int) -> list:
    return ["--task", "gan", "--data-dir", str(small_mnist(work / "data")), "--batch-size",
            "64", "--epochs", _epochs(steps, 16, 2), "--checkpoint-every", "1"]


#: each task's ``train`` arguments for a run of at least ``steps`` steps, a checkpoint
#: after each: classify (digits, 21 steps an epoch), charlm (30), gan (1024 MNIST images,
#: batch 64: 16)
TASKS = {"classify": _classify, "charlm": _charlm, "gan": _gan}


def arguments(task: str, work: Path, kills: int) -> list:
    """``deltaflow train`` arguments of ``task``'s run for a campaign of ``kills`` kills:
    at least two steps (two checkpoints) per kill, so that one run can take them all."""
    return ["train", *TASKS[task](work, 2 * kills), *COMMON, "--out", str(work)]


def available(task: str) -> str | None:
    """Why ``task`` cannot run here (None: it can)."""
    if task == "classify":
        try:
            import sklearn  # noqa: F401
        except ImportError:
            return "scikit-learn (the digits) is not installed"
    if task == "gan" and not MNIST.is_dir():
        return f"MNIST IDX files not in {MNIST}"
    return None


def _env() -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("DELTAFLOW_KILLS", None)
    return env


def _start(when: str, argv: list, cwd: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(CHILD), when, str(log), "--", *argv],
                            cwd=cwd, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def has_checkpoint(run: Path) -> bool:
    ckpt = run / "checkpoints"
    return (ckpt / "last.json").is_file() or (ckpt / ".last.pending.json").is_file()


def same_weights(a: Path, b: Path) -> bool:
    from safetensors.numpy import load_file
    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    return wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)


def _progress(run: Path) -> tuple:
    """``(epoch, step)`` of the run's last checkpoint, ``(-1, -1)`` without one."""
    from deltaflow.train.checkpoint import read_sidecar
    try:
        sidecar = read_sidecar(run / "checkpoints" / "last")
    except (OSError, ValueError):
        return (-1, -1)
    return (sidecar["epoch"], sidecar["step"]) if sidecar else (-1, -1)


def _records(run: Path) -> list:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [(r["epoch"], r["step"]) for r in map(json.loads, lines)]


@dataclass
class Reference:
    """What the uninterrupted run measured (:func:`reference`)."""

    startup: float     # CPU seconds to its first file operation
    ops: int           # file operations
    seconds: float     # training CPU time: checkpoint commits × their median gap
    steps: int
    end: float         # CPU seconds, start to exit


def reference(log: Path, run: Path) -> Reference:
    """The uninterrupted run's :class:`Reference` from :mod:`kill_child`'s ``log``."""
    timing = json.loads(log.read_text())
    times = [t for t, _ in timing["ops"]]
    commits = [t for t, dst in timing["ops"]
               if dst is not None and Path(dst).name == "last.json"]
    seconds = (float(np.median(np.diff(commits))) * len(commits) if len(commits) > 2
               else timing["end"] - times[0])
    return Reference(times[0], len(times), seconds, _records(run)[-1][1], timing["end"])


@dataclass
class Campaign:
    """The outcome of :func:`campaign` (``failures`` empty when every check held)."""

    task: str
    kills: int = 0
    by_kind: dict = field(default_factory=lambda: {"startup": 0, "time": 0, "file_op": 0})
    restarts_from_scratch: int = 0
    resumes: int = 0
    rounds: int = 0
    kills_per_round: list = field(default_factory=list)
    bit_identical_rounds: int = 0
    steps: int = 0
    failures: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def max_kills_in_a_round(self) -> int:
        return max(self.kills_per_round, default=0)

    def summary(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "failures"} | \
            {"max_kills_in_a_round": self.max_kills_in_a_round,
             "failures": len(self.failures)}


#: file operations of a restart before its training: config.toml, model.json (3 each) and
#: what a resume finishes or cuts back (an interrupted commit, a torn metrics.jsonl)
RESTART_OPS = 9


#: seconds a restart may take beyond ten times the uninterrupted run before it counts as a
#: hang (generous: on a machine shared with busier processes a start-up alone can take minutes)
HANG = 1800


def campaign(task: str, kills: int, work: Path, seed: int = 0) -> Campaign:
    """Kill ``task``'s run ``kills`` times (see the module docstring) in ``work``."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    work.mkdir(parents=True, exist_ok=True)
    argv = arguments(task, work, kills)
    result = Campaign(task)
    log = work / "reference.json"
    proc = _start("0", [*argv, "--name", "full"], work, log)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{task}: the uninterrupted run failed:\n{err}")
    ref = reference(log, work / "full")
    result.steps = ref.steps
    run = work / "killed"
    while result.kills < kills:
        if has_checkpoint(run):
            command = ["train", "--resume", str(run), *COMMON]
            result.resumes += 1
        else:
            shutil.rmtree(run, ignore_errors=True)
            command = [*argv, "--name", "killed"]
            result.restarts_from_scratch += 1
        # one share of the work left after the last checkpoint, per kill to come plus one
        share = (1 - max(_progress(run)[1], 0) / ref.steps) / (kills - result.kills + 1)
        draw = rng.random()
        kind = "file_op" if draw < 0.5 else "startup" if draw < 0.6 else "time"
        when = (str(int(rng.integers(1, RESTART_OPS + math.ceil(share * ref.ops) + 1)))
                if kind == "file_op" else
                f"startup:{rng.uniform(0, ref.startup):.3f}" if kind == "startup" else
                f"train:{rng.uniform(0, share * ref.seconds):.3f}")
        proc = _start(when, command, work, work / "attempt.json")
        try:
            out, err = proc.communicate(timeout=10 * ref.end + HANG)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            result.failures.append(f"{' '.join(command)} (kill at {when}): a hang")
            break
        bad = [line for line in err.splitlines() if "Traceback" in line or "error" in line]
        if bad:
            result.failures.append(f"{' '.join(command)}: {bad[0]}")
        if proc.returncode == -signal.SIGKILL:
            result.kills += 1
            result.by_kind[kind] += 1
            continue
        if proc.returncode != 0:
            result.failures.append(f"{' '.join(command)} exited {proc.returncode}: {err}")
            break
        _finish_round(result, work, run)   # the run ended before this kill: next round
    else:   # the quota of kills reached: the last start runs to the end
        if not has_checkpoint(run):
            shutil.rmtree(run, ignore_errors=True)
        command = ["train", "--resume", str(run), *COMMON] if has_checkpoint(run) \
            else [*argv, "--name", "killed"]
        proc = _start("0", command, work, work / "attempt.json")
        out, err = proc.communicate()
        if proc.returncode != 0 or "Traceback" in err:
            result.failures.append(f"the last resume exited {proc.returncode}: {err}")
        else:
            _finish_round(result, work, run)
    result.seconds = round(time.perf_counter() - t0, 1)
    return result


def _finish_round(result: Campaign, work: Path, run: Path) -> None:
    result.rounds += 1
    result.kills_per_round.append(result.kills - sum(result.kills_per_round))
    if same_weights(work / "full", run) and _records(work / "full") == _records(run):
        result.bit_identical_rounds += 1
    else:
        result.failures.append(f"round {result.rounds}: the weights or the log differ from "
                               f"the uninterrupted run's")
    shutil.rmtree(run)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=50, help="kills per task (default 50)")
    parser.add_argument("--task", action="append", choices=list(TASKS),
                        help="task (repeatable; default all)")
    parser.add_argument("--work", default="/tmp/deltaflow-kills", help="scratch folder")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    status = 0
    for task in args.task or list(TASKS):
        why = available(task)
        if why:
            print(json.dumps({"task": task, "skipped": why}), flush=True)
            continue
        work = Path(args.work) / task
        shutil.rmtree(work, ignore_errors=True)
        result = campaign(task, args.kills, work, args.seed)
        print(json.dumps(result.summary()), flush=True)
        for failure in result.failures:
            print(f"  {failure}", flush=True)
        status |= bool(result.failures)
    return status


if __name__ == "__main__":
    sys.exit(main())
