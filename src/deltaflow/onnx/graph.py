"""The ONNX graph being built: nodes, initializers, and the dynamic sizes converters need.

A converter (``converters/``) turns one traced op into ONNX nodes through :class:`Graph`:
``g.add(op_type, inputs, **attributes)`` appends a node and returns its output name(s),
``g.const(array)`` / ``g.ints(values)`` / ``g.scalar(value, dtype)`` make initializers.

Dynamic axes. The model is traced twice, at two sizes of every dynamic axis (see
``export.py``), so each size a converter meets is a pair ``(size in trace A, size in
trace B)``: equal sizes are static, a pair that is the pair of a dynamic input axis (the
*symbol* ``batch``, ``sequence`` ...) is read from that input at run time by
:meth:`Graph.dim`, and :meth:`Graph.shape` builds a whole target shape from such pairs
(``-1`` for the one size that is neither, e.g. ``batch·heads`` in a Reshape).
"""
from __future__ import annotations

import re

import numpy as np
from onnx import helper, numpy_helper

#: the ``end`` of a Slice that runs to the end of an axis
INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min


class ExportError(ValueError):
    """A model that cannot be exported: names the op, the module path and the opset."""


class Graph:
    """Nodes and initializers of one export at ``opset``; ``symbols`` maps a size pair
    ``(a, b)`` to ``(symbol, input name, axis)`` of the dynamic input axis it belongs to."""

    def __init__(self, opset: int, symbols: dict):
        self.opset = opset
        self.symbols = symbols
        self.nodes = []
        self.initializers = []
        self.scope = ""                       # module path of the op being converted
        self._names: set[str] = set()
        self._consts: dict = {}
        self._dims: dict = {}

    # ---------------------------------------------------------------- names and nodes
    def fresh(self, hint: str) -> str:
        """A value name not used yet, made from ``hint``."""
        base = re.sub(r"[^A-Za-z0-9_.:/-]", "_", hint) or "v"
        name, k = base, 1
        while name in self._names:
            k += 1
            name = f"{base}_{k}"
        self._names.add(name)
        return name

    def reserve(self, name: str) -> str:
        """Claim ``name`` (a graph input's or an initializer's) exactly as given."""
        if name in self._names:
            raise ExportError(f"dl.onnx.export: the name {name!r} is used twice")
        self._names.add(name)
        return name

    def add(self, op_type: str, inputs, n_out: int = 1, **attrs):
        """Append an ``op_type`` node reading ``inputs`` (``""`` for an omitted optional
        input); returns its output name, or a list of ``n_out`` names."""
        prefix = f"{self.scope}/" if self.scope else ""
        outs = [self.fresh(f"{prefix}{op_type}") for _ in range(n_out)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(helper.make_node(op_type, list(inputs), outs,
                                           name=self.fresh(f"{prefix}{op_type}_node"), **attrs))
        return outs[0] if n_out == 1 else outs

    # ---------------------------------------------------------------- constants
    def initializer(self, array, name: str) -> str:
        """``array`` as the initializer ``name`` (kept as given: parameter names)."""
        array = np.array(array, order="C", copy=None)      # (ascontiguousarray makes 0-d 1-d)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def const(self, array, dtype=None) -> str:
        """An initializer holding ``array`` (cast to ``dtype``); small ones are shared."""
        array = np.asarray(array, dtype=dtype)
        key = None
        if array.size <= 64:
            key = (array.dtype.str, array.shape, array.tobytes())
            if key in self._consts:
                return self._consts[key]
        name = self.initializer(array, self.fresh(f"{self.scope}/const" if self.scope
                                                  else "const"))
        if key is not None:
            self._consts[key] = name
        return name

    def ints(self, values) -> str:
        """A 1-D int64 constant (shapes, axes, pads, split sizes)."""
        return self.const(np.asarray(list(values), dtype=np.int64).reshape(-1))

    def scalar(self, value, dtype) -> str:
        """A 0-d constant of ``dtype``."""
        return self.const(np.asarray(value, dtype=dtype))

    # ---------------------------------------------------------------- dynamic sizes
    def dim(self, a: int, b: int) -> str | None:
        """The 1-D int64 ``[size]`` of the dynamic input axis whose sizes were ``(a, b)``,
        read from that input at run time; None when no input axis has that pair."""
        found = self.symbols.get((a, b))
        if found is None:
            return None
        if (a, b) not in self._dims:
            _, name, axis = found
            if self.opset >= 15:
                out = self.add("Shape", [name], start=axis, end=axis + 1)
            else:
                out = self.add("Gather", [self.add("Shape", [name]), self.ints([axis])])
            self._dims[(a, b)] = out
        return self._dims[(a, b)]

    def shape(self, shape_a, shape_b, infer: bool = True) -> str:
        """A 1-D int64 shape that is ``shape_a`` in trace A and ``shape_b`` in trace B:
        static sizes as constants, dynamic ones read from the inputs (:meth:`dim`), and
        with ``infer`` (Reshape) at most one other dynamic size as -1."""
        shape_a, shape_b = tuple(shape_a), tuple(shape_b)
        if shape_a == shape_b:
            return self.ints(shape_a)
        unknown = [i for i, (a, b) in enumerate(zip(shape_a, shape_b))
                   if a != b and self.dim(a, b) is None]
        if len(unknown) > (1 if infer else 0):
            raise ExportError(f"sizes {shape_a} (and {shape_b} at other input sizes) have "
                              f"{len(unknown)} dynamic sizes not read from an input")
        moving = [i for i, (a, b) in enumerate(zip(shape_a, shape_b)) if a != b]
        if infer and len(moving) == 1:
            return self.ints(-1 if i == moving[0] else n for i, n in enumerate(shape_a))
        pieces, run = [], []
        for a, b in zip(shape_a, shape_b):
            if a == b:
                run.append(a)
                continue
            if run:
                pieces.append(self.ints(run))
                run = []
            pieces.append(self.dim(a, b) or self.ints([-1]))
        if run:
            pieces.append(self.ints(run))
        return self.add("Concat", pieces, axis=0) if len(pieces) > 1 else pieces[0]

    def reduce(self, op_type: str, x: str, axes, keepdims: bool) -> str:
        """``op_type`` (ReduceSum, ReduceMean, ...) over ``axes`` (None: all), with the
        axes as an input where the opset takes them so (ReduceSum ≥ 13, the others ≥ 18)."""
        if axes is None:
            return self.add(op_type, [x], keepdims=int(keepdims))
        axes = [int(a) for a in np.atleast_1d(axes)]
        if op_type == "ReduceSum" or self.opset >= 18:
            return self.add(op_type, [x, self.ints(axes)], keepdims=int(keepdims))
        return self.add(op_type, [x], axes=axes, keepdims=int(keepdims))
