"""``dl.summary(model, input_shape)``: each layer's output shape, parameters and
multiply-accumulates, found by running the model once on zeros with forward hooks.

MACs (multiply-accumulate operations) are counted for the layers that do the arithmetic,
for the whole input given (batch included), bias additions not counted:

* ``Linear``: one per weight per output row, ``out.numel() · in_features``;
* ``Conv1d/2d``: ``out.numel() · (C_in/groups) · ∏kernel`` (every output element is a dot
  product over its receptive field);
* ``ConvTranspose1d/2d``: ``in.numel() · (C_out/groups) · ∏kernel`` (every input element is
  scattered through the kernel);
* ``RNN/LSTM/GRU``: per layer, direction and time step ``gates · hidden · (in + hidden)``
  per sample (gates 1, 4, 3);
* everything else (activations, pooling, normalisation, dropout...): 0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import creation
from .autograd import no_grad
from .tensor import Tensor

__all__ = ["summary", "ModelSummary", "LayerInfo"]

_GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


@dataclass
class LayerInfo:
    """One row: the module's dotted name and type, output shape(s), own parameter count
    and MACs for the summarised input."""

    name: str
    type: str
    output_shape: object
    params: int
    macs: int


@dataclass
class ModelSummary:
    """What :func:`summary` found; ``str()`` is the printed table."""

    input_shape: tuple
    layers: list = field(default_factory=list)
    total_params: int = 0
    trainable_params: int = 0
    total_macs: int = 0
    param_bytes: int = 0

    def __str__(self) -> str:
        rows = [(f"{lay.name} ({lay.type})" if lay.name else lay.type,
                 _shape_text(lay.output_shape), f"{lay.params:,}", f"{lay.macs:,}")
                for lay in self.layers]
        head = ("Layer (type)", "Output shape", "Params", "MACs")
        widths = [max(len(r[k]) for r in rows + [head]) for k in range(4)]

        def line(r):
            return (f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  "
                    f"{r[3]:>{widths[3]}}")
        rule = "=" * len(line(head))
        out = [rule, line(head), rule] + [line(r) for r in rows] + [rule]
        out += [f"Input shape: {tuple(self.input_shape)}",
                f"Total params: {self.total_params:,} (trainable {self.trainable_params:,}, "
                f"non-trainable {self.total_params - self.trainable_params:,}; "
                f"{self.param_bytes / 2**20:.2f} MiB)",
                f"Total MACs: {self.total_macs:,} ({_human(self.total_macs)})",
                rule]
        return "\n".join(out)


def _human(n: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return str(n)


def _shapes(obj):
    """Output shape(s): a tuple for a Tensor, a list for tuples of tensors."""
    if isinstance(obj, Tensor):
        return tuple(obj.shape)
    if isinstance(obj, (tuple, list)):
        inner = [s for s in (_shapes(o) for o in obj) if s is not None]
        return inner if inner else None
    return None


def _shape_text(shape) -> str:
    if shape is None:
        return "-"
    return ", ".join(map(str, shape)) if isinstance(shape, list) else str(shape)


def _first_tensor(args):
    for a in args:
        if isinstance(a, Tensor):
            return a
    return None


def _macs(module, args, output) -> int:
    kind = type(module).__name__
    out = output if isinstance(output, Tensor) else _first_tensor(
        output if isinstance(output, (tuple, list)) else ())
    x = _first_tensor(args)
    if kind in ("Linear", "LazyLinear") and out is not None:
        return out.numel() * module.in_features
    if kind in ("Bilinear",) and out is not None:
        return out.numel() * module.in1_features * module.in2_features
    if kind in ("Conv1d", "Conv2d", "Conv3d") and out is not None:
        return out.numel() * module.weight.shape[1] * math.prod(module.kernel_size)
    if kind in ("ConvTranspose1d", "ConvTranspose2d") and x is not None:
        return x.numel() * module.weight.shape[1] * math.prod(module.kernel_size)
    if kind in _GATES and x is not None and hasattr(module, "hidden_size"):
        steps = x.numel() // x.shape[-1]          # time steps × batch
        h, dirs = module.hidden_size, 2 if getattr(module, "bidirectional", False) else 1
        total, width = 0, module.input_size
        for _ in range(module.num_layers):
            total += dirs * _GATES[kind] * h * (width + h)
            width = h * dirs
        return steps * total
    return 0


def summary(model, input_shape, dtype=None, device=None, print_fn=print) -> ModelSummary:
    """Run ``model`` once on zeros of ``input_shape`` (batch included, e.g. ``(1, 1, 28,
    28)``) and print a table of every layer: dotted name (type), output shape, its own
    parameter count and its MACs. Returns the :class:`ModelSummary`; ``print_fn=None``
    prints nothing. The model runs in eval mode under ``no_grad`` (BatchNorm running
    statistics are not touched) and its train/eval mode is restored afterwards."""
    if isinstance(input_shape, int):
        input_shape = (input_shape,)
    input_shape = tuple(int(s) for s in input_shape)
    if dtype is None:
        first = next(iter(model.parameters()), None)
        dtype = first.dtype if first is not None else np.float32
    if device is None:
        first = next(iter(model.parameters()), None)
        device = first.device if first is not None else "cpu"
    result = ModelSummary(input_shape)
    named = list(model.named_modules())
    rows, handles = {}, []

    def recorder(name):
        def hook(module, args, output):
            own = sum(p.numel() for p in module.parameters(recurse=False))
            prev = rows.get(name)
            macs = _macs(module, args, output) + (prev.macs if prev else 0)
            rows[name] = LayerInfo(name, type(module).__name__, _shapes(output), own, macs)
        return hook

    for name, module in named:
        leaf = next(iter(module.children()), None) is None
        if leaf or next(iter(module.parameters(recurse=False)), None) is not None:
            handles.append(module.register_forward_hook(recorder(name)))
    modes = [(m, m.training) for _, m in named]
    try:
        model.eval()
        with no_grad():
            model(creation.zeros(*input_shape, dtype=dtype, device=device))
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes:
            m.training = mode
    order = {name: k for k, (name, _) in enumerate(named)}
    result.layers = sorted(rows.values(), key=lambda lay: order[lay.name])
    params = list(model.parameters())
    result.total_params = sum(p.numel() for p in params)
    result.trainable_params = sum(p.numel() for p in params if p.requires_grad)
    result.param_bytes = sum(p.numel() * p.element_size() for p in params)
    result.total_macs = sum(lay.macs for lay in result.layers)
    if print_fn is not None:
        print_fn(str(result))
    return result
