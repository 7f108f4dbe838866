"""The converter table: deltaflow op (a ``Function`` class) → ONNX nodes, by opset.

A converter is ``convert(g, n) -> name | list of names`` (one per output of the op), where
``g`` is the :class:`~deltaflow.onnx.graph.Graph` being built and ``n`` the traced call:

* ``n.op``, ``n.path`` (module path), ``n.options`` (the op's keyword options in trace A)
  and ``n.options_b`` (in trace B, at the other sizes of the dynamic axes);
* ``n.inputs`` (ONNX value names of the tensor inputs), ``n.shapes`` / ``n.shapes_b`` /
  ``n.dtypes`` of those inputs, ``n.out_shapes`` / ``n.out_shapes_b`` / ``n.out_dtypes``;
* ``n.arrays`` / ``n.out_arrays``: the input and output arrays of trace A;
* ``n.value(array_a, array_b)``: the ONNX value of an array option (an Embedding's
  ``index``, a BatchNorm's running statistics): the graph value it is the data of, a
  parameter or buffer, or a constant.

``@converter(Op, since=k, emits="...")`` registers one for opsets ≥ k; :func:`lookup` picks
the highest ``since`` not above the requested opset. Options whose value may differ between
the two traces (a Reshape's target shape holds the batch size) are listed in ``dynamic``;
any other option that differs makes the export fail, naming it.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    op: type
    since: int
    convert: object
    emits: str
    dynamic: tuple


TABLE: dict[type, list[Entry]] = {}


def converter(*ops, since: int = 13, emits: str = "", dynamic=()):
    """Register the decorated function as the converter of ``ops`` for opsets ≥ ``since``."""
    def register(fn):
        for op in ops:
            entries = TABLE.setdefault(op, [])
            entries.append(Entry(op, since, fn, emits, tuple(dynamic)))
            entries.sort(key=lambda e: e.since)
        return fn
    return register


def lookup(op: type, opset: int) -> Entry | None:
    """The converter of ``op`` with the highest ``since`` ≤ ``opset`` (None: none)."""
    best = None
    for entry in TABLE.get(op, ()):
        if entry.since <= opset:
            best = entry
    return best


def table() -> list[tuple[str, str, str]]:
    """``(op, ONNX operators, opsets)`` rows of every converter, for docs/onnx.md."""
    rows = []
    for op, entries in sorted(TABLE.items(), key=lambda kv: kv[0].__name__):
        for k, e in enumerate(entries):
            upper = entries[k + 1].since - 1 if k + 1 < len(entries) else None
            opsets = f"{e.since}+" if upper is None else f"{e.since}–{upper}"
            rows.append((f"{op.__module__.rsplit('.', 1)[-1]}.{op.__name__}", e.emits, opsets))
    return rows


from . import elementwise, layers, recurrent, reduce, shape  # noqa: E402  (fill TABLE)

__all__ = ["TABLE", "Entry", "converter", "lookup", "table"]
