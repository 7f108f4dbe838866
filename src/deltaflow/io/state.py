"""``save``/``load``: state dicts as safetensors files (no pickle: loading runs no code).

A flat ``{name: Tensor}`` dict (a model's ``state_dict()``) becomes a plain safetensors file
that any safetensors reader (PyTorch's included) understands. Nested dicts, lists and
non-array values (an optimizer's or scheduler's ``state_dict()``) are stored too: arrays as
tensors under dotted keys (``state.0.exp_avg``), everything else as JSON in the header's
metadata under ``deltaflow.structure``, from which :func:`load` rebuilds the original nesting
and key order (integer keys and tuples included). A file without that entry (written by
another tool) loads as a flat ``{name: Tensor}`` dict.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .. import backend
from ..tensor import Tensor
from .atomic import atomic_path

STRUCTURE_KEY = "deltaflow.structure"


def _is_array(x) -> bool:
    return isinstance(x, (Tensor, np.ndarray)) or backend.xp_of(x) is not np


def _host_array(x) -> np.ndarray:
    arr = backend.to_device(x.data if isinstance(x, Tensor) else x, "cpu")
    return arr if arr.flags.c_contiguous else arr.copy(order="C")  # (keeps 0-d arrays 0-d)


def _flatten(obj, prefix, tensors, where):
    """Put arrays into ``tensors`` (dotted key → array); return the JSON skeleton."""
    if _is_array(obj):
        if prefix in tensors:
            raise ValueError(f"save: two entries flatten to the same key {prefix!r}")
        tensors[prefix] = _host_array(obj)
        return {"__tensor__": prefix}
    if isinstance(obj, dict):
        items = [[k, _flatten(v, f"{prefix}.{k}" if prefix else str(k), tensors, where)]
                 for k, v in obj.items()]
        if all(isinstance(k, str) for k in obj):
            return {k: v for k, v in items}
        if not all(isinstance(k, (str, int)) for k in obj):
            raise TypeError(f"save: dict keys must be str or int (at {where(prefix)})")
        return {"__items__": items}
    if isinstance(obj, (list, tuple)):
        body = [_flatten(v, f"{prefix}.{i}" if prefix else str(i), tensors, where)
                for i, v in enumerate(obj)]
        return {"__tuple__": body} if isinstance(obj, tuple) else body
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"save: cannot store a {type(obj).__name__} (at {where(prefix)}); only "
                    f"Tensors, arrays, numbers, strings, None, lists and dicts")


def _rebuild(node, tensors):
    if isinstance(node, list):
        return [_rebuild(v, tensors) for v in node]
    if isinstance(node, dict):
        if set(node) == {"__tensor__"}:
            return tensors[node["__tensor__"]]
        if set(node) == {"__tuple__"}:
            return tuple(_rebuild(v, tensors) for v in node["__tuple__"])
        if set(node) == {"__items__"}:
            return {k: _rebuild(v, tensors) for k, v in node["__items__"]}
        return {k: _rebuild(v, tensors) for k, v in node.items()}
    return node


def save(obj, path, metadata: dict | None = None) -> None:
    """Write a state dict to ``path`` as safetensors, atomically (temp file + rename).

    ``obj`` is a dict of Tensors/arrays, possibly nested with plain values (see the module
    docstring). ``metadata`` (str → str) is stored in the file's header.
    """
    from safetensors.numpy import save_file

    if not isinstance(obj, dict):
        hint = " (pass model.state_dict() or optimizer.state_dict())" \
            if hasattr(obj, "state_dict") else ""
        raise TypeError(f"save: expected a dict of tensors, got {type(obj).__name__}{hint}")
    tensors: dict[str, np.ndarray] = {}
    skeleton = _flatten(obj, "", tensors, lambda key: repr(key) if key else "the top level")
    meta = {str(k): str(v) for k, v in (metadata or {}).items()}
    meta[STRUCTURE_KEY] = json.dumps(skeleton)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def load(path, map_location=None):
    """Read a file written by :func:`save` (or any safetensors file) back as Tensors.

    ``map_location``: ``None``/``"cpu"`` or ``"cuda"`` -- where the tensors go.
    """
    from safetensors import SafetensorError, safe_open
    from safetensors.numpy import load_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load: no such file: {path}")
    device = backend.normalize_device(map_location)
    try:
        arrays = load_file(str(path))
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"load: {path} is not a valid safetensors file ({e})") from None
    tensors = {k: Tensor.constant(backend.to_device(a, device))
               for k, a in arrays.items()}
    if STRUCTURE_KEY not in meta:
        return tensors
    return _rebuild(json.loads(meta[STRUCTURE_KEY]), tensors)


def load_metadata(path) -> dict:
    """The str → str metadata stored in a safetensors file's header."""
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        meta = dict(f.metadata() or {})
    meta.pop(STRUCTURE_KEY, None)
    return meta
