"""Checked reading of the files a user points deltaflow at: whatever the damage (truncated,
empty, binary, hostile), reading ends in one ``ValueError`` that names the file and what is
wrong, reads no more than the file's header claims are consistent with, and runs no code.
``docs/reliability.md`` ("Hostile and damaged files") lists the loaders and their fuzzing.

* :func:`safetensors_header` parses and checks a safetensors header before the safetensors
  library maps the file: the header length, the JSON, every entry's dtype, shape and
  offsets (in range, no overlap, no gap, each the size its shape needs), the metadata;
* :func:`structure` checks the ``deltaflow.structure`` skeleton that :func:`~.state.load`
  rebuilds (every tag well formed, every array it names present);
* :func:`read_json` reads a JSON file, :class:`Record` is the object read, whose missing
  entries and entries of the wrong type are reported naming the file.
"""
from __future__ import annotations

import json
import math
import struct
from pathlib import Path

#: the safetensors dtypes deltaflow reads (those NumPy has) and their item sizes
SAFETENSORS_DTYPES = {"BOOL": 1, "U8": 1, "I8": 1, "U16": 2, "I16": 2, "F16": 2, "U32": 4,
                      "I32": 4, "F32": 4, "U64": 8, "I64": 8, "F64": 8}
MAX_HEADER = 100_000_000   # the safetensors library's own limit on the header's JSON
MAX_DEPTH = 64             # nesting deeper than this in a skeleton is refused


def _bad(path, what: str) -> ValueError:
    return ValueError(f"{path}: {what}")


def _json(text, path, what: str, object_hook=None):
    """``json.loads`` with every failure (syntax, deep nesting, bad UTF-8) as a ValueError."""
    try:
        return json.loads(text, object_hook=object_hook)
    except (ValueError, RecursionError) as err:   # JSONDecodeError and UnicodeDecodeError
        raise _bad(path, f"{what} is not valid JSON ({type(err).__name__}: "
                         f"{str(err)[:200]})") from None


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


class _Damage(Exception):
    """What is wrong with a safetensors file (:func:`safetensors_header` adds the file)."""


def safetensors_header(path) -> dict:
    """The checked header of safetensors file ``path``: ``{name: (dtype, shape, (begin,
    end))}`` plus ``"__metadata__"`` (str → str, possibly empty). Reads only the header;
    a damaged file raises ``ValueError: PATH is not a valid safetensors file: WHAT``."""
    path = Path(path)
    try:
        return _header(path)
    except _Damage as err:
        raise ValueError(f"{path} is not a valid safetensors file: {err}") from None


def _header(path: Path) -> dict:
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise _Damage(f"{size} bytes, too short for the 8-byte header length")
        (n,) = struct.unpack("<Q", head)
        if n > min(size - 8, MAX_HEADER):
            raise _Damage(f"the header length says {n} bytes but the file has {size - 8} "
                          f"after it (truncated, or not safetensors)")
        raw = f.read(n)
    try:
        header = _json(raw, path, "its header")
    except ValueError as err:
        raise _Damage(str(err).removeprefix(f"{path}: ")) from None
    if not isinstance(header, dict):
        raise _Damage(f"the header is a JSON {type(header).__name__}, not an object")
    data_size = size - 8 - n
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise _Damage("its __metadata__ must map strings to strings")
    entries = {name: _entry(name, spec, data_size) for name, spec in header.items()}
    end = 0
    for (begin, stop), name in sorted((span, name) for name, (_, _, span) in entries.items()):
        if begin != end:
            raise _Damage(f"tensor {name!r} starts at byte {begin} of the data but the one "
                          f"before ends at {end} ({'overlap' if begin < end else 'gap'})")
        end = stop
    if end != data_size:
        raise _Damage(f"the tensors cover {end} bytes but the file holds {data_size} bytes of "
                      f"data (truncated, or bytes appended)")
    return {**entries, "__metadata__": meta}


