"""``dl.viz.graph``: the autograd graph behind a tensor, as a picture.

    with dl.viz.trace():                         # record which module ran each op
        loss = F.cross_entropy(model(x), y)
    g = dl.viz.graph(loss, model=model, grads="norm")
    g.render("graph.svg")                        # .svg .png .pdf through Graphviz, .dot always

One node per recorded op (its name, output shape and dtype) and one per leaf: a parameter
(by its name in ``params``, or ``model.named_parameters()``), an input or a constant (by its
shape). Edges point the way the forward pass went, from a tensor's producer to each op that
used it.

With ``grads`` the graph runs one backward from ``output`` (a scalar: the loss) that leaves
every ``.grad`` alone and keeps the graph (your own ``loss.backward()`` still works), and
labels each edge with a statistic of the gradient that flowed back along it, ∂L/∂t of the
tensor t the edge carries (summed over t's consumers, as autograd sums it): its norm ‖g‖,
``mean`` |g| or ``max`` |g|. A node whose gradient holds a NaN or ±Inf is red; one whose
gradient norm is at most ``vanish_ratio`` × the largest parameter-gradient norm (zero
included: a dead ReLU) is orange.

Modules: ops created inside ``dl.viz.trace()`` know the module whose ``forward`` ran them
(``Function.module_path``, which anomaly mode records; ``trace`` is anomaly mode with its
NaN checks off). Every module becomes a cluster; ``depth=N`` collapses each module N levels
below the model into one box (its class, op count, parameter count, outgoing shapes), so a
CNN or a Transformer layer is a handful of boxes; ``depth="auto"`` (the default) picks the
deepest level with at most ``max_nodes`` nodes. Ops recorded outside ``trace`` are placed by
the parameters they use only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from ..autograd import inplace
from ..autograd.anomaly import detect_anomaly

STATS = ("norm", "mean", "max")

#: ops that run a whole sequence (or attention's softmax(QKᵀ)V) as one node
FUSED = {"rnn_layer": "every time step of an RNN layer",
         "lstm_layer": "every time step of an LSTM layer (gates, cell and hidden state)",
         "lstm_proj_layer": "every time step of a projected LSTM layer",
         "gru_layer": "every time step of a GRU layer",
         "scaled_dot_product_attention": "softmax(QKᵀ/√d)V of every head"}


def trace():
    """``with dl.viz.trace():`` -- ops created inside remember the module that ran them, so
    :func:`graph` can draw module clusters (anomaly mode's bookkeeping, without its checks)."""
    return detect_anomaly(check_nan=False)


@dataclass(frozen=True)
class GradStats:
    """Statistics of one gradient array: ‖g‖, mean |g|, max |g| (finite entries) and how
    many entries are NaN or ±Inf."""

    norm: float
    mean: float
    max: float
    nonfinite: int

    @classmethod
    def of(cls, g) -> GradStats:
        a = np.asarray(g.get() if hasattr(g, "get") else g, dtype=np.float64)
        finite = np.isfinite(a)
        bad = int(a.size - finite.sum())
        a = np.abs(a[finite]) if bad else np.abs(a)
        if not a.size:
            return cls(math.nan, math.nan, math.nan, bad)
        return cls(float(np.sqrt((a * a).sum())), float(a.mean()), float(a.max()), bad)

    @classmethod
    def combine(cls, stats) -> GradStats | None:
        stats = [s for s in stats if s is not None]
        if len(stats) < 2:
            return stats[0] if stats else None
        return cls(float(math.sqrt(sum(s.norm ** 2 for s in stats if s.norm == s.norm))),
                   float(np.mean([s.mean for s in stats])), max(s.max for s in stats),
                   sum(s.nonfinite for s in stats))

    def value(self, stat: str) -> float:
        return getattr(self, stat)

    def text(self, stat: str) -> str:
        head = {"norm": "‖g‖", "mean": "mean|g|", "max": "max|g|"}[stat]
        text = f"{head} {_num(self.value(stat))}"
        return text + (f", {self.nonfinite} NaN/Inf" if self.nonfinite else "")


@dataclass
class Node:
    """One box of the picture. ``kind``: ``op``, ``param``, ``input`` (a leaf that needs no
    gradient: data, a constant) or ``module`` (a collapsed module)."""

    id: str
    kind: str
    name: str
    shapes: tuple                     # the output shape(s)
    dtype: str
    module: str = ""                  # dotted path below the model ("" = the model itself)
    grad: GradStats | None = None     # of the output (all outputs together)
    flag: str | None = None           # "nonfinite" or "vanishing"
    detail: str = ""                  # a collapsed module: class, ops, parameters
    is_output: bool = False
    members: tuple = ()               # a collapsed module: the ids of the nodes inside


@dataclass
class Edge:
    """A tensor going from ``src`` to the op ``dst`` (forward direction)."""

    src: str
    dst: str
    shape: tuple
    grad: GradStats | None = None     # ∂L/∂(this tensor)
    flag: str | None = None
    out_index: int = 0                # which output of a multi-output op


@dataclass
class Graph:
    """The picture data; ``to_dot()`` is its Graphviz text, ``render(path)`` writes it."""

    nodes: list
    edges: list
    modules: dict = field(default_factory=dict)   # module path -> class name
    stat: str | None = None
    depth: int | None = None                      # None: every op
    notes: list = field(default_factory=list)     # what the picture cannot show
    full: Graph | None = None                     # every op (what at_depth collapses)
    traced: bool = False

    def node(self, name: str) -> Node:
        """The first node called ``name`` (an op name, parameter name or module path)."""
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"viz.graph: no node named {name!r}; nodes: "
                       f"{', '.join(sorted({n.name for n in self.nodes}))}")

    def at_depth(self, depth) -> Graph:
        """The same graph with every module ``depth`` levels below the model collapsed into
        one box (``None``: every op)."""
        return collapse(self.full or self, depth)

    def max_depth(self) -> int:
        full = self.full or self
        return max((len(_parts(n.module)) for n in full.nodes), default=0)

    def to_dot(self) -> str:
        from .dot import to_dot
        return to_dot(self)

    def pipe(self, format: str = "svg") -> bytes:
        from .dot import pipe
        return pipe(self.to_dot(), format)

    def render(self, path) -> str:
        """Write ``path`` (.svg, .png, .pdf through Graphviz; .dot / .gv as text)."""
        from .dot import render
        return render(self.to_dot(), path)

    def _repr_svg_(self) -> str:
        return self.pipe("svg").decode("utf-8")

    def __repr__(self) -> str:
        ops = sum(n.kind == "op" for n in self.nodes)
        depth = "every op" if self.depth is None else f"depth {self.depth}"
        return (f"<viz.Graph: {len(self.nodes)} nodes ({ops} ops), {len(self.edges)} edges, "
                f"{depth}{', grads ' + self.stat if self.stat else ''}>")


