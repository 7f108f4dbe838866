"""``dl.onnx.export``: a deltaflow model as an ONNX file.

The forward pass is recorded by running the model (``trace.py``) in eval mode, twice: at
the example inputs (trace A) and at other sizes of every dynamic axis (trace B: each
dynamic axis resized, its samples rotated so values differ too). The two traces must
apply the same ops; comparing them tells which sizes are dynamic and which values are
constants of the model. Each op of trace A then goes through the converter table
(``converters/``, the highest version not above the opset), parameters and buffers
become initializers under their ``state_dict`` names, other tensors made outside the ops
become constants, and the model is checked by ``onnx.checker`` and written atomically.

Tensors made outside the ops (``Tensor.constant``) that change between the traces are
recognised in three forms, the ones ``nn`` makes: a tensor of one repeated value
(``ConstantOfShape``), the causal mask ``triu(−∞, 1)`` (``Range``, ``Less``, ``Where``)
and the additive mask ``where(m, −∞, 0)`` of a boolean input ``m`` (``Where``). Anything
else that depends on the inputs raises, naming the op, the module path and the opset,
before anything is written.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from .. import io
from ..tensor import Tensor
from . import converters
from .graph import ExportError, Graph
from .trace import record

MIN_OPSET = 13


def _max_opset() -> int:
    return onnx.defs.onnx_opset_version()


# ------------------------------------------------------------------ inputs and names
def _as_tuple(example_inputs) -> tuple:
    items = example_inputs if isinstance(example_inputs, (tuple, list)) else (example_inputs,)
    out = []
    for k, x in enumerate(items):
        if isinstance(x, np.ndarray):
            x = Tensor(x)
        if not isinstance(x, Tensor):
            raise TypeError(f"dl.onnx.export: example input {k} must be a Tensor or a NumPy "
                            f"array, got {type(x).__name__}")
        out.append(x)
    return tuple(out)


def _names(given, count: int, default: str, what: str) -> list[str]:
    if given is None:
        return [default] if count == 1 else [f"{default}_{k}" for k in range(count)]
    given = list(given)
    if len(given) != count or len(set(given)) != count:
        raise ValueError(f"dl.onnx.export: {what} must be {count} distinct names, got {given}")
    return given


def _flatten(result) -> list:
    """The output Tensors of a forward result (nested tuples/lists; None left out)."""
    if result is None:
        return []
    if isinstance(result, Tensor):
        return [result]
    if isinstance(result, (tuple, list)):
        return [t for r in result for t in _flatten(r)]
    raise TypeError(f"dl.onnx.export: the model returned a {type(result).__name__}; "
                    f"expected Tensors (or tuples/lists of them)")


def _axes_of(spec, name, rank) -> dict:
    """``{axis: symbol}`` from a dynamic_axes entry (a dict, or a list of axes)."""
    if isinstance(spec, dict):
        out = {int(a) % rank: str(s) for a, s in spec.items()}
    else:
        out = {int(a) % rank: f"{name}_dim{int(a) % rank}" for a in spec}
    return out


def _dynamic(dynamic_axes, input_names, output_names, inputs) -> tuple[dict, dict]:
    """(input axes, output axes): ``{name: {axis: symbol}}``. Default: axis 0 of every
    input is ``batch``."""
    if dynamic_axes is None:
        return {n: {0: "batch"} for n, x in zip(input_names, inputs) if x.ndim}, {}
    unknown = set(dynamic_axes) - set(input_names) - set(output_names)
    if unknown:
        raise ValueError(f"dl.onnx.export: dynamic_axes names {sorted(unknown)}, which are "
                         f"neither inputs {input_names} nor outputs {output_names}")
    ranks = {n: x.ndim for n, x in zip(input_names, inputs)}
    ins = {n: _axes_of(s, n, ranks[n]) for n, s in dynamic_axes.items() if n in ranks}
    outs = {n: s for n, s in dynamic_axes.items() if n not in ranks}
    return ins, outs


def _products(pairs) -> list[tuple[int, int]]:
    """(Π a, Π b) over every non-empty subset of the (a, b) size pairs."""
    out = []
    for mask in range(1, 1 << len(pairs)):
        a = b = 1
        for k, (x, y) in enumerate(pairs):
            if mask >> k & 1:
                a, b = a * x, b * y
        out.append((a, b))
    return out


def _distinguishable(pairs) -> bool:
    """Whether every product of dynamic sizes changes between the traces and no two
    products share a pair: a reshape to batch × slots must not look static (2·3 = 3·2)
    nor be mistaken for another axis."""
    products = _products(pairs)
    return all(a != b for a, b in products) and len(set(products)) == len(products)


def _trace_b_size(a: int, taken: list) -> int:
    """Trace B's size of a dynamic axis of example size ``a``: a−1, a−2, … (sizes ≤ 2:
    a+1, a+2, …; shrinking keeps indices inside tables sized for the example), the first
    one that keeps all sizes :func:`_distinguishable` with those already ``taken``."""
    candidates = [*range(a - 1, 2, -1), *range(a + 1, a + 64)] if a > 2 else \
        range(a + 1, a + 64)
    for b in candidates:
        if _distinguishable([*taken, (a, b)]):
            return b
    raise ExportError(f"dl.onnx.export: no size for a second trace of a dynamic axis of "
                      f"size {a} keeps the dynamic sizes {taken} apart; export with fewer "
                      f"dynamic axes")


def _resized(inputs, input_names, in_axes) -> tuple[tuple, dict]:
    """Trace B's inputs: each dynamic axis resized (:func:`_trace_b_size`) with its
    entries rotated by one; and ``{(a, b): (symbol, input name, axis)}``."""
    sizes: dict[str, int] = {}
    for name, x in zip(input_names, inputs):
        for axis, sym in in_axes.get(name, {}).items():
            if sizes.setdefault(sym, x.shape[axis]) != x.shape[axis]:
                raise ValueError(f"dl.onnx.export: the dynamic axis {sym!r} has sizes "
                                 f"{sizes[sym]} and {x.shape[axis]} in the example inputs")
    new: dict[str, int] = {}
    for sym, a in sizes.items():
        new[sym] = _trace_b_size(a, [(sizes[s], v) for s, v in new.items()])
    symbols, resized = {}, []
    for name, x in zip(input_names, inputs):
        data = x.data
        for axis, sym in in_axes.get(name, {}).items():
            a, b = sizes[sym], new[sym]
            data = np.take(data, [(i - 1) % a for i in range(b)], axis=axis)
            symbols.setdefault((a, b), (sym, name, axis))
        resized.append(Tensor(np.ascontiguousarray(data)) if data is not x.data else x)
    return tuple(resized), symbols


def _trace(model, args, label):
    try:
        return record(model, args)
    except Exception as err:
        if label == "A":
            raise
        sizes = ", ".join(str(tuple(a.shape)) for a in args)
        raise ExportError(f"dl.onnx.export: the model fails at other sizes of its dynamic "
                          f"axes (inputs {sizes}): {err}; export with fixed sizes "
                          f"(dynamic_axes={{}}) or declare only the axes that may vary") from err


# ------------------------------------------------------------------ the conversion
class _Node:
    """What a converter sees of one traced op (see ``converters/__init__.py``)."""

    def __init__(self, call_a, call_b, inputs, value):
        self.op, self.path = call_a.op, call_a.module_path
        self.options, self.options_b = call_a.options, call_b.options
        self.inputs = inputs
        self.arrays = [t.data for t in call_a.inputs]
        self.shapes = [tuple(t.shape) for t in call_a.inputs]
        self.shapes_b = [tuple(t.shape) for t in call_b.inputs]
        self.dtypes = [t.dtype for t in call_a.inputs]
        self.out_arrays = [t.data for t in call_a.outputs]
        self.out_shapes = [tuple(t.shape) for t in call_a.outputs]
        self.out_shapes_b = [tuple(t.shape) for t in call_b.outputs]
        self.out_dtypes = [t.dtype for t in call_a.outputs]
        self.value = value


def _uniform(a):
    flat = a.reshape(-1)
    return a.size > 0 and bool(np.all((flat == flat[0]) | (np.isnan(flat) & np.isnan(flat[0]))))


def _causal(a):
    if a.ndim != 2 or a.dtype.kind != "f":
        return False
    return np.array_equal(a, np.triu(np.full(a.shape, -np.inf, dtype=a.dtype), 1))


class _Converter:
    def __init__(self, model, graph: Graph, opset: int):
        self.g, self.opset = graph, opset
        self.params = {id(t): name for name, t in model.named_parameters()}
        self.params.update({id(t): name for name, t in model.named_buffers()})
        self.param_arrays = {id(t.data): name for name, t in
                             [*model.named_parameters(), *model.named_buffers()]}
        self.names, self.names_b = {}, {}              # id(Tensor) -> value name
        self.arrays, self.arrays_b = {}, {}            # id(array) -> value name
        self.versions = {}
        self.keep = []                                 # arrays whose ids are keys
        self.bool_values = []                          # (name, array A, array B)
        self.where = ""

    def bind(self, ta, tb, name):
        self.names[id(ta)], self.names_b[id(tb)] = name, name
        self.arrays[id(ta.data)], self.arrays_b[id(tb.data)] = name, name
        self.versions[id(ta)] = getattr(ta, "_version", 0)
        self.keep += [ta, tb]
        if ta.dtype == np.bool_:
            self.bool_values.append((name, ta.data, tb.data))

    def fail(self, message):
        raise ExportError(f"dl.onnx.export: {message} (op {self.where}, opset {self.opset})")

    # -------------------------------------------------------------- values
    def tensor(self, ta, tb, version):
        """The ONNX value of an op input: a traced value, a parameter, or a constant."""
        name = self.names.get(id(ta))
        if name is not None:
            if self.versions[id(ta)] != version:
                self.fail("a tensor written in place during the forward pass (x.add_(...), "
                          "x[i] = ...); compute it out of place")
            return name
        if id(ta) in self.params:
            name = self.g.initializer(ta.data, self.g.reserve(self.params[id(ta)]))
        else:
            name = self.constant(ta.data, tb.data)
        self.bind(ta, tb, name)
        return name

    def array(self, a, b):
        """The ONNX value of an array option (``n.value``)."""
        if b is None:
            b = a
        name = self.arrays.get(id(a))
        if name is not None:
            if self.arrays_b.get(id(b)) != name:
                self.fail("an array option that is a graph value in one trace only")
            return name
        if id(a) in self.param_arrays:
            name = self.g.initializer(a, self.g.reserve(self.param_arrays[id(a)]))
        else:
            name = self.constant(np.asarray(a), np.asarray(b))
        self.arrays[id(a)], self.arrays_b[id(b)] = name, name
        self.keep += [a, b]
        return name

    def constant(self, a, b):
        """A tensor made outside the ops: a constant when both traces agree, else one of
        the shape-made forms (one value; the causal mask; a boolean input's mask)."""
        g = self.g
        if a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"):
            return g.const(a)
        if _uniform(a) and _uniform(b) and (a.reshape(-1)[0] == b.reshape(-1)[0] or
                                           np.isnan(a.reshape(-1)[0])):
            try:
                shape = g.shape(a.shape, b.shape, infer=False)
            except ExportError as err:
                self.fail(f"a constant tensor whose shape changes with the input: {err}")
            value = helper.make_tensor("value", helper.np_dtype_to_tensor_dtype(a.dtype), [1],
                                       [a.reshape(-1)[0].item()])
            return g.add("ConstantOfShape", [shape], value=value)
        if _causal(a) and _causal(b):                  # −∞ where key j > query i
            sizes = []
            for n_a, n_b in zip(a.shape, b.shape):
                size = g.ints([n_a]) if n_a == n_b else g.dim(n_a, n_b)
                if size is None:
                    self.fail(f"a causal mask of a size that is no input's ({n_a}, {n_b})")
                sizes.append(g.add("Squeeze", [size, g.ints([0])]))
            zero, one = g.scalar(0, np.int64), g.scalar(1, np.int64)
            rows = g.add("Unsqueeze", [g.add("Range", [zero, sizes[0], one]), g.ints([1])])
            later = g.add("Less", [rows, g.add("Range", [zero, sizes[1], one])])
            return g.add("Where", [later, g.scalar(-np.inf, a.dtype), g.scalar(0, a.dtype)])
        for name, ma, mb in self.bool_values:
            for on, off in ((-np.inf, 0.0), (0.0, -np.inf)):
                if ma.shape == a.shape and mb.shape == b.shape and \
                        np.array_equal(a, np.where(ma, on, off)) and \
                        np.array_equal(b, np.where(mb, on, off)):
                    return g.add("Where", [name, g.scalar(on, a.dtype), g.scalar(off, a.dtype)])
        self.fail(f"a tensor of shape {a.shape} made outside deltaflow ops (NumPy, "
                  f".numpy(), Tensor.constant) depends on the input; build it with deltaflow "
                  f"ops so it can be recorded")

    # -------------------------------------------------------------- ops
    def convert(self, call_a, call_b):
        entry = converters.lookup(call_a.op, self.opset)
        for key, va in call_a.options.items():
            if key not in entry.dynamic and not _same(va, call_b.options.get(key), self):
                self.fail(f"its option {key}={_short(va)} changes with the input size "
                          f"({_short(call_b.options.get(key))} at other sizes)")
        inputs = [self.tensor(ta, tb, v) for ta, tb, v in
                  zip(call_a.inputs, call_b.inputs, call_a.versions)]
        node = _Node(call_a, call_b, inputs, self.array)
        self.g.scope = call_a.module_path
        try:
            outs = entry.convert(self.g, node)
        except ExportError as err:
            self.fail(str(err).removeprefix("dl.onnx.export: "))
        outs = [outs] if isinstance(outs, str) else list(outs)
        if len(outs) != len(call_a.outputs):  # pragma: no cover - a converter bug
            self.fail(f"the converter gave {len(outs)} outputs for {len(call_a.outputs)}")
        for ta, tb, name in zip(call_a.outputs, call_b.outputs, outs):
            self.bind(ta, tb, name)


def _same(a, b, conv) -> bool:
    """Whether an option has the same value in both traces (arrays: the same graph value,
    or equal constants)."""
    if isinstance(a, np.ndarray) or hasattr(a, "__cuda_array_interface__"):
        if not isinstance(b, type(a)):
            return False
        name = conv.arrays.get(id(a)) or conv.param_arrays.get(id(a))
        if name is not None:
            return name == (conv.arrays_b.get(id(b)) or conv.param_arrays.get(id(b)))
        return a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    if isinstance(a, (tuple, list)):
        return isinstance(b, (tuple, list)) and len(a) == len(b) and all(
            _same(x, y, conv) for x, y in zip(a, b))
    if isinstance(a, slice):
        return isinstance(b, slice) and all(_same(x, y, conv) for x, y in
                                            zip((a.start, a.stop, a.step),
                                                (b.start, b.stop, b.step)))
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return True
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return a is b


def _short(value) -> str:
    if isinstance(value, np.ndarray):
        return f"<array {value.shape}>"
    text = repr(value)
    return text if len(text) < 60 else text[:57] + "..."


def _where(call, opset) -> str:
    return (f"'{call.op.op_name()}' ({call.op.__module__}.{call.op.__name__}) in module "
            f"'{call.module_path or '(the top level)'}'")


def _arrays_in(value):
    if isinstance(value, (tuple, list)):
        return [a for v in value for a in _arrays_in(v)]
    return [value] if hasattr(value, "shape") and hasattr(value, "dtype") else []


def _live(calls, outputs) -> set[int]:
    """Indices of the calls the outputs depend on (others, such as attention weights that
    are not returned, are left out of the graph)."""
    tensors = {id(t) for t in outputs}
    arrays = {id(t.data) for t in outputs}
    live = set()
    for k in range(len(calls) - 1, -1, -1):
        call = calls[k]
        if any(id(t) in tensors or id(t.data) in arrays for t in call.outputs):
            live.add(k)
            tensors.update(id(t) for t in call.inputs)
            arrays.update(id(t.data) for t in call.inputs)
            arrays.update(id(a) for v in call.options.values() for a in _arrays_in(v))
    return live


def _check_supported(calls, opset):
    for call in calls:
        if converters.lookup(call.op, opset) is None:
            later = sorted(e.since for e in converters.TABLE.get(call.op, ()))
            extra = f"; it has one from opset {later[0]}" if later else ""
            raise ExportError(f"dl.onnx.export: no ONNX converter for op {_where(call, opset)} "
                              f"at opset {opset}{extra}")


def _value_info(name, t_a, t_b, symbols, named):
    dims = []
    for axis, (a, b) in enumerate(zip(t_a.shape, t_b.shape)):
        if axis in named:
            dims.append(named[axis])
        elif a == b:
            dims.append(int(a))
        else:
            found = symbols.get((a, b))
            dims.append(found[0] if found else f"{name}_dim{axis}")
    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(t_a.dtype), dims)


