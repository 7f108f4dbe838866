"""``dl.onnx.load(path)``: an ONNX model as a deltaflow Module that runs its graph with
deltaflow's differentiable ops, so it can be evaluated, explained, gradient-checked and
trained.

The file is read with the ``onnx`` package (its protobuf classes; nothing in the file is
executed) and checked by ``onnx.checker``; local functions are inlined. Each node is mapped,
when the model is loaded, to the importer of its operator at the model's opset
(:mod:`.importers`); an operator, attribute or dtype without one is refused then, naming
it, its node and the opset. The nodes run in topological order on every call.

Initializers: floating ones become Parameters (the running mean and variance that feed
only BatchNormalization are buffers, as in ``nn.BatchNorm``), registered under their ONNX
names made valid: dots make submodules (``fc1.weight`` → ``model.fc1.weight``, so a
PyTorch export's state-dict keys come back unchanged), other characters outside
``[A-Za-z0-9_]`` become ``_``. Integer and bool initializers are constants (non-persistent
buffers). ``initializer_names`` maps each ONNX name to its state-dict key.
"""
from __future__ import annotations

import inspect
import os
import re
from dataclasses import dataclass

import numpy as np

from ..nn.modules.module import Module
from ..nn.parameter import Parameter
from ..tensor import Tensor

__all__ = ["OnnxModule", "load"]

#: BatchNormalization's inputs that are statistics, not trained (mean, var)
_STATISTICS = {"BatchNormalization": (3, 4)}


@dataclass
class _Node:
    fn: object            # the importer
    inputs: list          # value names ("" for an omitted optional input)
    outputs: list
    attributes: dict
    label: str            # "Conv node 'conv1' (opset 17)"


class OnnxModule(Module):
    """An ONNX graph run by deltaflow ops. Call it with the graph's inputs (Tensors, in
    order or by name); it returns the graph's output, or a tuple of them."""

    def __init__(self, source: str, opset: int, inputs, outputs, nodes, initializers):
        super().__init__()
        self.source, self.opset = source, opset
        self.input_names = [name for name, _ in inputs]
        self._input_dtypes = dict(inputs)
        self.output_names = list(outputs)
        self._nodes = nodes
        self.initializer_names: dict[str, str] = {}
        self._slots = []                               # (onnx name, module, attribute)
        for name, (array, kind) in initializers.items():
            module, prefix, attr = self._place(name)
            if kind == "parameter":
                module.register_parameter(attr, Parameter(array))
            else:
                module.register_buffer(attr, Tensor(array), persistent=kind == "buffer")
            self._slots.append((name, module, attr))
            self.initializer_names[name] = ".".join(prefix + [attr])

    def _place(self, name: str):
        """(module, its path, attribute) for initializer ``name``: a submodule per dotted
        prefix, or, where that would clash, one flat attribute."""
        parts = [re.sub(r"\W", "_", p, flags=re.ASCII) or "_" for p in name.split(".")]
        module = self
        for part in parts[:-1]:
            child = module._modules.get(part)
            if child is None:
                if self._taken(module, part):
                    return self, [], self._free(self, "_".join(parts))
                child = Module()
                module.add_module(part, child)
            module = child
        return module, parts[:-1], self._free(module, parts[-1])

    @staticmethod
    def _taken(module, name):
        return (name in module._parameters or name in module._buffers or
                name in module._modules or hasattr(type(module), name) or
                name in module.__dict__)

    def _free(self, module, name):
        candidate, k = name, 0
        while self._taken(module, candidate):
            k += 1
            candidate = f"{name}_{k}"
        return candidate

    def extra_repr(self) -> str:
        return (f"{self.source!r}, opset {self.opset}, {len(self._nodes)} nodes, "
                f"inputs {self.input_names}, outputs {self.output_names}")

    def forward(self, *args, **kwargs):
        from .importers import Unsupported
        values = self._bind(args, kwargs)
        for name, module, attr in self._slots:
            values[name] = getattr(module, attr)
        for node in self._nodes:
            inputs = [values[n] if n else None for n in node.inputs]
            while inputs and inputs[-1] is None:
                inputs.pop()
            try:
                out = node.fn(*inputs, **node.attributes)
            except Unsupported as e:
                raise Unsupported(f"{node.label}: {e}") from None
            except Exception as e:
                e.add_note(f"while running ONNX {node.label} of {self.source}")
                raise
            outs = out if isinstance(out, tuple) else (out,)
            for name, value in zip(node.outputs, outs):
                if name:
                    values[name] = value
        result = tuple(values[n] for n in self.output_names)
        return result[0] if len(result) == 1 else result

    def _bind(self, args, kwargs):
        if len(args) > len(self.input_names):
            raise TypeError(f"ONNX model {self.source}: {len(args)} inputs given, the graph "
                            f"takes {len(self.input_names)} ({', '.join(self.input_names)})")
        values = dict(zip(self.input_names, args))
        for name, value in kwargs.items():
            if name not in self._input_dtypes or name in values:
                raise TypeError(f"ONNX model {self.source}: unexpected or repeated input "
                                f"{name!r} (inputs: {', '.join(self.input_names)})")
            values[name] = value
        for name in self.input_names:
            if name not in values:
                raise TypeError(f"ONNX model {self.source}: missing input {name!r}")
            value, expected = values[name], self._input_dtypes[name]
            if not isinstance(value, Tensor):
                raise TypeError(f"ONNX model {self.source}: input {name!r} must be a Tensor, "
                                f"got {type(value).__name__} (wrap it: dl.tensor(x))")
            same_kind = value.dtype.kind == "f" and expected.kind == "f"
            if value.dtype != expected and not same_kind:
                raise TypeError(f"ONNX model {self.source}: input {name!r} has dtype "
                                f"{value.dtype}, the graph expects {expected}")
        return values


