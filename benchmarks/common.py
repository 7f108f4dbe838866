"""Helpers shared by workloads: where the data lives, MNIST as NumPy arrays, the
evaluation loop of the inference workloads, and torch's initial weights for a workload."""
from __future__ import annotations

import gzip
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """``../shared/data`` relative to the repository root (may not exist)."""
    return (ROOT / ".." / "shared" / "data").resolve()


def _idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def mnist_train(n: int | None = None):
    """``(images float32 (N, 784) in [0, 1], labels int64 (N,), note)``.

    The real MNIST training set when ``data_dir()/mnist`` exists, otherwise random data of
    the same shape (the note says which). ``n`` keeps only the first ``n`` examples.
    """
    return _mnist("train", 60000, n)


def mnist_test(n: int | None = None):
    """Like :func:`mnist_train`, for the 10 000 test images."""
    return _mnist("t10k", 10000, n)


def _mnist(split: str, size: int, n: int | None):
    d = data_dir() / "mnist"
    images, labels = d / f"{split}-images-idx3-ubyte.gz", d / f"{split}-labels-idx1-ubyte.gz"
    if images.exists() and labels.exists():
        x = _idx(images).reshape(-1, 784).astype(np.float32)
        x *= np.float32(1 / 255)  # in place: the dataset is 188 MB, peak RSS is measured
        y = _idx(labels).astype(np.int64)
        note = f"real MNIST {split} set ({len(y)} images)"
    else:
        rng = np.random.default_rng(0)
        x = rng.random((size, 784), dtype=np.float32)
        y = rng.integers(0, 10, size).astype(np.int64)
        note = f"SYNTHETIC data shaped like MNIST (no {d})"
    if n is not None:
        x, y = x[:n], y[:n]
        note += f", first {n}"
    return np.ascontiguousarray(x), y, note


def counting_evaluation(lib, model, x, y, batch):
    """The evaluation a user writes, for ``lib`` = deltaflow or torch (same API here): eval
    mode, ``no_grad``, batches of ``batch`` rows of ``x``; the callable returns how many
    predictions equal ``y``."""
    model.eval()
    X, Y = lib.from_numpy(x), lib.from_numpy(y)

    def evaluate():
        correct = 0
        with lib.no_grad():
            for i in range(0, len(x), batch):
                correct += (model(X[i:i + batch]).argmax(dim=1) == Y[i:i + batch]).sum().item()
        return correct
    return evaluate


def several_steps(step, n):
    """A callable running ``step`` ``n`` times as one timed call of ``n`` units: for
    workloads whose step lasts only tens of milliseconds, so that one sample spans more
    than a blip of the machine's speed."""
    def run():
        for _ in range(n):
            step()
    run.units = n
    return run


def torch_initial_state(module: str, impl: str, function: str = "_initial_state"):
    """``benchmarks.workloads.<module>.<function>()``: torch's initialisation of a workload's
    model as ``{name: ndarray}`` (None without torch), for both implementations to start
    from. The torch worker computes it itself; any other worker gets it from a child process
    through an ``.npz`` file, so that torch's libraries (≈ 190 MiB) never count in that
    worker's peak RSS."""
    if impl == "torch":
        import importlib
        return getattr(importlib.import_module(f"benchmarks.workloads.{module}"), function)()
    code = ("import sys, importlib, numpy as np; "
            "s = getattr(importlib.import_module('benchmarks.workloads.' + sys.argv[1]), "
            "sys.argv[2])(); s is None or np.savez(sys.argv[3], **s)")
    with tempfile.TemporaryDirectory(prefix="deltaflow-bench-") as tmp:
        path = Path(tmp) / "state.npz"
        done = subprocess.run([sys.executable, "-c", code, module, function, str(path)],
                              cwd=ROOT, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"benchmarks: torch's initial state for workload {module!r} "
                               f"failed (rc={done.returncode}):\n{done.stderr[-2000:]}")
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