def _entry(name, spec, data_size):
    if not isinstance(spec, dict) or set(spec) != {"dtype", "shape", "data_offsets"}:
        raise _Damage(f"tensor {name[:80]!r}: expected {{dtype, shape, data_offsets}}, got "
                      f"{str(spec)[:100]}")
    dtype, shape, offsets = spec["dtype"], spec["shape"], spec["data_offsets"]
    if not isinstance(dtype, str) or dtype not in SAFETENSORS_DTYPES:
        raise _Damage(f"tensor {name[:80]!r} has dtype {str(dtype)[:20]!r}, which deltaflow "
                      f"does not read (it reads {', '.join(SAFETENSORS_DTYPES)})")
    if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
        raise _Damage(f"tensor {name[:80]!r}: shape must be a list of non-negative integers, "
                      f"got {str(shape)[:100]}")
    if (not isinstance(offsets, list) or len(offsets) != 2 or not all(map(_is_int, offsets))
            or not 0 <= offsets[0] <= offsets[1] <= data_size):
        raise _Damage(f"tensor {name[:80]!r}: data_offsets {str(offsets)[:100]} are not a "
                      f"range within the {data_size} bytes of data")
    nbytes = math.prod(shape) * SAFETENSORS_DTYPES[dtype]
    if offsets[1] - offsets[0] != nbytes:
        raise _Damage(f"tensor {name[:80]!r} of shape {tuple(shape)} and dtype {dtype} needs "
                      f"{nbytes} bytes but its data_offsets span {offsets[1] - offsets[0]}")
    return dtype, tuple(shape), tuple(offsets)


def structure(text: str, arrays: dict, path):
    """The ``deltaflow.structure`` skeleton in ``text``, checked against ``arrays``."""
    skeleton = _json(text, path, "the deltaflow.structure metadata")
    _check_node(skeleton, arrays, path, 0)
    return skeleton


_TAGS = ("__tensor__", "__array__", "__scalar__")


def _check_node(node, arrays, path, depth):
    if depth > MAX_DEPTH:
        raise _bad(path, f"the deltaflow.structure metadata nests deeper than {MAX_DEPTH}")
    if node is None or isinstance(node, bool | int | float | str):
        return
    if isinstance(node, list):
        for v in node:
            _check_node(v, arrays, path, depth + 1)
        return
    if len(node) == 1:
        (tag, value), = node.items()
        if tag in _TAGS:
            if not isinstance(value, str) or value not in arrays:
                raise _bad(path, f"the deltaflow.structure metadata refers to a tensor "
                                 f"{str(value)[:80]!r} that the file does not hold")
            if tag == "__scalar__" and arrays[value].ndim != 0:
                raise _bad(path, f"the scalar {value!r} has shape {arrays[value].shape}")
            return
        if tag == "__tuple__":
            if not isinstance(value, list):
                raise _bad(path, "a __tuple__ in the deltaflow.structure metadata is no list")
            _check_node(value, arrays, path, depth + 1)
            return
        if tag == "__items__":
            if not isinstance(value, list) or not all(
                    isinstance(kv, list) and len(kv) == 2 and isinstance(kv[0], str | int)
                    and not isinstance(kv[0], bool) for kv in value):
                raise _bad(path, "an __items__ in the deltaflow.structure metadata is not a "
                                 "list of [key, value] pairs")
            for _, v in value:
                _check_node(v, arrays, path, depth + 1)
            return
    for v in node.values():
        _check_node(v, arrays, path, depth + 1)


class Record(dict):
    """A JSON object read from ``path`` (:func:`read_json`), nested objects included: a
    missing entry raises a ValueError naming the file rather than a bare ``KeyError``."""

    def __init__(self, items=(), path=None):
        super().__init__(items)
        self.path = path

    def __missing__(self, key):
        raise _bad(self.path, f"no {key!r} entry (the file is damaged or was not written by "
                              f"this version of deltaflow)")

    def require(self, *keys) -> Record:
        """``self``, after checking that it has every entry of ``keys``."""
        for key in keys:
            self[key]   # noqa: B018 - raises naming the file when missing
        return self


def read_json(path, types: dict | None = None) -> Record:
    """The JSON object in file ``path``; each entry named in ``types`` that is present must
    be an instance of its type(s) (``int`` excludes ``bool``; ``float`` accepts ints)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise _bad(path, "is a folder, not a JSON file") from None
    obj = _json(raw, path, "the file", lambda entries: Record(entries, path))
    if not isinstance(obj, dict):
        raise _bad(path, f"expected a JSON object, got a JSON {type(obj).__name__}")
    for key, kinds in (types or {}).items():
        if key in obj and not _has_type(obj[key], kinds):
            names = " or ".join(k.__name__ for k in (kinds if isinstance(kinds, tuple)
                                                      else (kinds,)))
            raise _bad(path, f"entry {key!r} should be {names}, got "
                             f"{type(obj[key]).__name__} {str(obj[key])[:60]}")
    return obj


def _has_type(value, kinds) -> bool:
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    if isinstance(value, bool):
        return bool in kinds
    if isinstance(value, int) and float in kinds:
        return True
    return isinstance(value, kinds)


__all__ = ["Record", "SAFETENSORS_DTYPES", "read_json", "safetensors_header", "structure"]