def load(path) -> OnnxModule:
    """Read the ONNX model at ``path`` (or an ``onnx.ModelProto``) as an :class:`OnnxModule`.

    Raises ``OnnxImportError`` naming the file when it cannot be read or is not a valid
    ONNX model, and ``Unsupported`` (a subclass) naming the operator, node and opset (or
    attribute, or dtype) that deltaflow does not implement."""
    import onnx

    from .importers import OnnxImportError
    if isinstance(path, onnx.ModelProto):
        model, source = path, path.graph.name or "<ModelProto>"
    else:
        source = os.fspath(path)
        if not os.path.isfile(source):
            raise OnnxImportError(f"{source}: no such ONNX file")
        try:
            model = onnx.load(source)
        except Exception as e:
            raise OnnxImportError(f"{source}: not a readable ONNX model "
                                  f"({type(e).__name__}: {e})") from None
    try:
        onnx.checker.check_model(model)
    except Exception as e:
        _refuse_unknown_operators(model, source)     # the clearer message, if that is why
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise OnnxImportError(f"{source}: not a valid ONNX model ({first})") from None
    if model.functions:
        model = onnx.inliner.inline_local_functions(model)
    return _build(model, source)


def _opset(model, source: str) -> int:
    """The model's opset of the default domain, if deltaflow reads it."""
    from .importers import MAX_OPSET, MIN_OPSET, Unsupported
    opsets = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    if "ai.onnx" not in opsets:
        raise Unsupported(f"{source}: the model does not import the default ONNX domain")
    opset = opsets["ai.onnx"]
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise Unsupported(f"{source}: opset {opset}; deltaflow imports opsets {MIN_OPSET} "
                          f"to {MAX_OPSET}")
    return opset


def _refuse_unknown_operators(model, source: str) -> None:
    """Raise Unsupported for the first node whose operator has no importer (onnx.checker
    also rejects operators it does not know, less helpfully)."""
    opset = _opset(model, source)
    for node in model.graph.node:
        _node(node, opset, source)


