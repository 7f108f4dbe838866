"""``deltaflow.io``: safetensors state dicts (``dl.save``/``dl.load``) and atomic JSON.

Nothing here uses pickle: loading a file never executes code.
"""
from .atomic import atomic_path, atomic_write, load_json, save_json
from .state import load, load_metadata, save

__all__ = ["atomic_path", "atomic_write", "load", "load_json", "load_metadata", "save",
           "save_json"]
