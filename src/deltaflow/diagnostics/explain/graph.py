"""Read what a model computed from the recorded autograd graph, not from its module types.

:func:`record` runs the forward pass once (with anomaly mode's provenance on, so each
Function knows the module that ran it), walks the Functions from the output back to the
input (``engine.topological_order``) and returns an :class:`OpRecord` per op that depends on
the input, in forward order: the Function's class, its inputs as *data* (the running
activation), *parameters* (named leaves, or tensors computed from them) and constants
(dropout masks, zero initial states), and a copy of what the op saved (its options: stride,
padding, the dropout mask ...), taken before backward releases it.

:func:`units` cuts that sequence at every tensor through which all paths from the input to
the output pass; a cut-to-cut piece of one op is one unit, a piece with several (a residual
connection, attention) is one opaque *block*. After ``backward``, :meth:`OpRecord.collect`
reads autograd's gradients of every output, input and parameter of the op.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...autograd.anomaly import detect_anomaly
from ...autograd.engine import topological_order


@dataclass
class OpRecord:
    """One recorded op on the way from the input to the output."""

    fn: object
    kind: str                         # the Function's class name: "Linear", "ReLU", ...
    module: str                       # dotted name of the innermost module ("" = the model)
    module_obj: object
    parents: tuple                    # the input Tensors, as the op received them
    roles: list                       # per parent: "data", "param" or "const"
    param_names: dict                 # parent position -> "0.weight" (or a description)
    saved: dict                       # the op's saved attributes (options) after forward
    outputs: dict = field(default_factory=dict)   # output index -> Tensor
    # filled by collect() after backward: arrays
    values: list = field(default_factory=list)    # parent arrays
    grads: list = field(default_factory=list)     # autograd ∂L/∂parent (None: none)
    out_values: dict = field(default_factory=dict)
    out_grads: dict = field(default_factory=dict)  # zeros where no gradient arrived
    shared_params: set = field(default_factory=set)  # positions whose parameter other ops use
    unsupported: str = ""             # why the textbook rule does not apply (set by rule_for)
    source: object = None             # the input Tensor, when the op read it as an option
                                      # (an embedding's integer indices), not as a parent

    def data_inputs(self) -> list:
        if self.source is not None:
            return [self.source]
        return [p for p, role in zip(self.parents, self.roles) if role == "data"]

    @property
    def data_index(self) -> int | None:
        return next((k for k, r in enumerate(self.roles) if r == "data"), None)

    @property
    def has_params(self) -> bool:
        return "param" in self.roles

    @property
    def x(self):
        """The data input's array."""
        if self.source is not None:
            return self.source.data
        return self.values[self.data_index]

    @property
    def y(self):
        return self.out_values[0]

    @property
    def g(self):
        """autograd's ∂L/∂(output 0)."""
        return self.out_grads[0]

    def collect(self) -> None:
        self.values = [p.data for p in self.parents]
        self.grads = [None if p.grad is None else p.grad.data for p in self.parents]
        for idx, t in self.outputs.items():
            self.out_values[idx] = t.data
            self.out_grads[idx] = (np.zeros_like(t.data) if t.grad is None
                                   else t.grad.data)


@dataclass
class Unit:
    """One cut-to-cut piece of the forward pass: one op, or an opaque block of several."""

    ops: list                         # OpRecords in forward order
    inp: object                       # the Tensor entering the piece
    out: object                       # the Tensor leaving it

    @property
    def block(self) -> bool:
        return len(self.ops) != 1

    @property
    def op(self) -> OpRecord:
        return self.ops[0]

    @property
    def has_params(self) -> bool:
        return any(r.has_params for r in self.ops)