def build(model, example_inputs, opset_version=17, input_names=None, output_names=None,
          dynamic_axes=None, metadata=None) -> onnx.ModelProto:
    """The checked ``ModelProto`` that :func:`export` writes (nothing is written here)."""
    if not MIN_OPSET <= int(opset_version) <= _max_opset():
        raise ValueError(f"dl.onnx.export: opset_version must be in [{MIN_OPSET}, "
                         f"{_max_opset()}] (the installed onnx's newest), got {opset_version}")
    opset = int(opset_version)
    inputs = _as_tuple(example_inputs)
    input_names = _names(input_names, len(inputs), "input", "input_names")
    was_training = model.training
    model.eval()
    try:
        calls_a, result_a = _trace(model, inputs, "A")
        outputs_a = _flatten(result_a)
        output_names = _names(output_names, len(outputs_a), "output", "output_names")
        in_axes, out_axes = _dynamic(dynamic_axes, input_names, output_names, inputs)
        inputs_b, symbols = _resized(inputs, input_names, in_axes)
        calls_b, result_b = _trace(model, inputs_b, "B")
    finally:
        model.train(was_training)
    outputs_b = _flatten(result_b)
    if [c.op for c in calls_a] != [c.op for c in calls_b] or len(outputs_a) != len(outputs_b):
        raise ExportError("dl.onnx.export: the model applies other ops at other input sizes "
                          "(Python control flow on shapes or values); export with fixed sizes "
                          "(dynamic_axes={})")
    live = _live(calls_a, outputs_a)
    calls_a = [c for k, c in enumerate(calls_a) if k in live]
    calls_b = [c for k, c in enumerate(calls_b) if k in live]
    _check_supported(calls_a, opset)

    g = Graph(opset, symbols)
    conv = _Converter(model, g, opset)
    graph_inputs = []
    for name, ta, tb in zip(input_names, inputs, inputs_b):
        conv.bind(ta, tb, g.reserve(name))
        graph_inputs.append(_value_info(name, ta, tb, symbols, in_axes.get(name, {})))
    for call_a, call_b in zip(calls_a, calls_b):
        conv.where = _where(call_a, opset)
        conv.convert(call_a, call_b)
    graph_outputs = _outputs(g, conv, outputs_a, outputs_b, output_names, symbols, out_axes)
    used = {i for node in g.nodes for i in node.input} | {o.name for o in graph_outputs}
    for name in input_names:
        if name not in used:
            raise ExportError(f"dl.onnx.export: input {name!r} does not reach the outputs: the "
                              f"model reads it outside deltaflow ops (.numpy(), NumPy)")
    graph = helper.make_graph(g.nodes, type(model).__name__, graph_inputs, graph_outputs,
                              initializer=g.initializers)
    opsets = [helper.make_opsetid("", opset)]
    proto = helper.make_model(graph, opset_imports=opsets, producer_name="deltaflow",
                              ir_version=helper.find_min_ir_version_for(opsets))
    for key, value in (metadata or {}).items():
        proto.metadata_props.add(key=str(key), value=str(value))
    onnx.checker.check_model(proto, full_check=True)
    return proto


