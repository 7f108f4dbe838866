"""``Tensor``: an array (NumPy or CuPy) plus what reverse-mode autodiff needs.

A Tensor holds ``data`` (the array), ``grad`` (a Tensor or ``None``), ``requires_grad``, and,
when an op produced it while recording, ``_ctx``: the :class:`~deltaflow.autograd.Function`
that made it (``_idx`` says which of that Function's outputs it is). Leaf tensors have no
``_ctx``; ``backward()`` accumulates into their ``.grad``.

The math methods and operators (``+``, ``@``, ``.sum()``, ``.reshape()`` ...) come from
:class:`~deltaflow.tensor_methods.TensorMethods`; each calls its function in
:mod:`deltaflow.functional`, which picks the op and checks the arguments.
"""
from __future__ import annotations

import numpy as np

from . import backend
from .autograd.engine import run_backward
from .autograd.grad_mode import no_grad
from .hooks import RemovableHandle
from .tensor_methods import TensorMethods


def _to_array(data, dtype, device):
    """Turn Python data or an array into an array of the requested dtype and device.

    Arrays keep their dtype; Python floats (and lists of them) become float32.
    """
    if isinstance(data, Tensor):
        data = data.data
    if hasattr(data, "dtype") and hasattr(data, "shape"):
        arr = data
    else:
        try:
            arr = np.asarray(data)
        except ValueError as err:  # ragged nested lists
            raise ValueError(f"tensor: cannot make a tensor from this data: {err}") from None
        if arr.dtype.kind not in "biufc":
            raise TypeError(f"tensor: expected numbers or bools, got data of type "
                            f"{type(data).__name__} (NumPy dtype {arr.dtype})")
        if dtype is None and arr.dtype == np.float64:
            arr = arr.astype(backend.default_float)
    if device is not None:
        arr = backend.to_device(arr, device)
    if dtype is not None and arr.dtype != dtype:
        arr = arr.astype(dtype)
    return backend.xp_of(arr).asarray(arr)


