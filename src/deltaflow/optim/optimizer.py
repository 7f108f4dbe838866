"""``Optimizer``: parameter groups, per-parameter state and PyTorch's ``state_dict`` layout.

Subclasses implement :meth:`Optimizer.step`. Updates work on the raw arrays in place
(``p.data``), never write into ``p.grad.data`` (gradient arrays may be shared, see
``docs/architecture.md``) and keep the parameter's dtype: hyperparameters are Python
floats, which never upcast a float32 array.
"""
from __future__ import annotations

from typing import Any

from .. import backend
from ..autograd import enable_grad, write_clock
from ..tensor import Tensor


class Optimizer:
    """Base class: holds ``param_groups`` (list of dicts) and ``state`` (param → dict).

    ``params`` is an iterable of Tensors or of dicts ``{"params": [...], "lr": ..., ...}``;
    options missing from a group come from ``defaults``.
    """

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.state: dict[Tensor, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        self._scratch: dict = {}  # (array type, dtype) -> flat buffer, see _scaled
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: params must be an iterable of Tensors or "
                            f"dicts, got a single Tensor (wrap it in a list)")
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {group[k]}" for k in sorted(group) if k != "params"]
        return "\n".join(lines) + "\n)"

    # ------------------------------------------------------------------ groups
    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters with its own options (e.g. a new layer to fine-tune)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"{type(self).__name__}.add_param_group: expected a dict, got "
                            f"{type(param_group).__name__}")
        group = dict(param_group)
        params = group.get("params")
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, "
                            "but the ordering of tensors in sets will change between runs; "
                            "use a list")
        params = list(params) if params is not None else []
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__} can only optimize Tensors, but one of "
                                f"the params is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{type(self).__name__}: can't optimize a non-leaf Tensor "
                                 f"(shape {tuple(p.shape)})")
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{type(self).__name__}: a parameter group contains the same "
                             f"parameter twice")
        group["params"] = params
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError(f"{type(self).__name__}: some parameters appear in more than one "
                             f"parameter group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: ``p.grad = None`` (or a fresh zero array; never in place)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    xp = backend.xp_of(p.grad.data)
                    p.grad = Tensor.constant(xp.zeros_like(p.grad.data))

    def step(self, closure=None):
        """Update every parameter that has a gradient. ``closure`` re-evaluates the loss."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            hyper = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.data
                if g.shape != p.data.shape:
                    raise RuntimeError(f"{type(self).__name__}.step: gradient of shape "
                                       f"{tuple(g.shape)} for a parameter of shape "
                                       f"{tuple(p.data.shape)}")
                state = self.state.get(p)
                if state is None:
                    state = self.state[p] = {}
                self._update(p.data, g, state, **hyper)
                write_clock.stamp(p)
        return loss

    def _scaled(self, a, factor):
        """``factor·a`` written into a scratch array reused across steps and parameters, so
        an update allocates nothing (a fresh temporary the size of the largest weight every
        step costs page faults when the allocator hands its memory back in between)."""
        key = (type(a), a.dtype)
        scratch = self._scratch.get(key)
        if scratch is None or scratch.size < a.size:
            scratch = self._scratch[key] = backend.xp_of(a).empty(a.size, a.dtype)
        return backend.xp_of(a).multiply(a, factor, out=scratch[:a.size].reshape(a.shape))

    def _update(self, p, g, state, **group):  # pragma: no cover - abstract
        """Update the array ``p`` in place from gradient ``g``; ``state`` is p's dict."""
        raise NotImplementedError

    # -------------------------------------------------------------- state dict
    def state_dict(self) -> dict:
        """``{"state": {index: {name: Tensor | int}}, "param_groups": [{..., "params": [index]}]}``.

        Parameters are numbered in group order, as in PyTorch. Arrays are copied, so the
        result is a snapshot; ``dl.save`` writes it as safetensors (see ``deltaflow.io``).
        """
        index, groups = {}, []
        for group in self.param_groups:
            packed = {k: (list(v) if isinstance(v, tuple) else v)
                      for k, v in group.items() if k != "params"}
            packed["params"] = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                packed["params"].append(index[id(p)])
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state:
                    state[index[id(p)]] = {k: _snapshot(v) for k, v in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore groups' options and per-parameter state saved by :meth:`state_dict`.

        Keys of ``state`` may be ints or their strings (after JSON); arrays are copied and
        cast to their parameter's dtype and device.
        """
        name = type(self).__name__
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the state dict has {len(saved_groups)} "
                             f"parameter groups, the optimizer has {len(self.param_groups)}")
        for k, (ours, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(ours["params"]) != len(saved["params"]):
                raise ValueError(f"{name}.load_state_dict: parameter group {k} has "
                                 f"{len(saved['params'])} parameters in the state dict but "
                                 f"{len(ours['params'])} in the optimizer")
        by_index = {}
        for ours, saved in zip(self.param_groups, saved_groups):
            for idx, p in zip(saved["params"], ours["params"]):
                by_index[int(idx)] = p
        self.state = {}
        for idx, values in state_dict["state"].items():
            p = by_index.get(int(idx))
            if p is None:
                continue
            self.state[p] = {k: _restore(v, p, k, name) for k, v in values.items()}
        new_groups = []
        for ours, saved in zip(self.param_groups, saved_groups):
            group = {k: (tuple(v) if k == "betas" else v)
                     for k, v in saved.items() if k != "params"}
            group["params"] = ours["params"]
            new_groups.append(group)
        self.param_groups = new_groups


def _snapshot(value):
    if isinstance(value, Tensor):
        return Tensor.constant(value.data.copy())
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return Tensor.constant(value.copy())
    return value


def _restore(value, param: Tensor, key: str, name: str):
    """A state entry from a state dict: arrays become copies with the param's dtype/device."""
    if isinstance(value, Tensor):
        value = value.data
    if not (hasattr(value, "shape") and hasattr(value, "dtype")):
        return value
    if value.ndim == 0 and key == "step":
        return int(value)
    if value.shape != param.data.shape:
        raise ValueError(f"{name}.load_state_dict: state {key!r} has shape {tuple(value.shape)} "
                         f"but its parameter has shape {tuple(param.data.shape)}")
    xp = backend.xp_of(param.data)
    arr = backend.to_device(value, param.device)
    return xp.array(arr, dtype=param.data.dtype if arr.dtype.kind == "f" else arr.dtype,
                    copy=True)
