"""``Optimizer``: parameter groups, per-parameter state and PyTorch's ``state_dict`` layout.

Subclasses implement :meth:`Optimizer._update` (one parameter's update from its gradient,
called by :meth:`Optimizer.step`) or override ``step`` (LBFGS). Updates work on the raw
arrays in place (``p.data``), never write into ``p.grad.data`` (gradient arrays may be
shared, see ``docs/architecture.md``) and keep the parameter's dtype: hyperparameters are
Python floats, which never upcast a float32 array.

PyTorch's implementation-choice keywords are taken by each optimizer exactly where
``torch.optim``'s takes them and live in its ``defaults`` and groups as there; this module
is the one place that reads them (:func:`check_flags`, :meth:`Optimizer.step`):

* ``maximize=True`` ascends: the gradient is negated before the update (PyTorch's rule).
* ``foreach`` and ``fused`` choose PyTorch kernels and have no effect here: every update is
  vectorised NumPy/CuPy over each parameter, with the fused Numba loop of
  :mod:`.fused` picked automatically for large parameters (the same numbers).
  ``fused=True`` with ``foreach=True`` is refused, as in PyTorch.
* ``differentiable=True`` (autograd through the step) and ``capturable=True`` (CUDA-graph
  capture) cannot be honoured and are refused with a ValueError.

In its first steps :meth:`Optimizer.step` also looks for three classic mistakes (a
forgotten ``zero_grad()``, parameters that get no gradient, a graph kept across steps) and
warns once about each (:mod:`.step_checks`, ``dl.warnings``).
"""
from __future__ import annotations

from typing import Any

from .. import backend
from ..autograd import enable_grad, write_clock
from ..tensor import Tensor
from .step_checks import StepChecks


def check_flags(name: str, group: dict) -> None:
    """Refuse the PyTorch keywords that deltaflow cannot honour (see the module docstring)."""
    if group.get("differentiable"):
        raise ValueError(f"{name}: differentiable=True is not supported: deltaflow's "
                         f"optimizer steps update the parameter arrays in place outside the "
                         f"autograd graph, so a step cannot be differentiated")
    if group.get("capturable"):
        raise ValueError(f"{name}: capturable=True is not supported: deltaflow has no CUDA "
                         f"graph capture (leave capturable=False; the update is the same)")
    if group.get("fused") and group.get("foreach"):
        raise RuntimeError(f"{name}: `fused` and `foreach` cannot be `True` together.")


class Optimizer:
    """Base class: holds ``param_groups`` (list of dicts) and ``state`` (param → dict).

    ``params`` is an iterable of Tensors or of dicts ``{"params": [...], "lr": ..., ...}``;
    options missing from a group come from ``defaults``.
    """

    #: state entries kept as Python numbers (PyTorch: 0-d tensors); the rest are arrays
    scalar_state = frozenset({"step"})

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
        self._complete(group)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError(f"{type(self).__name__}: some parameters appear in more than one "
                             f"parameter group")
        self.param_groups.append(group)

    def _complete(self, group: dict) -> None:
        """Fill a group's missing options from ``defaults`` and check PyTorch's flags."""
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        check_flags(type(self).__name__, group)

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
        checks = self.__dict__.get("_checks")
        if checks is None:
            checks = self._checks = StepChecks()
        checks.begin_step(self)
        for group in self.param_groups:
            hyper = {k: v for k, v in group.items() if k not in ("params", "maximize")}
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.data
                if g.shape != p.data.shape:
                    raise RuntimeError(f"{type(self).__name__}.step: gradient of shape "
                                       f"{tuple(g.shape)} for a parameter of shape "
                                       f"{tuple(p.data.shape)}")
                if group.get("maximize"):
                    g = -g
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
        """Update the array ``p`` in place from gradient ``g`` (already negated when the
        group maximizes); ``state`` is p's dict, ``group`` the group's options."""
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
        cast to their parameter's dtype and device; options missing from a saved group (a
        state dict from an older version) come from ``defaults``.
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
        new_groups = []
        for ours, saved in zip(self.param_groups, saved_groups):
            group = {k: (tuple(v) if isinstance(self.defaults.get(k), tuple) else v)
                     for k, v in saved.items() if k != "params"}
            group["params"] = ours["params"]
            self._complete(group)
            new_groups.append(group)
        by_index = {}
        for ours, saved in zip(self.param_groups, saved_groups):
            for idx, p in zip(saved["params"], ours["params"]):
                by_index[int(idx)] = p
        state = {by_index[int(idx)]: self._restore_state(by_index[int(idx)], values)
                 for idx, values in state_dict["state"].items() if int(idx) in by_index}
        self.state, self.param_groups = state, new_groups   # nothing changes on an error

    def _restore_state(self, param: Tensor, values: dict) -> dict:
        """One parameter's state from a state dict: arrays copied with the parameter's shape
        (checked), dtype and device; 0-d entries named in ``scalar_state`` (PyTorch's
        tensors) become Python numbers."""
        name = type(self).__name__
        restored = {}
        for key, value in values.items():
            if isinstance(value, Tensor):
                value = value.data
            if is_array(value) and value.ndim == 0 and key in self.scalar_state:
                value = int(value) if key == "step" else float(value)
            elif is_array(value) and value.shape != param.data.shape:
                raise ValueError(f"{name}.load_state_dict: state {key!r} has shape "
                                 f"{tuple(value.shape)} but its parameter has shape "
                                 f"{tuple(param.data.shape)}")
            restored[key] = restore_arrays(value, param)
        return restored


def with_weight_decay(p, g, lr, weight_decay, decoupled=False):
    """The gradient an update uses after weight decay λ: ``g + λ·p`` (L2, coupled), or ``g``
    itself with ``p`` shrunk in place to ``p·(1 − lr·λ)`` (decoupled, as AdamW)."""
    if not weight_decay:
        return g
    if decoupled:
        p *= 1.0 - float(lr) * float(weight_decay)
        return g
    return g + float(weight_decay) * p


def is_array(value) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype")


def _snapshot(value):
    """A state entry for a state dict: arrays (also inside lists, LBFGS's history) become
    Tensors holding copies."""
    if isinstance(value, Tensor):
        value = value.data
    if is_array(value):
        return Tensor.constant(value.copy())
    if isinstance(value, (list, tuple)):
        return type(value)(_snapshot(v) for v in value)
    return value


def restore_arrays(value, param: Tensor):
    """``value`` with every array in it (also inside lists) a copy on ``param``'s device,
    floating arrays cast to its dtype."""
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, (list, tuple)):
        return type(value)(restore_arrays(v, param) for v in value)
    if not is_array(value):
        return value
    arr = backend.to_device(value, param.device)
    return backend.xp_of(param.data).array(
        arr, dtype=param.data.dtype if arr.dtype.kind == "f" else arr.dtype, copy=True)
