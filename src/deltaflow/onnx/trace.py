"""Record a model's forward pass as the list of ops it applies.

Every op is a ``Function`` subclass called through ``Function.apply`` (the op contract,
docs/architecture.md). While :func:`record` runs the model, ``Function.apply`` is wrapped so
that each call on this thread appends a :class:`Call`: the op class, its input Tensors, its
options (every non-tensor argument, e.g. ``stride`` or an Embedding's ``index`` array), its
output Tensors, the path of the module whose forward ran it
(``nn.modules.module.current_module_path()``) and the in-place-write versions of its inputs.
Nothing in ``ops/`` or ``autograd/`` changes: the wrapper calls the original ``apply``.

Comparisons and logical ops (``x > 0``, ``logical_not``, ``isnan``) are no Functions: not
being differentiable, ``functional/comparison.py`` makes their bool tensors with NumPy. They
are recorded too, by wrapping those functions of ``deltaflow.functional`` (through which
the Tensor operators go), as calls of the stand-in op classes in :data:`COMPARISONS`.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

from .. import functional
from ..autograd.function import Function
from ..autograd.grad_mode import no_grad
from ..functional._common import _pair
from ..nn.modules.module import current_module_path


class Comparison:
    """Stand-in op class of a recorded comparison or logical function (``onnx``: the ONNX
    operator it is)."""

    onnx = ""

    @classmethod
    def op_name(cls) -> str:
        return cls.__name__.lower()


def _comparison(name, onnx_op, arity):
    return type(name, (Comparison,), {"onnx": onnx_op, "arity": arity,
                                      "__module__": "deltaflow.functional.comparison"})


#: functional name -> stand-in op class
COMPARISONS = {name: _comparison(name, onnx_op, arity) for name, onnx_op, arity in (
    ("eq", "Equal", 2), ("ne", "Equal", 2), ("lt", "Less", 2), ("le", "LessOrEqual", 2),
    ("gt", "Greater", 2), ("ge", "GreaterOrEqual", 2), ("logical_not", "Not", 1),
    ("logical_and", "And", 2), ("logical_or", "Or", 2), ("logical_xor", "Xor", 2),
    ("isnan", "IsNaN", 1), ("isinf", "IsInf", 1))}


@dataclass
class Call:
    """One ``Op.apply(*inputs, **options)`` seen while tracing."""

    op: type
    inputs: tuple
    options: dict
    outputs: tuple
    module_path: str
    versions: tuple          # each input's ``_version`` when the op read it


def record(model, args) -> tuple[list[Call], object]:
    """Run ``model(*args)`` once under ``no_grad``; returns (the calls, the result)."""
    calls: list[Call] = []
    thread = threading.get_ident()
    original = Function.__dict__["apply"]
    apply_op = original.__func__

    def traced_apply(cls, *inputs, **options):
        out = apply_op(cls, *inputs, **options)
        if threading.get_ident() == thread:
            calls.append(Call(cls, inputs, options, out if type(out) is tuple else (out,),
                              current_module_path(),
                              tuple(getattr(t, "_version", 0) for t in inputs)))
        return out

    def traced(name, fn):
        op = COMPARISONS[name]

        def compare(*args):
            if threading.get_ident() != thread or len(args) != op.arity:
                return fn(*args)
            inputs = _pair(*args) if op.arity == 2 else args
            out = fn(*inputs)
            calls.append(Call(op, tuple(inputs), {}, (out,), current_module_path(),
                              tuple(getattr(t, "_version", 0) for t in inputs)))
            return out
        return compare

    originals = {name: getattr(functional, name) for name in COMPARISONS}
    Function.apply = classmethod(traced_apply)
    for name, fn in originals.items():
        setattr(functional, name, traced(name, fn))
    try:
        with no_grad():
            result = model(*args)
    finally:
        Function.apply = original
        for name, fn in originals.items():
            setattr(functional, name, fn)
    return calls, result
