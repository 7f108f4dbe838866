"""In-place methods: ``inplace(x, name, fn, ...)``, through which ``x.add_(y)``, ``x += y`` ...
write into ``x`` (recorded where autograd is involved, see ``autograd/inplace.py``), and
``copy_``, ``fill_``.
"""
from __future__ import annotations

import builtins

import numpy as np

from .. import backend
from ..autograd import write_clock
from ..autograd.grad_mode import state
from ..autograd.inplace import before_write as inplace_before_write
from ..autograd.inplace import write as inplace_write
from ..tensor import Tensor
from ._common import as_tensor_like
from .conversion import to_copy
from .shape import broadcast_to


def inplace(x, name, fn, *args, **kwargs):
    """``x.add_(y)``, ``x += y`` ... (the method ``name``): write ``fn(x, *args, **kwargs)``
    into ``x``. Where autograd is involved (``x`` or a tensor argument requires grad, outside
    ``no_grad``) the write is recorded, as in PyTorch (``autograd/inplace.py``); otherwise
    (parameter updates, initialisation, buffers) it is a plain write into ``x.data``."""
    involved = state.grad_enabled and (x.requires_grad or builtins.any(
        isinstance(a, Tensor) and a.requires_grad for a in (*args, *kwargs.values())))
    return inplace_write(x, name, lambda old: fn(old, *args, **kwargs), record=involved)


def copy_(x, src):
    """x ← src (broadcast to x's shape, cast to its dtype and device); differentiable in
    ``src`` where autograd is involved."""
    if not isinstance(src, Tensor):
        src = Tensor(backend.to_device(backend.xp_of(src).asarray(src), x.device))
    if x.shape != src.shape:
        try:
            np.broadcast_shapes(src.shape, x.shape)
        except ValueError:
            raise RuntimeError(f"copy_: the source of shape {tuple(src.shape)} cannot be "
                               f"broadcast to the tensor's shape {tuple(x.shape)}") from None
    return inplace(x, "copy_", lambda old: broadcast_to(
        to_copy(src, dtype=x.dtype, device=x.device), x.shape))


def fill_(x, value):
    """x ← value everywhere (a number, or a one-element tensor: differentiable in it)."""
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise RuntimeError(f"fill_: the value must be a number or a one-element tensor, "
                               f"got a tensor of shape {tuple(value.shape)}")
        return copy_(x, value.reshape(()))
    if not (state.grad_enabled and x.requires_grad):
        inplace_before_write(x)
        x.data[...] = value
        write_clock.stamp(x)
        return x
    return copy_(x, as_tensor_like(value, x))
