"""Helpers shared by workloads: where the data lives, and MNIST as NumPy arrays."""
from __future__ import annotations

import gzip
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
    d = data_dir() / "mnist"
    images, labels = d / "train-images-idx3-ubyte.gz", d / "train-labels-idx1-ubyte.gz"
    if images.exists() and labels.exists():
        x = _idx(images).reshape(-1, 784).astype(np.float32) / np.float32(255)
        y = _idx(labels).astype(np.int64)
        note = f"real MNIST train set ({len(y)} images)"
    else:
        rng = np.random.default_rng(0)
        x = rng.random((60000, 784), dtype=np.float32)
        y = rng.integers(0, 10, 60000).astype(np.int64)
        note = f"SYNTHETIC data shaped like MNIST (no {d})"
    if n is not None:
        x, y = x[:n], y[:n]
        note += f", first {n}"
    return np.ascontiguousarray(x), y, note