# --------------------------------------------------------------------------- building
def graph(output, params=None, *, model=None, grads=None, depth="auto", max_nodes=60,
          vanish_ratio=1e-4) -> Graph:
    """The autograd graph behind ``output`` (a Tensor, or a list of them).

    ``params``: ``{name: tensor}`` naming leaves (``dict(model.named_parameters())``; inputs
    may be named too); ``model``: takes the parameter names and module classes from it.
    ``grads``: ``"norm"``, ``"mean"`` or ``"max"`` (``True`` = norm) runs a backward from
    the scalar ``output`` and labels edges with that statistic of |∂L/∂t|. ``depth``: see
    the module docstring.
    """
    from ..tensor import Tensor
    outputs = [output] if isinstance(output, Tensor) else list(output)
    if not outputs or not all(isinstance(t, Tensor) for t in outputs):
        raise TypeError("viz.graph: expected a Tensor (or a list of Tensors), got "
                        f"{type(output).__name__}")
    if not any(t.requires_grad for t in outputs):
        raise ValueError("viz.graph: the tensor has no graph to draw (requires_grad is False): "
                         "was it computed under no_grad, or from tensors without "
                         "requires_grad=True?")
    stat = _stat(grads)
    names = {}
    modules = {}
    if model is not None:
        names.update({id(p): n for n, p in model.named_parameters()})
        modules = {n: type(m).__name__ for n, m in model.named_modules()}
    names.update({id(t): n for n, t in (params or {}).items()})
    full, places, leaves = _walk(outputs, names)
    if stat is not None:
        _add_grads(full, outputs, places, leaves, stat, vanish_ratio)
    full.modules = modules
    full.stat = stat
    _place_modules(full)
    full.notes = _notes(full)
    if depth == "auto":
        depth = _auto_depth(full, max_nodes)
    return collapse(full, depth)


def _stat(grads):
    if grads is None or grads is False:
        return None
    if grads is True:
        return "norm"
    if grads not in STATS:
        raise ValueError(f"viz.graph: grads must be one of {', '.join(STATS)} (or True), "
                         f"got {grads!r}")
    return grads


def _place(t, clock):
    """``(ctx, idx, requires_grad)``: where tensor ``t`` stood in the graph when a node
    recorded at ``clock`` used it (an in-place write later moves ``t``; see autograd/inplace)."""
    if clock < inplace.last_rebase:
        return inplace.as_of(t, clock)
    return t._ctx, t._idx, t.requires_grad


