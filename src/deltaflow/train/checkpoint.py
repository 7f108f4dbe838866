"""Checkpoints: safetensors weights + a JSON sidecar, every file written atomically.

A checkpoint ``STEM`` is up to three files:

* ``STEM.safetensors`` -- the model's ``state_dict()`` (weights and buffers), loadable on its
  own with ``dl.load``;
* ``STEM.optim.safetensors`` -- the arrays inside the optimizer's (and scheduler's) state
  (momentum buffers, Adam moments), stored bit-exactly;
* ``STEM.json`` -- the sidecar: epoch, step, the optimizer's and scheduler's state with each
  array replaced by a reference into ``STEM.optim.safetensors``, RNG states, callback states,
  history, and the SHA-256 of both safetensors files.

Each file is written to a temporary name in the same folder, flushed, fsynced and renamed over
the old one (``os.replace`` is atomic), the sidecar last: a crash never leaves a half-written
file, and a crash between files leaves a sidecar whose hashes do not match, which
:func:`load_checkpoint` reports instead of loading a mixed state.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from .. import backend
from ..tensor import Tensor

FORMAT = "deltaflow-checkpoint/1"


def _atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)`` then atomically rename ``tmp_path`` to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give the usual permissions
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:  # pragma: no cover - some filesystems refuse fsync on directories
        pass


def write_json(path, obj) -> None:
    """Write ``obj`` as JSON to ``path`` atomically."""
    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=1, allow_nan=True)
            f.write("\n")
    _atomic_write(Path(path), write)


def _to_numpy(value) -> np.ndarray:
    data = value.data if isinstance(value, Tensor) else value
    return np.asarray(backend.to_device(data, "cpu"), order="C")  # keeps 0-d arrays 0-d


def save_tensors(path, tensors: dict) -> None:
    """Write a dict name -> Tensor/array as safetensors, atomically."""
    arrays = {k: _to_numpy(v) for k, v in tensors.items()}
    _atomic_write(Path(path), lambda tmp: save_file(arrays, tmp))


def _sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ------------------------------------------------------------------ state <-> JSON + arrays
def split_arrays(obj, arrays: dict, prefix: str = "s"):
    """Replace every Tensor/array/NumPy scalar inside ``obj`` by a reference; collect them.

    Dicts with non-string keys and tuples are tagged so :func:`join_arrays` rebuilds them
    exactly (optimizer state is keyed by parameter index, Adam's ``betas`` is a tuple).
    """
    if isinstance(obj, Tensor | np.ndarray | np.generic) or backend.device_of(obj) == "cuda":
        key = prefix if prefix not in arrays else f"{prefix}#{len(arrays)}"
        arrays[key] = _to_numpy(obj)
        kind = "tensor" if isinstance(obj, Tensor) else ("scalar" if isinstance(obj, np.generic)
                                                         else "array")
        return {"__array__": key, "kind": kind}
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {k: split_arrays(v, arrays, f"{prefix}.{k}") for k, v in obj.items()}
        return {"__items__": [[k, split_arrays(v, arrays, f"{prefix}.{k}")]
                              for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [split_arrays(v, arrays, f"{prefix}.{i}") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [split_arrays(v, arrays, f"{prefix}.{i}") for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    raise TypeError(f"checkpoint: cannot store a value of type {type(obj).__name__} "
                    f"at {prefix!r}")


def join_arrays(obj, arrays: dict):
    """Inverse of :func:`split_arrays`."""
    if isinstance(obj, dict):
        if "__array__" in obj:
            array = arrays[obj["__array__"]]
            if obj["kind"] == "tensor":
                return Tensor(array)
            return array[()] if obj["kind"] == "scalar" else array
        if "__items__" in obj:
            return {(tuple(k) if isinstance(k, list) else k): join_arrays(v, arrays)
                    for k, v in obj["__items__"]}
        if "__tuple__" in obj:
            return tuple(join_arrays(v, arrays) for v in obj["__tuple__"])
        return {k: join_arrays(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [join_arrays(v, arrays) for v in obj]
    return obj


# ------------------------------------------------------------------ save / load
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
    """Save ``model`` (+ optimizer, scheduler and any JSON-able ``state``) as checkpoint ``stem``.

    Returns the sidecar's path.
    """
    weights_path, optim_path, sidecar_path = checkpoint_paths(stem)
    save_tensors(weights_path, model.state_dict())
    arrays: dict = {}
    extra = {
        "optimizer": split_arrays(optimizer.state_dict(), arrays, "optimizer")
        if optimizer is not None else None,
        "scheduler": split_arrays(scheduler.state_dict(), arrays, "scheduler")
        if scheduler is not None else None,
    }
    sidecar = {"format": FORMAT, **split_arrays(state, arrays, "state"), **extra,
               "files": {"weights": weights_path.name,
                         "weights_sha256": _sha256(weights_path)}}
    if arrays:
        save_tensors(optim_path, arrays)
        sidecar["files"].update(arrays=optim_path.name, arrays_sha256=_sha256(optim_path))
    elif optim_path.exists():
        optim_path.unlink()
    write_json(sidecar_path, sidecar)
    return sidecar_path


def load_weights(path) -> dict:
    """A safetensors file as a dict name -> Tensor (for ``load_state_dict``)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"weights file not found: {path}")
    return {k: Tensor(v) for k, v in load_file(str(path)).items()}


def read_checkpoint(stem) -> dict:
    """Read and verify checkpoint ``stem``; returns the sidecar with arrays rebuilt and
    ``"model"`` holding the weights (name -> Tensor)."""
    weights_path, optim_path, sidecar_path = checkpoint_paths(stem)
    if not weights_path.exists():
        raise FileNotFoundError(f"checkpoint weights not found: {weights_path}")
    if not sidecar_path.exists():  # bare weights (e.g. a run's model.safetensors)
        return {"model": load_weights(weights_path)}
    with open(sidecar_path, encoding="utf-8") as f:
        try:
            sidecar = json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f"checkpoint sidecar {sidecar_path} is not valid JSON: {err}") \
                from None
    if sidecar.get("format") != FORMAT:
        raise ValueError(f"{sidecar_path} is not a deltaflow checkpoint sidecar "
                         f"(format {sidecar.get('format')!r}, expected {FORMAT!r})")
    files = sidecar.pop("files")
    checks = [(weights_path, files["weights_sha256"])]
    if "arrays" in files:
        checks.append((optim_path, files["arrays_sha256"]))
    for path, digest in checks:
        if not path.exists() or _sha256(path) != digest:
            raise ValueError(f"checkpoint {sidecar_path.with_suffix('')} is inconsistent: "
                             f"{path.name} does not match the hash in its sidecar (was a write "
                             f"interrupted?)")
    arrays = load_file(str(optim_path)) if "arrays" in files else {}
    state = join_arrays(sidecar, arrays)
    state["model"] = load_weights(weights_path)
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