def _outputs(g, conv, outputs_a, outputs_b, output_names, symbols, out_axes):
    """Name the graph outputs: the producing node's output is renamed (an Identity when
    the value is an input, an initializer or an output already)."""
    producers = {o: node for node in g.nodes for o in node.output}
    infos, taken = [], set()
    for name, ta, tb in zip(output_names, outputs_a, outputs_b):
        value = conv.names.get(id(ta))
        if value is None:
            raise ExportError(f"dl.onnx.export: output {name!r} is not computed by any op")
        g.reserve(name)
        if value in producers and value not in taken:
            _rename(g.nodes, value, name)
            producers[name] = producers.pop(value)
        else:
            g.nodes.append(helper.make_node("Identity", [value], [name], name=f"{name}_identity"))
        taken.add(value)
        named = _axes_of(out_axes[name], name, ta.ndim) if name in out_axes else {}
        for axis in named:
            if ta.shape[axis] == tb.shape[axis]:
                raise ValueError(f"dl.onnx.export: dynamic_axes names axis {axis} of output "
                                 f"{name!r}, which does not change with the dynamic inputs")
        infos.append(_value_info(name, ta, tb, symbols, named))
    return infos


def _rename(nodes, old, new):
    for node in nodes:
        for seq in (node.input, node.output):
            for k, v in enumerate(seq):
                if v == old:
                    seq[k] = new


def export(model, example_inputs, path, opset_version: int = 17, input_names=None,
           output_names=None, dynamic_axes=None, *, metadata=None) -> onnx.ModelProto:
    """Write ``model`` as the ONNX file ``path``; returns the ``ModelProto``.

    ``example_inputs``: a Tensor (or NumPy array) or a tuple of them, run once through the
    model in eval mode (Dropout is the identity, BatchNorm uses its running statistics).
    ``input_names`` / ``output_names`` default to ``input``/``output`` (``_k`` suffixes for
    several). ``dynamic_axes``: ``{name: {axis: symbol}}`` or ``{name: [axes]}`` as for
    ``torch.onnx.export``; default: axis 0 of every input is the dynamic ``batch``.
    ``metadata``: string pairs stored as the model's ``metadata_props``.

    Raises :class:`ExportError` (a ValueError) naming the op, its module path and the
    opset for an op without a converter, before anything is written; the file is written
    atomically (``deltaflow.io``).
    """
    proto = build(model, example_inputs, opset_version, input_names, output_names,
                  dynamic_axes, metadata)
    with io.atomic_path(path) as tmp:
        onnx.save_model(proto, str(tmp))
    return proto