def _walk(outputs, names):
    """Every op and leaf reachable from ``outputs``: ``(graph, places, leaves)`` where
    ``places`` maps ``(Function, output index)`` to ``(node id, output index)`` and
    ``leaves`` a leaf's node id to its Tensor (both only for the gradient hooks)."""
    from ..autograd.engine import topological_order
    roots = [t._ctx for t in outputs if t._ctx is not None]
    forward = list(reversed(topological_order(roots)))   # producers before consumers
    ids = {fn: f"op{k}" for k, fn in enumerate(forward)}
    seen = {}   # fn -> {output index: (shape, dtype)}, from the tensors that carry them
    for t in outputs:
        if t._ctx is not None:
            seen.setdefault(t._ctx, {})[t._idx] = (tuple(t.shape), t.dtype)
    for fn in forward:
        for t in fn.parents:
            ctx, idx, _ = _place(t, fn.clock_at_forward)
            if ctx is not None:
                seen.setdefault(ctx, {})[idx] = (tuple(t.shape), t.dtype)
    nodes, edges, places, leaves, leaf_ids = {}, [], {}, {}, {}
    for fn in forward:
        shapes, dtype = _out_meta(fn, seen.get(fn, {}))
        nodes[ids[fn]] = Node(ids[fn], "op", fn.op_name(), shapes, dtype,
                              module=_relative(getattr(fn, "module_path", None)))
        for k in range(len(shapes)):
            places[(fn, k)] = (ids[fn], k)
    for fn in forward:
        for t in fn.parents:
            ctx, idx, requires_grad = _place(t, fn.clock_at_forward)
            if ctx is not None:
                edges.append(Edge(ids[ctx], ids[fn], tuple(t.shape), out_index=idx))
                continue
            src = leaf_ids.get(id(t))
            if src is None:
                src = leaf_ids[id(t)] = f"leaf{len(leaf_ids)}"
                name = names.get(id(t))
                kind = "param" if requires_grad else "input"
                nodes[src] = Node(src, kind, name or ("leaf" if requires_grad else "input"),
                                  (tuple(t.shape),), str(t.dtype),
                                  module=_param_module(name) if requires_grad else "")
                leaves[src] = t
            edges.append(Edge(src, ids[fn], tuple(t.shape)))
    for fn in roots:
        nodes[ids[fn]].is_output = True
    traced = any(hasattr(fn, "module_path") for fn in forward)
    return Graph(list(nodes.values()), edges, traced=traced), places, leaves


def _out_meta(fn, seen):
    if getattr(fn, "n_outputs", 1) > 1:
        shapes = tuple(tuple(s) for s, _ in fn.out_meta)
        return shapes, str(fn.out_meta[0][1])
    shape, dtype = seen.get(0, ((), None))
    return (shape,), str(dtype)


def _relative(path):
    """``"model.0.attn"`` → ``"0.attn"``; the model itself (or no module) → ``""``."""
    if not path:
        return ""
    return path.partition(".")[2]


def _param_module(name):
    return name.rpartition(".")[0] if name else ""


def _parts(module):
    return module.split(".") if module else []


def _add_grads(g, outputs, places, leaves, stat, vanish_ratio):
    """Run one backward from ``outputs`` with hooks on every tensor of the graph; keep
    statistics only (the graph holds no array)."""
    from ..autograd.engine import run_backward
    from ..hooks import RemovableHandle
    from ..tensor import root_grads
    if len(outputs) != 1 or outputs[0].data.size != 1:
        shapes = ", ".join(str(tuple(t.shape)) for t in outputs)
        raise ValueError(f"viz.graph: grads runs a backward from the output, which must be one "
                         f"scalar (a loss); got shape {shapes}: pass the loss, or graph(out.sum())")
    captured = {}
    handles = []

    def keep(key):
        def hook(grad):
            captured[key] = GradStats.of(grad.data)
        return hook

    for (fn, idx), key in places.items():
        if fn.out_hooks is None:
            fn.out_hooks = {}
        hooks = fn.out_hooks.setdefault(idx, {})
        handle = RemovableHandle(hooks)
        hooks[handle.id] = keep(key)
        handles.append(handle)
    for node_id, t in leaves.items():
        if t.requires_grad:
            handles.append(t.register_hook(keep((node_id, 0))))
    try:
        run_backward(outputs, root_grads(outputs, None), True, accumulate=False)
    except RuntimeError as err:
        if "second time" in str(err):
            raise RuntimeError("viz.graph: grads runs its own backward, and this graph was "
                               "already freed by a backward: call graph() before "
                               "loss.backward(), or pass retain_graph=True to it") from None
        raise
    finally:
        for h in handles:
            h.remove()
    kinds = {n.id: n.kind for n in g.nodes}
    params = [s for (nid, _), s in captured.items() if kinds[nid] == "param"]
    reference = max((s.norm for s in params if s.norm == s.norm),
                    default=max((s.norm for s in captured.values() if s.norm == s.norm),
                                default=0.0))

    def flag(s):
        if s is None:
            return None
        if s.nonfinite:
            return "nonfinite"
        return "vanishing" if reference > 0 and s.norm <= vanish_ratio * reference else None

    by_node = {}
    for (nid, _), s in captured.items():
        by_node.setdefault(nid, []).append(s)
    for n in g.nodes:
        n.grad = GradStats.combine(by_node.get(n.id, []))
        n.flag = flag(n.grad)
    for e in g.edges:
        e.grad = captured.get((e.src, e.out_index))
        e.flag = flag(e.grad)


