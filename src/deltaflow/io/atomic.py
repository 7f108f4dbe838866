"""Atomic file writes: write a temporary file in the target's folder, then ``os.replace``.

A reader (or a crash) never sees a half-written file: the path holds either the old
content or the complete new one.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path``; on success it replaces ``path`` atomically,
    on an exception it is deleted and ``path`` is left untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_write(path, mode: str = "w", encoding: str | None = None):
    """``with atomic_write(path) as f: f.write(...)``: like ``open(path, mode)`` but atomic."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write: mode must be 'w' or 'wb', got {mode!r}")
    if mode == "w" and encoding is None:
        encoding = "utf-8"
    with atomic_path(path) as tmp, open(tmp, mode, encoding=encoding) as f:
        yield f


def _to_json(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"save_json: cannot store a {type(obj).__name__} in JSON (save arrays "
                    f"with deltaflow.save)")


def save_json(obj, path, indent: int | None = 2) -> None:
    """Write ``obj`` as JSON atomically (NumPy scalars become Python numbers)."""
    text = json.dumps(obj, indent=indent, default=_to_json)
    with atomic_write(path, "w") as f:
        f.write(text + "\n")


def load_json(path):
    """Read a JSON file written by :func:`save_json`."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)
