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

Saving is a commit in two phases, so that a process killed at any moment (or a write that
fails) leaves a checkpoint that loads: the new files are first written, each atomically
(``deltaflow.io``: temporary file, fsync, rename), under pending names
``.STEM.pending.{safetensors,optim.safetensors,json}``, the pending sidecar last; then each is
renamed to its final name, the sidecar last. :func:`read_checkpoint` takes the pending
checkpoint when its sidecar is complete and each of its files is found, under either name,
with the SHA-256 the sidecar names (a kill during the renames), else the final one; the next
save first finishes such an interrupted commit, or drops a pending checkpoint that never got
its sidecar. A sidecar whose files do not match its hashes is reported, never loaded.
"""
from __future__ import annotations

import contextlib
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


def pending_paths(stem) -> tuple[Path, Path, Path]:
    """The pending names of checkpoint ``stem``'s three files (see the module docstring)."""
    weights = checkpoint_paths(stem)[0]
    return checkpoint_paths(weights.with_name(f".{weights.name[:-len('.safetensors')]}"
                                              f".pending"))


def save_checkpoint(stem, model, optimizer=None, scheduler=None, **state) -> Path:
    """Save ``model`` (+ optimizer, scheduler and any other ``state``) as checkpoint ``stem``.

    Returns the sidecar's path. If the save fails (or the process dies) the previous
    checkpoint ``stem`` still loads.
    """
    final, pending = checkpoint_paths(stem), pending_paths(stem)
    skeleton, arrays = io.split_arrays(
        {**state, "optimizer": optimizer.state_dict() if optimizer is not None else None,
         "scheduler": scheduler.state_dict() if scheduler is not None else None},
        who="save_checkpoint")
    _settle(stem)
    try:
        io.save(model.state_dict(), pending[0])
        files = {"weights": final[0].name, "weights_sha256": _sha256(pending[0])}
        if arrays:
            io.save(arrays, pending[1])
            files.update(arrays=final[1].name, arrays_sha256=_sha256(pending[1]))
        io.save_json({"format": FORMAT, **skeleton, "files": files}, pending[2])
    except BaseException:
        for path in pending:
            with contextlib.suppress(OSError):
                io.remove(path)
        raise
    _commit(stem, files)
    return final[2]


def _commit(stem, files: dict) -> None:
    """Rename the pending files whose sidecar names ``files`` to their final names."""
    final, pending = checkpoint_paths(stem), pending_paths(stem)
    for k, role in enumerate(("weights", "arrays")):
        if role in files and pending[k].exists():
            io.move(pending[k], final[k])
    io.move(pending[2], final[2])
    if "arrays" not in files:
        io.remove(final[1])


def _settle(stem) -> None:
    """Finish the commit of an interrupted save whose pending checkpoint is complete; drop
    the pieces of one that is not."""
    pending = pending_paths(stem)
    found = _verified(stem, pending=True)
    if found is not None:
        _commit(stem, found[0]["files"])
    for path in pending:
        io.remove(path)


def _sidecar(path: Path) -> dict:
    try:
        sidecar = io.load_json(path)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        reason = "nested too deeply" if isinstance(err, RecursionError) else err
        raise ValueError(f"checkpoint sidecar {path} is not valid JSON: {reason}") from None
    if not isinstance(sidecar, dict):
        raise ValueError(f"checkpoint sidecar {path} is not a deltaflow checkpoint sidecar "
                         f"(a JSON {type(sidecar).__name__}, expected an object)")
    return sidecar