def _place_modules(g):
    """Ops recorded outside ``trace()``: put each with the module of its first parameter."""
    if g.traced:
        return
    uses, index = {}, {n.id: n for n in g.nodes}
    for e in g.edges:
        src = index[e.src]
        if src.kind == "param" and src.module:
            uses.setdefault(e.dst, src.module)
    for n in g.nodes:
        if n.kind == "op":
            n.module = uses.get(n.id, "")


def _notes(g):
    notes = []
    fused = sorted({n.name for n in g.nodes if n.kind == "op" and n.name in FUSED})
    for name in fused:
        notes.append(f"'{name}' is one op: the graph cannot show {FUSED[name]} inside it")
    if not g.traced:
        notes.append("ops were recorded outside dl.viz.trace(): module clusters come from "
                     "the parameters each op uses")
    if not g.stat:
        notes.append("no gradients shown (pass grads='norm', or --grads)")
    return notes


def _auto_depth(full, max_nodes):
    """The deepest module level whose picture has at most ``max_nodes`` nodes (every op if
    the whole graph fits)."""
    if len(full.nodes) <= max_nodes:
        return None
    for depth in range(full.max_depth(), -1, -1):
        if len(collapse(full, depth).nodes) <= max_nodes:
            return depth
    return 0


def collapse(full, depth) -> Graph:
    """``full`` with each module ``depth`` levels below the model drawn as one box."""
    if depth is not None and (not isinstance(depth, int) or depth < 0):
        raise ValueError(f"viz.graph: depth must be a non-negative integer, 'auto' or None "
                         f"(every op), got {depth!r}")
    notes = list(full.notes)
    if depth is None:
        return replace(full, depth=None, full=full, notes=notes)

    def key(n):
        parts = _parts(n.module)
        if n.kind == "input" or len(parts) < depth or (n.kind == "param" and not n.module
                                                        and depth > 0):
            return n.id
        return "m:" + ".".join(parts[:depth])

    groups = {}
    for n in full.nodes:
        groups.setdefault(key(n), []).append(n)
    boxes = {}
    for k, members in groups.items():
        if not k.startswith("m:"):
            boxes[k] = members[0]
            continue
        boxes[k] = _box(k, members, full)
    index = {n.id: key(n) for n in full.nodes}
    edges, seen = [], set()
    outgoing = {}
    for e in full.edges:
        s, t = index[e.src], index[e.dst]
        if s == t:
            continue
        mark = (s, t, e.src, e.out_index)
        if mark in seen:
            continue
        seen.add(mark)
        edges.append(replace(e, src=s, dst=t))
        if s.startswith("m:"):
            outgoing.setdefault(s, {})[(e.src, e.out_index)] = e.shape
    for k, box in boxes.items():
        if k in outgoing:
            box.shapes = tuple(dict.fromkeys(outgoing[k].values()))
    return Graph(list(boxes.values()), edges, full.modules, full.stat, depth, notes, full,
                 full.traced)


def _box(key, members, full):
    path = key[2:]
    ops = [n for n in members if n.kind == "op"]
    params = [n for n in members if n.kind == "param"]
    n_params = sum(math.prod(n.shapes[0]) for n in params)
    cls = full.modules.get(path, "")
    detail = ", ".join(x for x in (cls, f"{len(ops)} op{'s' * (len(ops) != 1)}",
                                   f"{n_params:,} parameters" if params else "") if x)
    grads = GradStats.combine(n.grad for n in params) if full.stat else None
    flags = {n.flag for n in members}
    flag = "nonfinite" if "nonfinite" in flags else ("vanishing" if "vanishing" in flags
                                                     else None)
    dtypes = sorted({n.dtype for n in ops if n.dtype != "None"})
    return Node(key, "module", path or "model", (), ", ".join(dtypes), module=path,
                grad=grads, flag=flag, detail=detail, members=tuple(n.id for n in members),
                is_output=any(n.is_output for n in members))


def _num(x) -> str:
    if x != x:
        return "nan"
    return f"{x:.3g}" if 1e-3 <= abs(x) < 1e4 or x == 0 else f"{x:.2e}"


__all__ = ["Edge", "GradStats", "Graph", "Node", "STATS", "collapse", "graph", "trace"]
