"""Checkpoints: safetensors weights + a JSON sidecar, every file written by ``deltaflow.io``.

A checkpoint ``STEM`` is up to three files:

* ``STEM.safetensors`` -- the model's ``state_dict()`` (weights and buffers) written by
  ``dl.save``, loadable on its own with ``dl.load``;
* ``STEM.optim.safetensors`` -- the arrays inside the optimizer's, scheduler's and other
  state (momentum buffers, Adam moments), stored bit-exactly by ``dl.save``;
* ``STEM.json`` -- the sidecar: the format, epoch, step, the optimizer's and scheduler's
  state, RNG states, callback states and history, with each array replaced by its key in
  ``STEM.optim.safetensors`` (``deltaflow.io.split_arrays``), and the SHA-256 of both
  safetensors files.

Each file is written atomically (``deltaflow.io.atomic_path``: temporary file, fsync,
rename), the sidecar last: a crash never leaves a half-written file, and a crash between
files leaves a sidecar whose hashes do not match, which :func:`read_checkpoint` reports
instead of loading a mixed state.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .. import io

FORMAT = "deltaflow-checkpoint/2"  # /1: the same files, arrays tagged {"__array__", "kind"}


def _sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def checkpoint_paths(stem) -> tuple[Path, Path, Path]:
    """``(weights, optimizer arrays, sidecar)`` paths of checkpoint ``stem``.

    ``stem`` may also name any of the three files.
    """
    stem = str(stem)
    for suffix in (".optim.safetensors", ".safetensors", ".json"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    return Path(stem + ".safetensors"), Path(stem + ".optim.safetensors"), Path(stem + ".json")


def save_checkpoint(stem, model, optimizer=None, scheduler=None, **state) -> Path:
    """Save ``model`` (+ optimizer, scheduler and any other ``state``) as checkpoint ``stem``.

    Returns the sidecar's path.
    """
    weights_path, arrays_path, sidecar_path = checkpoint_paths(stem)
    skeleton, arrays = io.split_arrays(
        {**state, "optimizer": optimizer.state_dict() if optimizer is not None else None,
         "scheduler": scheduler.state_dict() if scheduler is not None else None},
        who="save_checkpoint")
    io.save(model.state_dict(), weights_path)
    files = {"weights": weights_path.name, "weights_sha256": _sha256(weights_path)}
    if arrays:
        io.save(arrays, arrays_path)
        files.update(arrays=arrays_path.name, arrays_sha256=_sha256(arrays_path))
    elif arrays_path.exists():
        arrays_path.unlink()
    io.save_json({"format": FORMAT, **skeleton, "files": files}, sidecar_path)
    return sidecar_path


def read_checkpoint(stem) -> dict:
    """Read and verify checkpoint ``stem``; returns the sidecar with arrays rebuilt and
    ``"model"`` holding the weights (name -> Tensor). Bare weights (a ``.safetensors`` file
    without a sidecar, e.g. a run's ``model.safetensors``) give ``{"model": weights}``."""
    weights_path, arrays_path, sidecar_path = checkpoint_paths(stem)
    if not weights_path.exists():
        raise FileNotFoundError(f"checkpoint weights not found: {weights_path}")
    if not sidecar_path.exists():
        return {"model": io.load(weights_path)}
    try:
        sidecar = io.load_json(sidecar_path)
    except json.JSONDecodeError as err:
        raise ValueError(f"checkpoint sidecar {sidecar_path} is not valid JSON: {err}") \
            from None
    found = sidecar.get("format")
    if found != FORMAT and str(found).startswith("deltaflow-checkpoint/"):
        raise ValueError(f"{sidecar_path} was written by another version of deltaflow (format "
                         f"{found!r}; this version reads {FORMAT!r}), so it cannot be "
                         f"resumed here. Its weights are a plain safetensors file: load them "
                         f"with dl.load('{weights_path}'), or train again for a resumable "
                         f"checkpoint")
    if found != FORMAT:
        raise ValueError(f"{sidecar_path} is not a deltaflow checkpoint sidecar "
                         f"(format {found!r}, expected {FORMAT!r})")
    files = sidecar.pop("files")
    checks = [(weights_path, files["weights_sha256"])]
    if "arrays" in files:
        checks.append((arrays_path, files["arrays_sha256"]))
    for path, digest in checks:
        if not path.exists() or _sha256(path) != digest:
            raise ValueError(f"checkpoint {sidecar_path.with_suffix('')} is inconsistent: "
                             f"{path.name} does not match the hash in its sidecar (was a write "
                             f"interrupted?)")
    state = io.join_arrays(sidecar, io.load(arrays_path) if "arrays" in files else {})
    state["model"] = io.load(weights_path)
    return state


def load_checkpoint(stem, model, optimizer=None, scheduler=None) -> dict:
    """Load checkpoint ``stem`` into ``model`` (and optimizer/scheduler); return the rest."""
    state = read_checkpoint(stem)
    model.load_state_dict(state.pop("model"))
    opt_state, sched_state = state.pop("optimizer", None), state.pop("scheduler", None)
    if optimizer is not None:
        if opt_state is None:
            raise ValueError(f"checkpoint {stem} holds no optimizer state")
        optimizer.load_state_dict(opt_state)
    if scheduler is not None and sched_state is not None:
        scheduler.load_state_dict(sched_state)
    return state
