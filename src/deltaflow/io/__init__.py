"""``deltaflow.io``: the one file layer. Every file deltaflow writes goes through here.

Safetensors state dicts (``dl.save``/``dl.load``, and :func:`split_arrays`/:func:`join_arrays`
which checkpoints share), atomic writes (:func:`atomic_path`, :func:`atomic_write`), JSON
(:func:`save_json`/:func:`load_json`), appends to logs (:func:`append_text`,
:func:`append_jsonl`), renames (:func:`move`, :func:`remove`); a failed write raises
:class:`WriteError` (one line: the file and the cause).
Nothing here uses pickle: loading a file never executes code.
"""
from .atomic import (
    WriteError,
    append_jsonl,
    append_text,
    atomic_path,
    atomic_write,
    load_json,
    move,
    remove,
    save_json,
)
from .state import join_arrays, load, load_metadata, save, split_arrays

__all__ = ["WriteError", "append_jsonl", "append_text", "atomic_path", "atomic_write",
           "join_arrays", "load", "load_json", "load_metadata", "move", "remove", "save",
           "save_json", "split_arrays"]