def record(model, x, *, root="model"):
    """Run ``model(x)`` and read its graph: ``(output, [OpRecord in forward order], note)``.
    A model returning a tuple (a language model's (logits, state)) is explained on its first
    element, and ``note`` says so."""
    with detect_anomaly(check_nan=False):
        out = model(x)
    from ...tensor import Tensor
    note = None
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], Tensor):
        note = (f"the model returns {len(out)} values; explain follows the first, "
                f"{tuple(out[0].shape)}, which the loss reads")
        out = out[0]
    if not isinstance(out, Tensor):
        raise TypeError(f"explain: the model must return one Tensor, got {type(out).__name__}"
                        " (wrap it so that forward returns the tensor the loss reads)")
    if out._ctx is None:
        raise ValueError("explain: the model's output is not connected to its parameters or "
                         "its input (nothing was recorded); does it require grad?")
    names = {id(p): n for n, p in model.named_parameters()}
    modules = dict(model.named_modules())
    order = list(reversed(topological_order([out._ctx])))
    consumers = {}
    for fn in order:
        for p in fn.parents:
            if p._ctx is not None:
                consumers.setdefault(id(p._ctx), {})[p._idx] = p
    consumers.setdefault(id(out._ctx), {})[out._idx] = out
    use_count = {}
    for fn in order:
        for p in fn.parents:
            if id(p) in names:
                use_count[id(p)] = use_count.get(id(p), 0) + 1

    data = {id(x)}
    records = []
    for fn in order:
        roles, pnames = [], {}
        for k, p in enumerate(fn.parents):
            if id(p) in data:
                roles.append("data")
            elif id(p) in names or p.requires_grad:
                roles.append("param")
                pnames[k] = names.get(id(p)) or f"computed by {type(p._ctx).__name__}"
            else:
                roles.append("const")
        outputs = consumers.get(id(fn), {})
        source = None
        if "data" not in roles:
            if not _reads(fn, x):
                continue                           # computes from parameters only
            source = x
        for t in outputs.values():
            data.add(id(t))
        path = getattr(fn, "module_path", None) or root
        name = path[len(root) + 1:] if path.startswith(root + ".") else ""
        rec = OpRecord(fn, type(fn).__name__, name, modules.get(name), fn.parents, roles,
                       pnames, dict(fn.__dict__), outputs, source=source)
        rec.shared_params = {k for k, p in enumerate(fn.parents)
                             if use_count.get(id(p), 0) > 1}
        records.append(rec)
    if id(out) not in data:
        raise ValueError("explain: the model's output does not depend on its input")
    return out, records, note


def _reads(fn, x) -> bool:
    """Whether ``fn`` saved (a view of) the input's array: an op given the input as an
    option (``Embedding.apply(weight, index=x)``)."""
    if x.requires_grad:
        return False
    return any(isinstance(v, np.ndarray) and np.shares_memory(v, x.data)
               for v in fn.__dict__.values())


def retain(records, x) -> None:
    """Keep ``.grad`` on every tensor the records read or make (call before backward)."""
    seen = set()
    for r in records:
        for t in list(r.parents) + list(r.outputs.values()):
            if id(t) not in seen and t.requires_grad:
                seen.add(id(t))
                t.retain_grad()


def units(records, x, out) -> list:
    """Cut the records at every tensor that all paths from ``x`` to ``out`` pass through."""
    remaining = {}
    for r in records:
        for p in r.data_inputs():
            remaining[id(p)] = remaining.get(id(p), 0) + 1
    live = {id(x): x}
    pieces, current, start = [], [], x
    for r in records:
        current.append(r)
        for p in r.data_inputs():
            remaining[id(p)] -= 1
            if remaining[id(p)] == 0 and p is not out:
                live.pop(id(p), None)
        for t in r.outputs.values():
            if remaining.get(id(t), 0) > 0 or t is out:
                live[id(t)] = t
        if len(live) == 1:
            (end,) = live.values()
            pieces.append(Unit(current, start, end))
            current, start = [], end
    if current:                                    # cannot happen for a connected graph
        pieces.append(Unit(current, start, out))
    return pieces


__all__ = ["OpRecord", "Unit", "record", "retain", "units"]
