"""One random generator for the whole library, seeded by :func:`manual_seed`.

Everything random in deltaflow (``randn``, initialisers, dropout masks, shuffling unless a
loader has its own generator) draws from :func:`generator`, so the same seed gives
bit-identical results on the same machine.
"""
from __future__ import annotations

import numpy as np

from . import backend

DEFAULT_SEED = 67280421310721  # PyTorch's default seed
_state = {"rng": np.random.default_rng(DEFAULT_SEED), "seed": DEFAULT_SEED, "cuda": None}


def manual_seed(seed: int):
    """Reseed the global generator (and CuPy's, when present)."""
    seed = int(seed)
    _state["rng"] = np.random.default_rng(seed)
    _state["seed"] = seed
    _state["cuda"] = None
    return _state["rng"]


seed = manual_seed


def initial_seed() -> int:
    return _state["seed"]


def generator(device: str = "cpu"):
    """The global generator (a ``numpy.random.Generator``; CuPy's on ``"cuda"``)."""
    if device == "cuda":
        if _state["cuda"] is None:
            import cupy  # type: ignore
            _state["cuda"] = cupy.random.default_rng(_state["seed"])
        return _state["cuda"]
    return _state["rng"]


def get_rng_state() -> dict:
    """A JSON-serialisable snapshot of the CPU generator's state."""
    return _state["rng"].bit_generator.state


def set_rng_state(state: dict) -> None:
    rng = np.random.default_rng()
    rng.bit_generator.state = state
    _state["rng"] = rng


def fork_rng():
    """A child generator derived from the global one (for loaders, workers)."""
    return np.random.default_rng(_state["rng"].integers(0, 2**63 - 1))


_SAMPLERS = {"uniform": "random", "normal": "standard_normal",
             "exponential": "standard_exponential"}


def draw(kind, size, dtype, device, rng=None, op=None):
    """An array of ``size`` samples of U[0, 1) (``kind="uniform"``), N(0, 1) (``"normal"``)
    or Exp(1) (``"exponential"``) in the floating ``dtype`` (default float), from ``rng``
    (a ``numpy.random.Generator``; default: the global one on ``device``); ``op`` names the
    caller in errors."""
    rng = generator(device) if rng is None else rng
    dtype = backend.as_dtype(dtype) or backend.default_float
    if dtype.kind != "f":
        op = op or ("randn" if kind == "normal" else "rand")
        raise TypeError(f"{op}: expected a floating point dtype, got {dtype}")
    native = dtype if dtype in (np.float32, np.float64) else np.float64
    return getattr(rng, _SAMPLERS[kind])(size, dtype=native).astype(dtype, copy=False)
