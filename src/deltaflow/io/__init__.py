"""``deltaflow.io``: the one file layer. Every file deltaflow writes goes through here.

Safetensors state dicts (``dl.save``/``dl.load``, and :func:`split_arrays`/:func:`join_arrays`
which checkpoints share), atomic writes (:func:`atomic_path`, :func:`atomic_write`), JSON
(:func:`save_json`/:func:`load_json`) and appends to logs (:func:`append_text`,
:func:`append_jsonl`).
Nothing here uses pickle: loading a file never executes code.
"""
from .atomic import append_jsonl, append_text, atomic_path, atomic_write, load_json, save_json
from .state import join_arrays, load, load_metadata, save, split_arrays

__all__ = ["append_jsonl", "append_text", "atomic_path", "atomic_write", "join_arrays", "load",
           "load_json", "load_metadata", "save", "save_json", "split_arrays"]
