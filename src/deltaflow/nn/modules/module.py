"""``Module``: the base class of every layer, mirroring ``torch.nn.Module``.

A Module registers what is assigned to it: a :class:`Parameter` goes into ``_parameters``,
a Module into ``_modules``, a Tensor assigned to a name made by :meth:`register_buffer`
into ``_buffers``. Everything else (``parameters()``, ``state_dict()``, ``to()``,
``train()``, the ``repr``) walks these three dicts, so keys and order are PyTorch's.

While a module's ``forward`` runs, :func:`current_module_path` names it by its place in
the model ("model.3.attn"): ``__call__`` keeps a small stack of (module, path) pairs that
diagnostics (anomaly detection, gradient-flow reports) read to say *where* an op ran.
A layer with parameters of its own checks its first input there too (PyTorch's rule): a
NumPy array or list is a TypeError, a floating dtype other than its parameters' a
RuntimeError, each naming the layer, its path and the fix.
"""
from __future__ import annotations

import threading
from collections import OrderedDict, namedtuple

import numpy as np

from ... import backend
from ...autograd.function import Function
from ...hooks import RemovableHandle
from ...tensor import Tensor
from ..parameter import Parameter

__all__ = ["Module", "current_module_path"]

class _CallStack(threading.local):
    """Per thread: (module, dotted path) of every module whose ``__call__`` is running,
    innermost last."""

    def __init__(self):
        self.items = []


_calls = _CallStack()


def current_module_path() -> str:
    """Dotted path of the innermost module whose forward is running ("" outside any)."""
    stack = _calls.items
    return stack[-1][1] if stack else ""


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


def addindent(text: str, spaces: int) -> str:
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    return lines[0] + "\n" + "\n".join(" " * spaces + line for line in lines[1:])


def _as_array(value, key):
    """A state-dict value (deltaflow Tensor, NumPy array, torch tensor, number) as an array."""
    if isinstance(value, Tensor):
        return value.data
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        return value.detach().cpu().numpy()
    try:
        return np.asarray(value)
    except Exception as err:  # pragma: no cover - exotic inputs
        raise TypeError(f"load_state_dict: value for '{key}' is a {type(value).__name__}, "
                        "expected a Tensor or a NumPy array") from err


class _BackwardHook(Function):
    """Identity on several tensors, y_k = x_k;  ∂L/∂x_k = ∂L/∂y_k (after the module's hooks).

    ``register_full_backward_hook`` wraps a module's tensor outputs (``role="out"``: records
    ∂L/∂outputs) and inputs (``role="in"``: calls the hooks with ∂L/∂inputs, ∂L/∂outputs; a
    hook may return replacement input gradients)."""

    name = "backward_hook"

    def forward(self, *arrays, state=None, role="in"):
        self.state, self.role = state, role
        return tuple(arrays)

    def backward(self, *grads):
        st = self.state
        if self.role == "out":
            st["grad_output"] = tuple(Tensor.constant(g) for g in grads)
            if not st["n_in"]:  # no input needs grad: the hooks run now, with grad_input None
                st["module"]._run_backward_hooks((None,) * st["n_args"], st["grad_output"])
            return grads
        grad_input = tuple(Tensor.constant(g) for g in grads)
        new = st["module"]._run_backward_hooks(grad_input, st.get("grad_output", ()))
        return tuple(g.data if isinstance(g, Tensor) else g for g in new)

    def backward_graph(self, *grads):
        """Under create_graph the hooks see the gradient Tensors themselves."""
        st = self.state
        if self.role == "out":
            st["grad_output"] = grads
            if not st["n_in"]:
                st["module"]._run_backward_hooks((None,) * st["n_args"], grads)
            return grads
        return tuple(st["module"]._run_backward_hooks(grads, st.get("grad_output", ())))


