"""The run folder: one layout for every task of ``deltaflow train``.

::

    runs/<name>/
        config.toml          every option of the run (reusable with --config)
        model.json           what the task needs to rebuild the model and read its data
                             (task, model, data paths, vocabulary, normalisation ...)
        model.safetensors    the final weights
        metrics.jsonl        one record per epoch
        results.json         the final report (test split)
        checkpoints/         last.* (resume) and best.* (best validation loss)
        curves.png, ...      plots and task outputs (samples)

``deltaflow eval``, ``predict``, ``generate``, ``explain`` and ``train --resume`` find what
they need here by these names (:func:`open_run`, :func:`locate`).
"""
from __future__ import annotations

import datetime
import json
import math
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser as the tomli backport
    try:
        import tomli as tomllib
    except ModuleNotFoundError:
        tomllib = None

from .. import io
from ..io import validate
from . import checkpoint as ckpt

CONFIG_NAME = "config.toml"
META_NAME = "model.json"
RESULTS_NAME = "results.json"
WEIGHTS_NAME = "model.safetensors"
CHECKPOINT = "checkpoints/last"
BEST_CHECKPOINT = "checkpoints/best"
#: the types of model.json's entries (those a task wrote), checked when a run is opened
META_TYPES = {"task": str, "model": str, "data": str, "data_dir": (str, type(None)),
              "input_shape": list, "num_classes": int, "classes": list, "normalize": dict,
              "vocab": (str, list), "hparams": dict, "seq_len": int, "train_chars": int,
              "z_dim": int, "tasks": list, "memory_size": int, "val_split": float,
              "seed": int}


# ------------------------------------------------------------------ config.toml
def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if isinstance(value, float) and math.isnan(value):
            return "nan"
        if isinstance(value, float) and math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def dump_toml(config: dict) -> str:
    """Flat ``key = value`` TOML for a dict of scalars and lists (None values left out)."""
    return "".join(f"{k} = {_toml_value(v)}\n" for k, v in config.items() if v is not None)


def read_toml(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    if tomllib is None:
        raise ValueError("reading TOML config files needs Python 3.11 or newer (tomllib)")
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise ValueError(f"{path}: invalid TOML: {type(err).__name__}: {str(err)[:200]}") \
            from None


def save_config(run_dir, config: dict) -> None:
    """Write ``config.toml`` (atomically)."""
    text = "# deltaflow train options of this run (usable with --config)\n" + dump_toml(config)
    with io.atomic_write(Path(run_dir) / CONFIG_NAME) as f:
        f.write(text)


# ------------------------------------------------------------------ making and finding runs
def new_run_dir(out, name: str) -> Path:
    """``out/name``, made fresh: an existing folder gets a ``-2``, ``-3``, ... suffix rather
    than being overwritten."""
    base = Path(out) / name
    run_dir, n = base, 1
    while run_dir.exists():
        n += 1
        run_dir = base.with_name(f"{base.name}-{n}")
    try:
        run_dir.mkdir(parents=True)
    except OSError as err:
        raise io.WriteError(run_dir, err) from None
    return run_dir


def default_name(model: str, data: str) -> str:
    """``<model>-<data>-<date>-<time>``."""
    return f"{model}-{data}-{datetime.datetime.now().strftime('%Y%m%d-%H%M%S')}"


def open_run(path) -> dict:
    """The ``model.json`` of the run folder ``path``, checked: a clear error for a folder
    that is no run, or one written by an earlier deltaflow with another layout."""
    run_dir = Path(path)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"no run folder {run_dir}")
    meta = run_dir / META_NAME
    if not meta.is_file():
        if (run_dir / "config.json").is_file():
            raise ValueError(f"{run_dir} was written by an earlier deltaflow (config.json, no "
                             f"{META_NAME}); its layout is no longer read: train it again")
        raise FileNotFoundError(f"{run_dir} is not a deltaflow run folder (no {META_NAME})")
    return validate.read_json(meta, META_TYPES).require("task")


def open_trained(path, task: str) -> tuple[Path, Path, dict]:
    """``(run folder, weights file, model.json)`` for a run folder or a checkpoint inside
    one (:func:`locate`), checked to be a ``task`` run."""
    run_dir, weights = locate(path)
    meta = open_run(run_dir)
    if meta.get("task") != task:
        raise ValueError(f"{run_dir} is a {meta.get('task')} run, not a {task} run")
    return run_dir, weights, meta


def read_config(run_dir) -> dict:
    """The run's ``config.toml`` as a dict (empty when the file is missing)."""
    path = Path(run_dir) / CONFIG_NAME
    return read_toml(path) if path.is_file() else {}


def has_checkpoint(run_dir) -> bool:
    """Whether the run has a last checkpoint (possibly one whose commit was interrupted)."""
    stem = Path(run_dir) / CHECKPOINT
    return ckpt.checkpoint_paths(stem)[2].is_file() or ckpt.pending_paths(stem)[2].is_file()


def checkpoint_epoch(run_dir) -> int:
    """Epochs completed by the run's last checkpoint."""
    return int((ckpt.read_sidecar(Path(run_dir) / CHECKPOINT) or {}).get("epoch", 0))


def checkpoint_world_size(run_dir) -> int:
    """How many processes trained the run up to its last checkpoint."""
    return int((ckpt.read_sidecar(Path(run_dir) / CHECKPOINT) or {}).get("world_size", 1))


def locate(path) -> tuple[Path, Path]:
    """``(run folder, weights file)`` for a run folder (its ``model.safetensors``, else its
    last checkpoint) or a checkpoint/weights file inside one."""
    path = Path(path)
    if path.is_dir():
        for weights in (path / WEIGHTS_NAME, path / (CHECKPOINT + ".safetensors")):
            if weights.is_file():
                return path, weights
        if not (path / META_NAME).is_file():
            open_run(path)  # the clearer message for a folder that is no run
        raise FileNotFoundError(f"{path} holds no trained weights ({WEIGHTS_NAME} or "
                                f"{CHECKPOINT}.safetensors)")
    name = path.name
    for suffix in (".optim.safetensors", ".json", ".safetensors"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    weights = path.with_name(name + ".safetensors")
    if not weights.is_file():
        raise FileNotFoundError(f"no such run folder or checkpoint: {path}")
    run_dir = weights.parent.parent if weights.parent.name == "checkpoints" else weights.parent
    return run_dir, weights