class Tensor(TensorMethods):
    # _history (set by the first recorded in-place write, see autograd/inplace.py) and
    # _post_accumulate_hooks (set by the first register_post_accumulate_grad_hook) are
    # left unset until then, so making a tensor costs nothing for them
    __slots__ = ("data", "grad", "requires_grad", "_ctx", "_idx", "_hooks", "_version",
                 "_history", "_post_accumulate_hooks", "__weakref__")
    __array_priority__ = 1000  # make ``ndarray + Tensor`` defer to Tensor.__radd__

    def __init__(self, data, dtype=None, device=None, requires_grad=False):
        arr = _to_array(data, backend.as_dtype(dtype),
                        None if device is None else backend.normalize_device(device))
        if not isinstance(arr, np.ndarray) and backend.xp_of(arr) is np:
            arr = np.asarray(arr)
        self.data = arr
        self.grad = None
        self._ctx = None
        self._idx = 0
        self._hooks = None
        self._version = 0
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _make(cls, data, requires_grad, ctx, idx):
        """The output ``idx`` of the node ``ctx`` (``Function.apply``): no conversion or
        checks."""
        t = cls.__new__(cls)
        if type(data) is not np.ndarray and backend.xp_of(data) is np:
            data = np.asarray(data)
        t.data = data
        t.grad = None
        t.requires_grad = requires_grad
        t._ctx = ctx
        t._idx = idx
        t._hooks = None
        t._version = 0
        return t

    @classmethod
    def constant(cls, data):
        """A Tensor around the array ``data`` outside the graph (no grad), without copying
        or checking it: how ops and optimizers wrap arrays they computed."""
        return cls._make(data, False, None, 0)

    # ----------------------------------------------------------------- properties
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def device(self) -> str:
        return backend.device_of(self.data)

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def grad_fn(self):
        return self._ctx

    def size(self, dim=None):
        return self.data.shape if dim is None else self.data.shape[dim]

    def dim(self) -> int:
        return self.data.ndim

    def numel(self) -> int:
        return int(self.data.size)

    def element_size(self) -> int:
        return self.data.itemsize

    def is_floating_point(self) -> bool:
        return self.data.dtype.kind == "f"

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __iter__(self):
        """The sub-tensors along dim 0 (a 0-d tensor cannot be iterated, as in PyTorch)."""
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.data.shape[0]))

    # ---------------------------------------------------------------- conversions
    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (shares memory on CPU)."""
        return backend.to_device(self.data, "cpu")

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item(): only one-element tensors can be converted to Python "
                             f"scalars; got shape {tuple(self.shape)}")
        return self.data.reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self.data.size != 1:
            raise RuntimeError(f"bool(): the truth value of a tensor with {self.data.size} "
                               "elements is ambiguous")
        return bool(self.item())

    def __index__(self):
        if self.data.dtype.kind not in "iu" or self.data.size != 1:
            raise TypeError("only integer tensors of a single element can be used as an index")
        return int(self.item())

    def __array__(self, dtype=None, copy=None):
        arr = self.numpy()
        return arr if dtype is None else arr.astype(dtype)

    def detach(self) -> Tensor:
        """A new leaf sharing the same data, cut from the graph."""
        return Tensor.constant(self.data)

    @property
    def is_cuda(self) -> bool:
        return self.device == "cuda"

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self) -> Tensor:
        return self.to("cuda")

    def float(self) -> Tensor:
        return self.to(backend.float32)

    def double(self) -> Tensor:
        return self.to(backend.float64)

    def half(self) -> Tensor:
        return self.to(backend.float16)

    def long(self) -> Tensor:
        return self.to(backend.int64)

    def int(self) -> Tensor:
        return self.to(backend.int32)

    def bool(self) -> Tensor:
        return self.to(backend.bool_)

    def type(self, dtype) -> Tensor:
        return self.to(dtype)

    # ------------------------------------------------------------------- autograd
    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and self.data.dtype.kind not in "fc":
            raise RuntimeError(f"requires_grad: only floating point tensors can require "
                               f"gradients; this tensor has dtype {self.data.dtype}")
        if not requires_grad and self._ctx is not None:
            raise RuntimeError("requires_grad_(False) on a non-leaf tensor; use detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this tensor's gradient is computed; a returned Tensor
        replaces the gradient. Returns a handle with ``remove()``."""
        if not self.requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that "
                               "does not require gradient")
        if self._ctx is None:
            if self._hooks is None:
                self._hooks = {}
            hooks = self._hooks
        else:
            ctx = self._ctx
            if ctx.out_hooks is None:
                ctx.out_hooks = {}
            hooks = ctx.out_hooks.setdefault(self._idx, {})
        handle = RemovableHandle(hooks)
        hooks[handle.id] = hook
        return handle

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(tensor)`` on this leaf each time backward has added its total gradient
        to ``.grad`` (PyTorch's name). Returns a handle with ``remove()``."""
        if self._ctx is not None:
            raise RuntimeError("register_post_accumulate_grad_hook: post accumulate grad "
                               "hooks cannot be registered on non-leaf tensors")
        if not self.requires_grad:
            raise RuntimeError("register_post_accumulate_grad_hook: cannot register a hook on "
                               "a tensor that does not require gradient")
        hooks = getattr(self, "_post_accumulate_hooks", None)
        if hooks is None:
            hooks = self._post_accumulate_hooks = {}
        handle = RemovableHandle(hooks)
        hooks[handle.id] = hook
        return handle

    def retain_grad(self) -> None:
        """Keep ``.grad`` on a non-leaf tensor after backward."""
        if self._ctx is None:
            return

        def keep(grad, self=self):
            self.grad = grad if self.grad is None else Tensor.constant(
                self.grad.data + grad.data)
        self.register_hook(keep)

    def backward(self, gradient=None, retain_graph=None, create_graph=False,
                 inputs=None) -> None:
        """Backpropagate from this tensor, accumulating into ``.grad`` of the leaves.

        ``create_graph``: record the backward pass, so that the gradients (``.grad``) are
        Tensors with a graph and can be differentiated again; ``retain_graph`` defaults to
        it. ``inputs``: accumulate only into these tensors' ``.grad`` (PyTorch's rule)."""
        if not self.requires_grad:
            raise RuntimeError("backward: this tensor does not require grad and has no "
                               "grad_fn (did you compute it under no_grad, or from tensors "
                               "without requires_grad=True?)")
        if retain_graph is None:
            retain_graph = create_graph
        grads = root_grads([self], None if gradient is None else [gradient], create_graph)
        if inputs is None:
            run_backward([self], grads, retain_graph, create_graph=create_graph)
            return
        from .autograd.gradients import gradients_of
        inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
        for t, g in zip(inputs, gradients_of([self], inputs, grads, retain_graph,
                                             create_graph)):
            if g is None:
                continue
            if create_graph:
                t.grad = g if t.grad is None else t.grad + g
            elif t.grad is None:
                t.grad = Tensor.constant(g.copy())
            else:
                t.grad.data = t.grad.data + g

    def __repr__(self) -> str:
        body = np.array2string(self.numpy(), separator=", ", precision=4,
                               prefix="tensor(")
        extra = []
        if self.dtype not in (backend.float32, backend.int64, backend.bool_):
            extra.append(f"dtype={self.dtype}")
        if self.device != "cpu":
            extra.append(f"device='{self.device}'")
        if self._ctx is not None:
            extra.append(f"grad_fn=<{type(self._ctx).__name__}Backward>")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extra) + ")"


def root_grads(outputs, grad_outputs, as_tensors=False):
    """Seed gradients for backward: ones for a scalar output, else the given gradient.
    ``as_tensors`` (create_graph): Tensors, a given gradient Tensor kept with its graph."""
    if as_tensors:
        seeds = root_grads(outputs, grad_outputs)
        return [g if isinstance(g, Tensor) and g.dtype == s.dtype else Tensor.constant(s)
                for s, g in zip(seeds, grad_outputs or [None] * len(outputs))]
    grads = []
    for k, out in enumerate(outputs):
        g = None if grad_outputs is None else grad_outputs[k]
        if g is None:
            if out.data.size != 1:
                raise RuntimeError(
                    f"backward: grad can be implicitly created only for scalar outputs; this "
                    f"output has shape {tuple(out.shape)}. Pass gradient= of that shape.")
            xp = backend.xp_of(out.data)
            grads.append(xp.ones(out.data.shape, dtype=out.data.dtype))
        else:
            g = g.data if isinstance(g, Tensor) else backend.xp_of(out.data).asarray(g)
            if g.shape != out.data.shape:
                raise RuntimeError(f"backward: gradient has shape {tuple(g.shape)} but the "
                                   f"output has shape {tuple(out.shape)}")
            grads.append(g.astype(out.data.dtype, copy=False))
    return grads


__all__ = ["Tensor", "no_grad"]