def _build(model, source: str) -> OnnxModule:
    from .importers import OnnxImportError, Unsupported
    from .importers.values import dtype
    opset = _opset(model, source)
    graph = model.graph
    if graph.sparse_initializer:
        raise Unsupported(f"{source}: sparse initializers")
    arrays = {t.name: _array(t, f"{source}: initializer {t.name!r}") for t in graph.initializer}
    inputs = []
    for v in graph.input:
        if v.name in arrays:                     # IR < 4: initializers listed as inputs
            continue
        if not v.type.HasField("tensor_type"):
            raise Unsupported(f"{source}: input {v.name!r} is not a tensor")
        inputs.append((v.name, dtype(v.type.tensor_type.elem_type,
                                     f"{source}: input {v.name!r}")))
    nodes = [_node(n, opset, source) for n in _topological(graph, arrays, inputs, source)]
    statistics, other = set(), set()
    for n in graph.node:
        for k, name in enumerate(n.input):
            (statistics if k in _STATISTICS.get(n.op_type, ()) else other).add(name)
    kinds = {}
    for name, array in arrays.items():
        if array.dtype.kind != "f":
            kinds[name] = (array, "constant")
        elif name in statistics and name not in other:
            kinds[name] = (array, "buffer")
        else:
            kinds[name] = (array, "parameter")
    if not graph.output:
        raise OnnxImportError(f"{source}: the graph has no outputs")
    return OnnxModule(source, opset, inputs, [o.name for o in graph.output], nodes, kinds)


def _array(tensor, what: str) -> np.ndarray:
    from onnx import numpy_helper

    from .importers import OnnxImportError
    from .importers.values import dtype
    dtype(tensor.data_type, what)
    try:
        return np.array(numpy_helper.to_array(tensor))   # an own, writable copy
    except (ValueError, TypeError) as err:   # dims that do not match the data
        raise OnnxImportError(f"{what}: its data does not match its dims "
                              f"{list(tensor.dims)}: {err}") from None


def _topological(graph, arrays, inputs, source):
    """The graph's nodes, each after the producers of its inputs."""
    from .importers import OnnxImportError
    known = set(arrays) | {name for name, _ in inputs} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        ready = [n for n in pending if all(i in known for i in n.input)]
        if not ready:
            n = pending[0]
            missing = [i for i in n.input if i not in known]
            raise OnnxImportError(f"{source}: node {n.name!r} ({n.op_type}) reads {missing}, "
                                  "which no node, input or initializer produces (or a cycle)")
        for n in ready:
            known.update(n.output)
        ordered += ready
        pending = [n for n in pending if n not in ready]
    return ordered


def _node(node, opset: int, source: str) -> _Node:
    from .importers import Unsupported, attribute_names, lookup, max_inputs
    label = f"{node.op_type} node {node.name!r} (opset {opset})"
    if node.domain not in ("", "ai.onnx"):
        raise Unsupported(f"{source}: operator {node.domain}.{node.op_type} of node "
                          f"{node.name!r} (opset {opset}): deltaflow imports only the "
                          "default ONNX domain")
    fn = lookup(node.op_type, opset)
    if fn is None:
        raise Unsupported(f"{source}: operator {node.op_type!r} of node {node.name!r} is not "
                          f"supported at opset {opset} (docs/onnx.md lists the operators "
                          "deltaflow imports)")
    known = attribute_names(fn)
    attributes = {}
    for a in node.attribute:
        if a.name not in known:
            raise Unsupported(f"{source}: {label}: attribute {a.name!r} is not supported")
        attributes[a.name] = _attribute(a, f"{source}: {label}: attribute {a.name!r}")
    limit = max_inputs(fn)
    if limit is not None and len(node.input) > limit:
        raise Unsupported(f"{source}: {label}: {len(node.input)} inputs, deltaflow reads "
                          f"{limit}")
    if "n_outputs" in inspect.signature(fn).parameters:
        attributes["n_outputs"] = len(node.output)
    return _Node(fn, list(node.input), list(node.output), attributes, label)


def _attribute(a, what: str):
    from onnx import AttributeProto as A

    from .importers import Unsupported
    if a.ref_attr_name:
        raise Unsupported(f"{what} refers to a function attribute")
    if a.type == A.FLOAT:
        return a.f
    if a.type == A.INT:
        return a.i
    if a.type == A.STRING:
        return a.s.decode()
    if a.type == A.TENSOR:
        return _array(a.t, what)
    if a.type == A.FLOATS:
        return list(a.floats)
    if a.type == A.INTS:
        return list(a.ints)
    if a.type == A.STRINGS:
        return [s.decode() for s in a.strings]
    if a.type == A.SPARSE_TENSOR:
        return a.sparse_tensor
    raise Unsupported(f"{what} is of type {A.AttributeType.Name(a.type)} (graphs and type "
                      "protos are not supported)")
