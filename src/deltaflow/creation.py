"""Tensor creation: ``tensor zeros ones full empty arange linspace eye rand randn randint
normal randperm bernoulli multinomial``, the ``*_like`` forms, ``Tensor.new_*`` and the
random fills ``Tensor.uniform_ normal_ bernoulli_ exponential_``."""
from __future__ import annotations

import operator

import numpy as np

from . import backend
from . import functional as F
from .random import draw
from .random import generator as _global_generator
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
    arr = _global_generator().integers(low, high, size=_size((size,)) if size != () else ())
    return _new(np.asarray(arr, dtype=_dt(dtype, backend.int64)), device, False)


def randperm(n, *, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A random permutation of 0 … n−1 (int64 unless ``dtype`` says otherwise)."""
    n = operator.index(n)
    if n < 0:
        raise RuntimeError(f"randperm: n must be non-negative, got {n}")
    rng = generator if generator is not None else _global_generator()
    return _new(rng.permutation(n).astype(_dt(dtype, backend.int64)), device, requires_grad)


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


# ------------------------------------------------- Tensor.new_*: the tensor's dtype and device
def new_tensor(t, data, dtype=None, device=None, requires_grad=False) -> Tensor:
    """``t.new_tensor(data)``: a copy of ``data`` in ``t``'s dtype, on its device."""
    return tensor(data, _like(t, dtype), device or t.device, requires_grad)


def new_zeros(t, *size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return zeros(*size, dtype=_like(t, dtype), device=device or t.device,
                 requires_grad=requires_grad)


def new_ones(t, *size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return ones(*size, dtype=_like(t, dtype), device=device or t.device,
                requires_grad=requires_grad)


def new_empty(t, *size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return empty(*size, dtype=_like(t, dtype), device=device or t.device,
                 requires_grad=requires_grad)


def new_full(t, size, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    """``t.new_full(size, v)``: ``v`` everywhere, in ``t``'s dtype (not ``v``'s)."""
    if not isinstance(size, (tuple, list)):
        raise TypeError(f"new_full: size must be a tuple of ints, got {type(size).__name__}")
    return full(size, fill_value, dtype=_like(t, dtype), device=device or t.device,
                requires_grad=requires_grad)


# ------------------------------------------------------------------------- discrete draws
def _check_probabilities(p, op):
    """``p`` (a number or an array) must lie in [0, 1] (NaN does not)."""
    if np.ndim(p) == 0:
        if not 0 <= p <= 1:
            raise RuntimeError(f"{op}: expects p to be in [0, 1], got p={p}")
    elif not ((p >= 0) & (p <= 1)).all():
        raise RuntimeError(f"{op}: expects every probability to be in [0, 1], got values "
                           f"from {float(p.min()):g} to {float(p.max()):g}")


def _host(x):
    """A number as it is; a Tensor or array as a host NumPy array."""
    if isinstance(x, Tensor):
        x = x.data
    return backend.to_device(x, "cpu") if hasattr(x, "shape") else x


def _bernoulli_array(shape, p, generator, op):
    """0/1 as float64: 1 where U[0, 1) < p (a number, or an array broadcast to ``shape``)."""
    p = _host(p)
    _check_probabilities(p, op)
    return (draw("uniform", shape, np.float64, "cpu", generator) < p).astype(np.float64)


def bernoulli(input, p=None, *, generator=None) -> Tensor:
    """1 with probability ``input`` (elementwise; or the number ``p`` everywhere, when given),
    else 0, in ``input``'s dtype and on its device. Not differentiable (PyTorch's gradient is
    zero)."""
    if p is None and input.dtype.kind != "f":
        raise TypeError(f"bernoulli: expected a floating point input (the probabilities), got "
                        f"{input.dtype}")
    draws = _bernoulli_array(input.shape, input if p is None else p, generator, "bernoulli")
    return _new(draws.astype(input.dtype), input.device, False)


def multinomial(input, num_samples, replacement=False, *, generator=None) -> Tensor:
    """For each row of non-negative weights ``input`` (1-D or 2-D, need not sum to 1),
    ``num_samples`` category indices (int64).

    Without replacement (and for one sample), PyTorch's algorithm: the ``num_samples``
    largest pᵢ/Eᵢ with Eᵢ ~ Exp(1), in decreasing order — successive draws, each
    proportional to the weights not drawn yet (zero weights come last). With replacement:
    the inverse CDF at U[0, 1) draws."""
    if input.ndim not in (1, 2):
        raise RuntimeError(f"multinomial: prob_dist must be 1 or 2 dim, got {input.ndim} dims "
                           f"(shape {tuple(input.shape)})")
    if input.dtype.kind != "f":
        raise RuntimeError(f"multinomial: only floating point input is supported, got "
                           f"{input.dtype}")
    n_categories = input.shape[-1]
    num_samples = operator.index(num_samples)
    if num_samples <= 0:
        raise RuntimeError(f"multinomial: cannot sample n_sample <= 0 samples (got "
                           f"{num_samples})")
    if not replacement and num_samples > n_categories:
        raise RuntimeError(f"multinomial: cannot sample n_sample > prob_dist.size(-1) samples "
                           f"without replacement ({num_samples} > {n_categories})")
    rows = _host(input).reshape(-1, n_categories).astype(np.float64)
    if not (np.isfinite(rows).all() and (rows >= 0).all()):
        raise RuntimeError("multinomial: probability tensor contains either `inf`, `nan` or "
                           "element < 0")
    if (rows.sum(axis=1) <= 0).any():
        raise RuntimeError("multinomial: invalid multinomial distribution (sum of "
                           "probabilities <= 0)")
    if replacement and num_samples > 1:
        index = _inverse_cdf(rows, draw("uniform", (len(rows), num_samples), np.float64, "cpu",
                                        generator))
    else:
        keys = rows / draw("exponential", rows.shape, np.float64, "cpu", generator)
        index = np.argsort(-keys, axis=1, kind="stable")[:, :num_samples]
    index = index.reshape(input.shape[:-1] + (num_samples,)).astype(np.int64)
    return _new(index, input.device, False)


def _inverse_cdf(rows, u):
    """For each row of weights, the category whose CDF interval [Fᵢ₋₁, Fᵢ) holds each
    U[0, 1) draw in ``u`` (zero weights have empty intervals). Rows are searched at once:
    row r's CDF and draws are shifted by r."""
    cdf = np.cumsum(rows, axis=1)
    cdf /= cdf[:, -1:]
    shift = np.arange(len(rows))[:, None]
    flat = np.searchsorted((cdf + shift).ravel(), (u + shift).ravel(), side="right")
    index = flat.reshape(u.shape) - shift * rows.shape[1]
    last_positive = rows.shape[1] - 1 - np.argmax(rows[:, ::-1] > 0, axis=1)
    return np.minimum(index, last_positive[:, None])         # a draw rounded up to 1


# ------------------------------------------------------------- random fills: t.uniform_() ...
def _fill(t, name, values):
    """``t`` ← ``values`` (a host array of ``t``'s shape), in place (``functional.inplace``)."""
    return F.inplace(t, name, lambda old: _new(values.astype(t.dtype, copy=False), t.device,
                                               False))


def uniform_(t, a=0.0, b=1.0, *, generator=None) -> Tensor:
    """``t.uniform_(a, b)``: t ← samples of U[a, b)."""
    if a > b:
        raise RuntimeError(f"uniform_: expects a <= b (the range [a, b)), got a={a} > b={b}")
    u = draw("uniform", t.shape, t.dtype, "cpu", generator, op="uniform_")
    return _fill(t, "uniform_", u * (b - a) + a)


def normal_(t, mean=0.0, std=1.0, *, generator=None) -> Tensor:
    """``t.normal_(mean, std)``: t ← samples of N(mean, std²)."""
    if std < 0:
        raise RuntimeError(f"normal_: expects std >= 0.0, got std={std}")
    z = draw("normal", t.shape, t.dtype, "cpu", generator, op="normal_")
    return _fill(t, "normal_", z * std + mean)


def exponential_(t, lambd=1.0, *, generator=None) -> Tensor:
    """``t.exponential_(λ)``: t ← samples of Exp(λ) (density λe^{−λx}, mean 1/λ)."""
    if not lambd > 0:
        raise RuntimeError(f"exponential_: expects lambda > 0.0, got lambda={lambd}")
    e = draw("exponential", t.shape, t.dtype, "cpu", generator, op="exponential_")
    return _fill(t, "exponential_", e / lambd)


def bernoulli_(t, p=0.5, *, generator=None) -> Tensor:
    """``t.bernoulli_(p)``: t ← 1 with probability ``p`` (a number, or a tensor broadcast to
    ``t``'s shape), else 0; any dtype."""
    if isinstance(p, Tensor):
        try:
            np.broadcast_shapes(p.shape, t.shape)
        except ValueError:
            raise RuntimeError(f"bernoulli_: p of shape {tuple(p.shape)} cannot be broadcast "
                               f"to the tensor's shape {tuple(t.shape)}") from None
    return _fill(t, "bernoulli_", _bernoulli_array(t.shape, p, generator, "bernoulli_"))


__all__ = ["arange", "as_tensor", "bernoulli", "empty", "empty_like", "eye", "from_numpy",
           "full", "full_like", "linspace", "multinomial", "normal", "ones", "ones_like", "rand",
           "rand_like", "randint", "randn", "randn_like", "randperm", "tensor", "zeros",
           "zeros_like"]
