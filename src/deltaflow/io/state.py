"""``save``/``load``: state dicts as safetensors files (no pickle: loading runs no code).

A flat ``{name: Tensor}`` dict (a model's ``state_dict()``) becomes a plain safetensors file
that any safetensors reader (PyTorch's included) understands. Nested dicts, lists and
non-array values (an optimizer's or scheduler's ``state_dict()``) are stored too:
:func:`split_arrays` takes the arrays out as tensors under dotted keys
(``state.0.exp_avg``) and leaves a JSON skeleton, stored in the header's metadata under
``deltaflow.structure``, from which :func:`join_arrays` rebuilds the original object: nesting,
key order, integer keys, tuples, and each array's kind (Tensor, NumPy array or NumPy scalar).
A file without that entry (written by another tool) loads as a flat ``{name: Tensor}`` dict.
Checkpoints (``deltaflow.train.checkpoint``) use the same two functions.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .. import backend
from ..tensor import Tensor
from . import validate
from .atomic import atomic_write

STRUCTURE_KEY = "deltaflow.structure"


def _host_array(x) -> np.ndarray:
    arr = np.asarray(backend.to_device(x.data if isinstance(x, Tensor) else x, "cpu"))
    return arr if arr.flags.c_contiguous else arr.copy(order="C")  # a NumPy scalar: 0-d


def _array_tag(x) -> str | None:
    """How an array-like ``x`` is stored: ``__tensor__``, ``__array__`` (NumPy or CuPy
    array), ``__scalar__`` (a NumPy scalar, kept as a 0-d array so every dtype round-trips
    bit-exactly); None for anything else (``np.str_`` is a string)."""
    if isinstance(x, Tensor):
        return "__tensor__"
    if isinstance(x, np.ndarray) or backend.xp_of(x) is not np:
        return "__array__"
    if isinstance(x, np.generic) and not isinstance(x, str | bytes):
        return "__scalar__"
    return None


def _split(obj, key: str, arrays: dict, who: str):
    tag = _array_tag(obj)
    if tag is not None:
        if key in arrays:
            raise ValueError(f"{who}: two entries flatten to the same key {key!r}")
        arrays[key] = _host_array(obj)
        return {tag: key}
    if isinstance(obj, dict):
        items = [[k, _split(v, f"{key}.{k}" if key else str(k), arrays, who)]
                 for k, v in obj.items()]
        if all(isinstance(k, str) for k in obj):
            return dict(items)
        if not all(isinstance(k, str | int) for k in obj):
            raise TypeError(f"{who}: dict keys must be str or int (at {_where(key)})")
        return {"__items__": items}
    if isinstance(obj, list | tuple):
        body = [_split(v, f"{key}.{i}" if key else str(i), arrays, who)
                for i, v in enumerate(obj)]
        return {"__tuple__": body} if isinstance(obj, tuple) else body
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    raise TypeError(f"{who}: cannot store a {type(obj).__name__} (at {_where(key)}); only "
                    f"Tensors, arrays, numbers, strings, None, lists, tuples and dicts")


def _where(key: str) -> str:
    return repr(key) if key else "the top level"


def split_arrays(obj, who: str = "save") -> tuple[object, dict[str, np.ndarray]]:
    """Split ``obj`` into a JSON-able skeleton and its arrays ``{dotted key: host array}``.

    In the skeleton a Tensor is ``{"__tensor__": key}``, another array ``{"__array__": key}``,
    a NumPy scalar ``{"__scalar__": key}``; a dict with int keys is
    ``{"__items__": [[k, v], ...]}``, a tuple ``{"__tuple__": [...]}``; lists, str-keyed
    dicts, None, bools, numbers and strings stay as they are. ``who`` names the caller in
    errors (an unsupported value, two entries with one dotted key).
    """
    arrays: dict[str, np.ndarray] = {}
    return _split(obj, "", arrays, who), arrays


def join_arrays(skeleton, arrays: dict, device: str = "cpu"):
    """Inverse of :func:`split_arrays`: Tensors and arrays go to ``device``."""
    if isinstance(skeleton, list):
        return [join_arrays(v, arrays, device) for v in skeleton]
    if not isinstance(skeleton, dict):
        return skeleton
    if len(skeleton) == 1:
        (tag, value), = skeleton.items()
        if tag == "__tensor__":
            return Tensor.constant(backend.to_device(arrays[value], device))
        if tag == "__array__":
            return backend.to_device(arrays[value], device)
        if tag == "__scalar__":
            return backend.to_device(arrays[value], "cpu")[()]
        if tag == "__tuple__":
            return tuple(join_arrays(v, arrays, device) for v in value)
        if tag == "__items__":
            return {k: join_arrays(v, arrays, device) for k, v in value}
    return {k: join_arrays(v, arrays, device) for k, v in skeleton.items()}


def save(obj, path, metadata: dict | None = None) -> None:
    """Write a state dict to ``path`` as safetensors, atomically (temp file + rename).

    ``obj`` is a dict of Tensors/arrays, possibly nested with plain values (see the module
    docstring). ``metadata`` (str → str) is stored in the file's header.
    """
    from safetensors.numpy import save as serialize

    if not isinstance(obj, dict):
        hint = " (pass model.state_dict() or optimizer.state_dict())" \
            if hasattr(obj, "state_dict") else ""
        raise TypeError(f"save: expected a dict of tensors, got {type(obj).__name__}{hint}")
    skeleton, arrays = split_arrays(obj)
    meta = {str(k): str(v) for k, v in (metadata or {}).items()}
    meta[STRUCTURE_KEY] = json.dumps(skeleton)
    data = serialize(arrays, metadata=meta)
    with atomic_write(path, "wb") as f:   # Python's writes: an OSError names the cause
        f.write(data)


def load(path, map_location=None):
    """Read a file written by :func:`save` (or any safetensors file) back: the object that
    was saved, with its Tensors and arrays on ``map_location`` (``None``/``"cpu"`` or
    ``"cuda"``); a file from another tool as a flat ``{name: Tensor}`` dict."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load: no such file: {path}")
    device = backend.normalize_device(map_location)
    try:   # the header checked first: a damaged file is named, and never mapped
        meta = validate.safetensors_header(path)["__metadata__"]
        arrays = load_file(str(path))
        skeleton = validate.structure(meta[STRUCTURE_KEY], arrays, path) \
            if STRUCTURE_KEY in meta else {k: {"__tensor__": k} for k in arrays}
    except (SafetensorError, OSError) as e:
        raise ValueError(f"load: {path} is not a valid safetensors file ({e})") from None
    except ValueError as e:   # validate's, which name the file
        raise ValueError(f"load: {e}") from None
    return join_arrays(skeleton, arrays, device)


def load_metadata(path) -> dict:
    """The str → str metadata stored in a safetensors file's header."""
    meta = dict(validate.safetensors_header(path)["__metadata__"])
    meta.pop(STRUCTURE_KEY, None)
    return meta
