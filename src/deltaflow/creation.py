"""Tensor creation: ``tensor zeros ones full empty arange linspace eye rand randn randint
normal randperm`` and the ``*_like`` forms."""
from __future__ import annotations

import numpy as np

from . import backend
from .random import draw, generator
from .tensor import Tensor


def _size(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        return tuple(size[0])
    return tuple(int(s) for s in size)


def _new(arr, device, requires_grad):
    arr = backend.to_device(arr, backend.normalize_device(device)) if device else arr
    t = Tensor.constant(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def tensor(data, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A new tensor holding a copy of ``data``.

    NumPy arrays keep their dtype; Python floats become float32, ints int64, bools bool.
    """
    if isinstance(data, Tensor):
        data = data.data
    t = Tensor(data, dtype=dtype, device=device)
    if t.data is data or (isinstance(data, np.ndarray) and isinstance(t.data, np.ndarray)
                          and np.shares_memory(t.data, data)):
        t.data = t.data.copy()
    if requires_grad:
        t.requires_grad_(True)
    return t


as_tensor = Tensor


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with ``array``."""
    return Tensor.constant(np.asarray(array))


def _dt(dtype, default=None):
    return backend.as_dtype(dtype) or default or backend.default_float


def zeros(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _new(np.zeros(_size(size), _dt(dtype)), device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _new(np.ones(_size(size), _dt(dtype)), device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _new(np.empty(_size(size), _dt(dtype)), device, requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    if dtype is None:
        dtype = (backend.bool_ if isinstance(fill_value, bool) else backend.int64
                 if isinstance(fill_value, int) else backend.default_float)
    return _new(np.full(_size((size,)), fill_value, _dt(dtype)), device, requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False) -> Tensor:
    if end is None:
        start, end = 0, start
    if dtype is None:
        ints = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = backend.int64 if ints else backend.default_float
    return _new(np.arange(start, end, step).astype(_dt(dtype)), device, requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _new(np.linspace(start, end, steps).astype(_dt(dtype)), device, requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _new(np.eye(n, m, dtype=_dt(dtype)), device, requires_grad)


def rand(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uniform samples on [0, 1) from the global generator."""
    return _new(draw("uniform", _size(size), dtype, "cpu"), device, requires_grad)


def randn(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Standard normal samples from the global generator."""
    return _new(draw("normal", _size(size), dtype, "cpu"), device, requires_grad)


def randint(low, high=None, size=(), dtype=None, device=None) -> Tensor:
    """Integers uniform on [low, high); ``randint(high, size)`` as in PyTorch."""
    if isinstance(high, (tuple, list)):
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    arr = generator().integers(low, high, size=_size((size,)) if size != () else ())
    return _new(np.asarray(arr, dtype=_dt(dtype, backend.int64)), device, False)


def randperm(n, dtype=None, device=None) -> Tensor:
    return _new(generator().permutation(n).astype(_dt(dtype, backend.int64)), device, False)


def normal(mean=0.0, std=1.0, size=(), dtype=None, device=None, requires_grad=False) -> Tensor:
    mean = mean.data if isinstance(mean, Tensor) else mean
    std = std.data if isinstance(std, Tensor) else std
    if size == () and hasattr(mean, "shape"):
        size = mean.shape
    z = draw("normal", _size((size,)) if size != () else (), dtype, "cpu")
    return _new((z * std + mean).astype(_dt(dtype)), device, requires_grad)


def _like(t, dtype):
    return _dt(dtype, t.dtype)


def zeros_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _new(np.zeros(t.shape, _like(t, dtype)), device or t.device, requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _new(np.ones(t.shape, _like(t, dtype)), device or t.device, requires_grad)


def empty_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _new(np.empty(t.shape, _like(t, dtype)), device or t.device, requires_grad)


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _new(np.full(t.shape, fill_value, _like(t, dtype)), device or t.device,
                requires_grad)


def rand_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _new(draw("uniform", t.shape, _like(t, dtype), "cpu"), device or t.device,
                requires_grad)


def randn_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _new(draw("normal", t.shape, _like(t, dtype), "cpu"), device or t.device,
                requires_grad)


__all__ = ["arange", "as_tensor", "empty", "empty_like", "eye", "from_numpy", "full",
           "full_like", "linspace", "normal", "ones", "ones_like", "rand", "rand_like", "randint",
           "randn", "randn_like", "randperm", "tensor", "zeros", "zeros_like"]