class Module:
    """Base class for all layers; subclasses set attributes in ``__init__`` and define
    ``forward``. Calling the module runs hooks around ``forward``."""

    training: bool
    _path_root = "model"  # what a module called outside any other module is named
    _checks_input = True  # False: a layer whose first input is not data (Embedding's indices)

    def __init__(self):
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = OrderedDict()
        d["_buffers"] = OrderedDict()
        d["_non_persistent_buffers_set"] = set()
        d["_modules"] = OrderedDict()
        d["_forward_pre_hooks"] = OrderedDict()
        d["_forward_hooks"] = OrderedDict()
        d["_backward_hooks"] = OrderedDict()
        d["_path_cache"] = {}

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required '
                                  '"forward" function')

    # ------------------------------------------------------------------ calling
    def __call__(self, *args, **kwargs):
        stack = _calls.items
        if stack:
            parent, parent_path = stack[-1]
            path = self._path_cache.get(id(parent))
            if path is None or path[0] != parent_path:
                path = (parent_path, parent_path + "." + self._name_in(parent))
                self._path_cache[id(parent)] = path
            stack.append((self, path[1]))
        else:
            stack.append((self, self._path_root))
        try:
            if self._forward_pre_hooks or self._forward_hooks or self._backward_hooks:
                return self._call_with_hooks(args, kwargs)
            if self._parameters and args:
                self._check_first_input(args[0])
            return self.forward(*args, **kwargs)
        finally:
            stack.pop()

    def _check_first_input(self, x):
        """PyTorch's rule for a layer with parameters of its own: the (first) input is a
        Tensor, and a floating input has the dtype of the layer's first parameter when that
        is floating (float64 into a float32 Linear raises instead of computing in float64)."""
        if isinstance(x, Tensor):
            for p in self._parameters.values():
                if p is not None:
                    if p.data.dtype is not x.data.dtype:  # the same dtype is one object
                        self._check_dtypes(x.data.dtype, p.data.dtype)
                    return
        elif isinstance(x, (np.ndarray, list)) and self._checks_input:
            if isinstance(x, np.ndarray):
                got, fix = "numpy.ndarray", "dl.from_numpy(x) or dl.tensor(x)"
            else:
                got, fix = "list", "dl.tensor(x)"
            raise TypeError(f"{self._where()}: input must be a Tensor, got a {got}; "
                            f"convert it with {fix}")

    def _check_dtypes(self, dtype, p_dtype):
        if dtype == p_dtype or not dtype.kind == p_dtype.kind == "f" or not self._checks_input:
            return

        def cast(what, to):
            method = {"float16": "half", "float32": "float", "float64": "double"}.get(to.name)
            return f"{what}.{method}()" if method else f"{what}.to(dl.{to.name})"
        raise RuntimeError(f"{self._where()}: input dtype {dtype} does not match the layer's "
                           f"parameter dtype {p_dtype}; convert the model "
                           f"({cast('model', dtype)}) or the input ({cast('x', p_dtype)})")

    def _where(self) -> str:
        """The layer's class and, inside a model, its dotted path: "Linear (model.0)"."""
        path = current_module_path()
        name = type(self).__name__
        return name if path in ("", self._path_root) else f"{name} ({path})"

    def _name_in(self, parent) -> str:
        for name, m in parent._modules.items():
            if m is self:
                return name
        for name, m in parent.named_modules():
            if m is self and name:
                return name
        return type(self).__name__

    def _call_with_hooks(self, args, kwargs):
        for hook in list(self._forward_pre_hooks.values()):
            out = hook(self, args)
            if out is not None:
                args = out if isinstance(out, tuple) else (out,)
        if self._parameters and args:
            self._check_first_input(args[0])
        state = None
        if self._backward_hooks:
            state = {"module": self, "n_args": len(args)}
            pos = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
            state["n_in"] = len(pos)
            state["positions"] = pos
            if pos:
                wrapped = _BackwardHook.apply(*[args[i] for i in pos], state=state, role="in")
                args = list(args)
                for i, t in zip(pos, wrapped):
                    args[i] = t
                args = tuple(args)
        result = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            out = hook(self, args, result)
            if out is not None:
                result = out
        if state is not None:
            result = self._wrap_outputs(result, state)
        return result

    def _wrap_outputs(self, result, state):
        single = isinstance(result, Tensor)
        outs = (result,) if single else result
        if not isinstance(outs, tuple):
            return result
        pos = [i for i, o in enumerate(outs) if isinstance(o, Tensor) and o.requires_grad]
        if not pos:
            return result
        wrapped = _BackwardHook.apply(*[outs[i] for i in pos], state=state, role="out")
        outs = list(outs)
        for i, t in zip(pos, wrapped):
            outs[i] = t
        return outs[0] if single else tuple(outs)

    def _run_backward_hooks(self, grad_input, grad_output):
        """Call each full backward hook ``hook(module, grad_input, grad_output)``; a hook may
        return new input gradients."""
        for hook in list(self._backward_hooks.values()):
            out = hook(self, grad_input, grad_output)
            if out is not None:
                out = tuple(out) if isinstance(out, (tuple, list)) else (out,)
                if len(out) != len(grad_input):
                    raise RuntimeError(f"backward hook of {type(self).__name__} returned "
                                       f"{len(out)} gradients, expected {len(grad_input)}")
                grad_input = out
        return grad_input

    def register_forward_pre_hook(self, hook):
        """``hook(module, args)`` before ``forward``; a returned value replaces ``args``."""
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        return handle

    def register_forward_hook(self, hook):
        """``hook(module, args, output)`` after ``forward``; a returned value replaces the
        output."""
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    def register_full_backward_hook(self, hook):
        """``hook(module, grad_input, grad_output)`` when the gradients with respect to the
        module's tensor inputs are computed (``grad_input`` holds one entry per input that
        requires grad; all ``None`` when none does). A returned tuple replaces
        ``grad_input``."""
        handle = RemovableHandle(self._backward_hooks)
        self._backward_hooks[handle.id] = hook
        return handle

    # ------------------------------------------------------------- registration
    def __setattr__(self, name, value):
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._remove_from(name)
            params[name] = value
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter "
                                f"'{name}' (nn.Parameter or None expected)")
            params[name] = None
        elif isinstance(value, Module):
            if "_modules" not in d:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._remove_from(name)
            d["_modules"][name] = value
        elif "_modules" in d and name in d["_modules"]:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module "
                                f"'{name}' (nn.Module or None expected)")
            d["_modules"][name] = None
        elif "_buffers" in d and name in d["_buffers"]:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                                "(Tensor or None expected)")
            d["_buffers"][name] = value
        else:
            object.__setattr__(self, name, value)

    def _remove_from(self, name):
        d = self.__dict__
        d.pop(name, None)
        for key in ("_parameters", "_buffers", "_modules"):
            if name in d[key]:
                del d[key][name]
        d["_non_persistent_buffers_set"].discard(name)

    def __getattr__(self, name):
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            store = d.get(key)
            if store is not None and name in store:
                return store[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            if name in d[key]:
                del d[key][name]
                d["_non_persistent_buffers_set"].discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers)
                      | set(self._modules))

    def _check_name(self, name, what):
        if not isinstance(name, str):
            raise TypeError(f"{what} name should be a string, got {type(name).__name__}")
        if "." in name or name == "":
            raise KeyError(f"{what} name can't contain \".\" or be empty, got {name!r}")
        if name in self.__dict__ and not any(name in self.__dict__[k] for k in
                                             ("_parameters", "_buffers", "_modules")):
            raise KeyError(f"attribute '{name}' already exists")

    def register_parameter(self, name: str, param) -> None:
        """Add a parameter (or ``None``) under ``name``."""
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        self._check_name(name, "parameter")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter "
                            f"'{name}' (nn.Parameter or None required)")
        self._remove_from(name)
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor, persistent: bool = True) -> None:
        """Add a buffer: state that is saved (unless ``persistent=False``) and moved with
        the module but not trained (BatchNorm's running statistics)."""
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        self._check_name(name, "buffer")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer "
                            f"'{name}' (Tensor or None required)")
        self._remove_from(name)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module) -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._check_name(name, "module")
        self._remove_from(name)
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target: str) -> Module:
        """The submodule at dotted path ``target`` ("" is this module)."""
        mod = self
        for item in target.split(".") if target else []:
            if item not in mod._modules or mod._modules[item] is None:
                raise AttributeError(f"{type(mod).__name__} has no submodule '{item}' "
                                     f"(looking up '{target}')")
            mod = mod._modules[item]
        return mod

    def get_parameter(self, target: str) -> Parameter:
        mod_path, _, name = target.rpartition(".")
        mod = self.get_submodule(mod_path)
        if name not in mod._parameters:
            raise AttributeError(f"{type(mod).__name__} has no parameter '{name}'")
        return mod._parameters[name]

    # --------------------------------------------------------------- iteration
    def named_modules(self, memo=None, prefix: str = "", remove_duplicate: bool = True):
        if memo is None:
            memo = set()
        if remove_duplicate:
            if self in memo:
                return
            memo.add(self)
        yield prefix, self
        for name, m in self._modules.items():
            if m is None:
                continue
            yield from m.named_modules(memo, prefix + ("." if prefix else "") + name,
                                       remove_duplicate)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        seen = set()
        for name, m in self._modules.items():
            if m is not None and m not in seen:
                seen.add(m)
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named_members(self, store, prefix, recurse, remove_duplicate=True):
        seen = set()
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) \
            if recurse else [(prefix, self)]
        for mod_prefix, mod in mods:
            for name, v in mod.__dict__[store].items():
                if v is None or (remove_duplicate and id(v) in seen):
                    continue
                seen.add(id(v))
                yield mod_prefix + ("." if mod_prefix else "") + name, v

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True):
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True):
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    # --------------------------------------------------------------- state dict
    def state_dict(self, destination=None, prefix: str = "", keep_vars: bool = False):
        """An ordered ``name → Tensor`` dict of parameters and persistent buffers, with
        PyTorch's keys ("0.weight", "bn.running_mean" ...). Values share memory with the
        module (detached unless ``keep_vars``)."""
        if destination is None:
            destination = OrderedDict()
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = b if keep_vars else b.detach()
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(destination, prefix + name + ".", keep_vars)
        return destination

    def _load_own(self, state_dict, prefix, missing, errors):
        """Copy this module's own parameters and persistent buffers from ``state_dict``."""
        own = [(n, p) for n, p in self._parameters.items() if p is not None]
        own += [(n, b) for n, b in self._buffers.items()
                if b is not None and n not in self._non_persistent_buffers_set]
        for name, t in own:
            key = prefix + name
            if key not in state_dict:
                missing.append(key)
                continue
            value = _as_array(state_dict[key], key)
            if tuple(value.shape) != tuple(t.shape):
                errors.append(f"size mismatch for {key}: copying a param with shape "
                              f"{tuple(value.shape)} from checkpoint, the shape in current "
                              f"model is {tuple(t.shape)}.")
                continue
            value = backend.to_device(value, t.device)
            t.data[...] = backend.xp_of(t.data).asarray(value).astype(t.dtype, copy=False)

    def load_state_dict(self, state_dict, strict: bool = True):
        """Copy parameters and buffers from ``state_dict`` (values: Tensors, NumPy arrays or
        torch tensors) into this module in place, keeping each one's dtype and device.

        Returns ``(missing_keys, unexpected_keys)``. A shape mismatch always raises; with
        ``strict=True`` missing or unexpected keys raise too, all listed in one message.
        """
        missing, errors = [], []
        expected = set()
        for prefix_name, mod in self.named_modules():
            prefix = prefix_name + "." if prefix_name else ""
            mod._load_own(state_dict, prefix, missing, errors)
            expected.update(prefix + n for n, p in mod._parameters.items() if p is not None)
            expected.update(prefix + n for n, b in mod._buffers.items()
                            if b is not None and n not in mod._non_persistent_buffers_set)
        unexpected = [k for k in state_dict if k not in expected]
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in unexpected) + ".")
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in missing) + ".")
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + "\n\t".join(errors))
        return _IncompatibleKeys(missing, unexpected)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_path_cache"] = {}  # keyed by id() of parents: meaningless in a copy
        return state

    # ------------------------------------------------------------ modes, devices
    def train(self, mode: bool = True):
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        for m in self.modules():
            m.__dict__["training"] = mode
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear parameter gradients: ``None`` (default) or new zero arrays."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad = Tensor.constant(backend.xp_of(p.grad.data).zeros_like(p.grad.data))

    def apply(self, fn):
        """Call ``fn(m)`` on every submodule (children first) and then on this module."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def _apply(self, convert):
        """Rebind every parameter's, gradient's and buffer's array to ``convert(array)``;
        Parameter objects stay the same (optimizers keep working)."""
        for m in self.modules():
            for p in m._parameters.values():
                if p is None:
                    continue
                p.data = convert(p.data)
                if p.grad is not None:
                    p.grad.data = convert(p.grad.data)
            for b in m._buffers.values():
                if b is not None:
                    b.data = convert(b.data)
        return self

    def to(self, *args, device=None, dtype=None, non_blocking=False):
        """``to("cuda")``, ``to(dl.float64)``, ``to(device=..., dtype=...)``: move parameters
        and buffers; ``dtype`` applies to floating point ones only (as in PyTorch)."""
        dtype, device = backend.to_arguments(args, dtype, device)
        if dtype is not None and dtype.kind != "f":
            raise TypeError(f"Module.to only accepts floating point dtypes, got {dtype}")

        def convert(arr):
            if device is not None:
                arr = backend.to_device(arr, device)
            if dtype is not None and arr.dtype.kind == "f" and arr.dtype != dtype:
                arr = arr.astype(dtype)
            return arr
        return self._apply(convert)

    def float(self):
        return self.to(dtype=backend.float32)

    def double(self):
        return self.to(dtype=backend.float64)

    def half(self):
        return self.to(dtype=backend.float16)

    def cuda(self, device=None):
        return self.to(device="cuda")

    def cpu(self):
        return self.to(device="cpu")

    # --------------------------------------------------------------------- repr
    def extra_repr(self) -> str:
        """One-line description of this module's settings, shown in ``repr``."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        for name, m in self._modules.items():
            lines.append(f"({name}): " + addindent(repr(m), 2))
        main = self._get_name() + "("
        if lines:
            if len(lines) == 1 and not self._modules:
                main += lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"
