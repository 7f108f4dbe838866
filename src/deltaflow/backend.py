"""Backend: which array library holds the numbers (NumPy on CPU, CuPy on CUDA), devices and dtypes.

Everything above this layer gets its array module from :func:`xp_of` and never imports
CuPy itself, so the same op code runs on either device.
"""
from __future__ import annotations

import numpy as np

try:  # optional GPU backend
    import cupy as _cupy  # type: ignore
except Exception:  # pragma: no cover - cupy absent on CPU machines
    _cupy = None

float16 = np.dtype("float16")
float32 = np.dtype("float32")
float64 = np.dtype("float64")
int32 = np.dtype("int32")
int64 = np.dtype("int64")
uint8 = np.dtype("uint8")
bool_ = np.dtype("bool")
half, float, double, long, int = float16, float32, float64, int64, int32  # noqa: A001 (torch aliases)

default_float = float32
_DTYPE_NAMES = {
    "float16": float16, "half": float16, "float32": float32, "float": float32,
    "float64": float64, "double": float64, "int32": int32, "int": int32,
    "int64": int64, "long": int64, "uint8": uint8, "bool": bool_,
}


def as_dtype(dtype) -> np.dtype | None:
    """Normalise ``dl.float64``, ``"float64"``, ``np.float64`` or ``None`` to a NumPy dtype."""
    if dtype is None:
        return None
    if isinstance(dtype, str):
        try:
            return _DTYPE_NAMES[dtype.replace("torch.", "")]
        except KeyError:
            raise TypeError(f"unknown dtype {dtype!r}; expected one of "
                            f"{sorted(_DTYPE_NAMES)}") from None
    return np.dtype(dtype)


def is_floating(dtype) -> bool:
    return np.dtype(dtype).kind == "f"


def cuda_available() -> bool:
    """True when CuPy is installed and sees at least one GPU."""
    if _cupy is None:
        return False
    try:
        return _cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def xp_of(array):
    """The array module (``numpy`` or ``cupy``) that owns ``array``; for a Tensor (an op's
    backward running under ``create_graph``) the namespace of NumPy-named differentiable
    functions that Tensor declares (``functional/array_namespace.py``)."""
    if type(array) is np.ndarray:
        return np
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return _cupy
    return getattr(array, "array_namespace", np)


def device_of(array) -> str:
    """``"cpu"`` for NumPy arrays, ``"cuda"`` for CuPy arrays."""
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return "cuda"
    return "cpu"


def normalize_device(device) -> str:
    """Accept ``None``, ``"cpu"``, ``"cuda"``, ``"cuda:0"``; return ``"cpu"`` or ``"cuda"``."""
    if device is None:
        return "cpu"
    name = str(device).split(":")[0]
    if name not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {device!r}; expected 'cpu' or 'cuda'")
    if name == "cuda" and not cuda_available():
        raise RuntimeError("device 'cuda' requested but CuPy with a GPU is not available "
                           "(install deltaflow[gpu] on a machine with an NVIDIA GPU)")
    return name


def to_arguments(args, dtype=None, device=None) -> tuple:
    """``(dtype, device)`` named by ``.to(*args, dtype=..., device=...)`` as Tensors and
    Modules take them: a tensor (its dtype and device), a device string (``"cpu"``,
    ``"cuda:0"``) or a dtype; normalised (None for what is not named)."""
    for a in args:
        if isinstance(a, str) and a.split(":")[0] in ("cpu", "cuda"):
            device = a
        elif hasattr(a, "dtype") and hasattr(a, "device"):
            dtype, device = a.dtype, a.device
        else:
            dtype = a
    return as_dtype(dtype), None if device is None else normalize_device(device)


def xp_for(device: str):
    """The array module for a device name."""
    return _cupy if device == "cuda" else np


def to_device(array, device: str):
    """Move ``array`` to ``device`` (no copy when it is already there)."""
    if device_of(array) == device:
        return array
    if device == "cuda":
        return _cupy.asarray(array)
    return _cupy.asnumpy(array)


# ------------------------------------------------------------------------- allocator
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters

#: True once :func:`tune_allocator` has set malloc's thresholds in this process
allocator_tuned = False


def tune_allocator(trim_threshold: int = 256 << 20, mmap_threshold: int = 32 << 20) -> bool:
    """Let glibc keep freed array memory for reuse instead of handing it back to the OS.

    By default glibc returns the top of the heap to the OS once 2 × its (adaptive) mmap
    threshold is free, and serves some large arrays by mmap; a training step that frees and
    re-allocates the same few-MB arrays then takes thousands of page faults (zeroed fresh
    pages) per step: 10-20% of a CNN or LSTM step. Raising both thresholds keeps that memory
    in the process (peak RSS is unchanged: it was in use anyway, but RSS no longer shrinks
    after large frees). This changes malloc for the whole process, so deltaflow does it only
    where it owns the process -- the ``deltaflow`` command and ``Trainer.fit`` -- never at
    import; call it yourself at the start of your own training script. Does nothing off
    glibc, when ``DELTAFLOW_TUNE_MALLOC=0``, or when the user set glibc's own ``MALLOC_*_``
    variables. Returns whether the thresholds were set (also kept in ``allocator_tuned``).
    """
    global allocator_tuned
    import os
    import platform
    if os.environ.get("DELTAFLOW_TUNE_MALLOC", "1") == "0" or any(
            k in os.environ for k in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")):
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    import ctypes
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    if mallopt(M_MMAP_THRESHOLD, mmap_threshold) and mallopt(M_TRIM_THRESHOLD, trim_threshold):
        allocator_tuned = True
    return allocator_tuned