def _verified(stem, pending: bool):
    """``(sidecar, {role: path})`` of checkpoint ``stem``'s pending (or final) sidecar when
    every file it names is found with its hash; None when it is missing or incomplete."""
    final, names = checkpoint_paths(stem), pending_paths(stem)
    sidecar_path = names[2] if pending else final[2]
    try:
        sidecar = _sidecar(sidecar_path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except ValueError:
        if pending:
            return None   # a pending sidecar is only ever replaced whole; ignore junk
        raise
    files = sidecar.get("files")
    if not isinstance(files, dict):
        return None
    found = {}
    for k, role in enumerate(("weights", "arrays")):
        if role not in files:
            continue
        candidates = (names[k], final[k]) if pending else (final[k],)
        digest = files.get(f"{role}_sha256")
        found[role] = next((p for p in candidates if p.is_file() and _sha256(p) == digest),
                           None)
        if found[role] is None:
            return None
    return sidecar, found


def read_sidecar(stem) -> dict:
    """The sidecar (JSON, arrays as keys) of the checkpoint :func:`read_checkpoint` loads."""
    return _locate(stem)[0]


def _locate(stem):
    weights_path, arrays_path, sidecar_path = checkpoint_paths(stem)
    found = _verified(stem, pending=True)
    if found is not None:
        return found
    if not sidecar_path.exists():
        if not weights_path.exists():
            raise FileNotFoundError(f"checkpoint weights not found: {weights_path}")
        return None, {"weights": weights_path}
    sidecar = _sidecar(sidecar_path)
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
    verified = _verified(stem, pending=False)
    if verified is None:
        files = sidecar.get("files") if isinstance(sidecar.get("files"), dict) else {}
        bad = next((path.name for path, role in ((weights_path, "weights"),
                                                 (arrays_path, "arrays"))
                    if role in files and not (path.is_file() and
                                              _sha256(path) == files.get(f"{role}_sha256"))),
                   "its files list")
        raise ValueError(f"checkpoint {sidecar_path.with_suffix('')} is inconsistent: {bad} "
                         f"does not match the hash in its sidecar (was a write interrupted?)")
    return verified


def read_checkpoint(stem) -> dict:
    """Read and verify checkpoint ``stem``; returns the sidecar with arrays rebuilt and
    ``"model"`` holding the weights (name -> Tensor). Bare weights (a ``.safetensors`` file
    without a sidecar, e.g. a run's ``model.safetensors``) give ``{"model": weights}``."""
    sidecar, paths = _locate(stem)
    if sidecar is None:
        return {"model": io.load(paths["weights"])}
    sidecar = dict(sidecar)
    sidecar.pop("files")
    state = io.join_arrays(sidecar, io.load(paths["arrays"]) if "arrays" in paths else {})
    state["model"] = io.load(paths["weights"])
    return state


def load_weights(model, path, weights=None) -> None:
    """Load the weights file ``path`` (or ``weights`` read from it) into ``model``: the one
    checked way every command loads a run's weights. A damaged file, or one holding
    another model's weights, is one ``ValueError`` naming the file."""
    from ..tensor import Tensor
    weights = io.load(path) if weights is None else weights
    if not isinstance(weights, dict) or not all(isinstance(v, Tensor)
                                                for v in weights.values()):
        raise ValueError(f"{path} holds no model weights (a {type(weights).__name__} that is "
                         f"not a flat dict of tensors): is it damaged?")
    try:
        model.load_state_dict(weights)
    except (RuntimeError, ValueError, KeyError, TypeError) as err:
        detail = "; ".join(line.strip() for line in str(err).splitlines()[1:]) or str(err)
        detail = detail if len(detail) <= 300 else detail[:297] + "..."
        raise ValueError(f"{path} does not hold the weights of this run's model "
                         f"({type(model).__name__}): {detail}") from None


def load_checkpoint(stem, model, optimizer=None, scheduler=None) -> dict:
    """Load checkpoint ``stem`` into ``model`` (and optimizer/scheduler); return the rest."""
    state = read_checkpoint(stem)
    load_weights(model, checkpoint_paths(stem)[0], state.pop("model"))
    opt_state, sched_state = state.pop("optimizer", None), state.pop("scheduler", None)
    if optimizer is not None:
        if opt_state is None:
            raise ValueError(f"checkpoint {stem} holds no optimizer state")
        optimizer.load_state_dict(opt_state)
    if scheduler is not None and sched_state is not None:
        scheduler.load_state_dict(sched_state)
    return state
