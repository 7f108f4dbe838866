"""A :class:`~deltaflow.viz.graph.Graph` as Graphviz DOT text, and DOT rendered to SVG/PNG/PDF.

DOT needs nothing; rendering needs the ``graphviz`` Python package (``pip install
"deltaflow[viz]"``) and Graphviz's ``dot`` program (``apt-get install graphviz``, ``brew
install graphviz``, ``conda install graphviz``). Modules are nested ``cluster`` subgraphs;
edges point the way the forward pass went.
"""
from __future__ import annotations

from pathlib import Path

from .. import io

RENDERED = (".svg", ".png", ".pdf")
TEXT = (".dot", ".gv")

_STYLE = {  # kind -> node attributes
    "op": 'shape=box, style="rounded,filled", fillcolor="#e8eefb"',
    "param": 'shape=box, style="filled", fillcolor="#e3f4e1"',
    "input": 'shape=ellipse, style="filled", fillcolor="#f1f1f1"',
    "module": 'shape=box3d, style="filled", fillcolor="#fff1d6"',
}
_FLAG = {  # flag -> extra node / edge attributes
    "nonfinite": ('color="#c62828", fillcolor="#ffcdd2", penwidth=2',
                  'color="#c62828", fontcolor="#c62828", penwidth=2'),
    "vanishing": ('color="#ef6c00", fillcolor="#ffe0b2", penwidth=2',
                  'color="#ef6c00", fontcolor="#ef6c00", style=dashed'),
}
_FLAG_TEXT = {"nonfinite": "NaN/Inf gradient", "vanishing": "vanishing gradient"}


def _quote(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _shape(shape) -> str:
    return "scalar" if len(shape) == 0 else str(tuple(shape))


def _label(node, stat) -> str:
    if node.kind == "module":
        lines = [node.name, node.detail]
        if node.shapes:
            lines.append(" ".join(_shape(s) for s in node.shapes) + f" {node.dtype}".rstrip())
    else:
        shapes = " ".join(_shape(s) for s in node.shapes)
        lines = [node.name, f"{shapes} {node.dtype}"]
    if stat and node.grad is not None:
        grad = node.grad.text(stat)
        lines.append(("∇θ " if node.kind == "module" else "") + grad)
    if node.flag:
        lines.append("⚠ " + _FLAG_TEXT[node.flag])
    return "\n".join(x for x in lines if x)


def to_dot(g) -> str:
    """The Graphviz text of graph ``g``."""
    depth = "every op" if g.depth is None else f"modules collapsed at depth {g.depth}"
    title = "autograd graph (forward direction), " + depth
    if g.stat:
        title += f"; edges: {g.stat} of ∂L/∂tensor"
    lines = ["digraph autograd {",
             '  graph [rankdir=TB, fontname="Helvetica", fontsize=11, labelloc=t, '
             f"label={_quote(title)}, nodesep=0.25, ranksep=0.35];",
             '  node [fontname="Helvetica", fontsize=10, margin="0.08,0.04"];',
             '  edge [fontname="Helvetica", fontsize=9, color="#555555", arrowsize=0.7];']
    tree = _cluster_tree(g)
    _write_cluster(lines, "", tree, g, indent="  ")
    for e in g.edges:
        attrs = []
        if g.stat and e.grad is not None:
            attrs.append(f"label={_quote(e.grad.text(g.stat))}")
        if e.flag:
            attrs.append(_FLAG[e.flag][1])
        extra = f" [{', '.join(attrs)}]" if attrs else ""
        lines.append(f"  {_quote(e.src)} -> {_quote(e.dst)}{extra};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _home(node) -> str:
    """The module cluster a node is drawn in (a collapsed module: its parent's)."""
    if node.kind == "module":
        return node.module.rpartition(".")[0] if node.module else None
    return node.module


def _cluster_tree(g):
    """``{module path: [node, ...]}`` with every ancestor path present."""
    tree = {"": []}
    for n in g.nodes:
        home = _home(n)
        if home is None:
            tree[""].append(n)
            continue
        tree.setdefault(home, []).append(n)
        parts = home.split(".") if home else []
        for k in range(1, len(parts)):
            tree.setdefault(".".join(parts[:k]), [])
    return tree


def _write_cluster(lines, path, tree, g, indent):
    for n in tree.get(path, []):
        attrs = [_STYLE[n.kind], f"label={_quote(_label(n, g.stat))}"]
        if n.is_output:
            attrs.append("peripheries=2")
        if n.flag:
            attrs.append(_FLAG[n.flag][0])
        lines.append(f"{indent}{_quote(n.id)} [{', '.join(attrs)}];")
    prefix = path + "." if path else ""
    children = [p for p in tree if p.startswith(prefix) and p != path
                and "." not in p[len(prefix):]]
    for child in children:
        cls = g.modules.get(child)
        label = f"{child} ({cls})" if cls else child
        lines.append(f"{indent}subgraph {_quote('cluster_' + child)} {{")
        lines.append(f'{indent}  label={_quote(label)}; style="rounded,dashed"; '
                     f'color="#8a8a8a"; fontsize=10;')
        _write_cluster(lines, child, tree, g, indent + "  ")
        lines.append(f"{indent}}}")


# ------------------------------------------------------------------------- rendering
def _graphviz():
    try:
        import graphviz
    except ImportError:
        raise ImportError("viz: rendering SVG/PNG needs the graphviz Python package: pip "
                          "install 'deltaflow[viz]' (or write DOT text, which needs nothing: "
                          "--output graph.dot, Graph.to_dot())") from None
    return graphviz


def pipe(dot: str, format: str = "svg") -> bytes:
    """``dot`` rendered by Graphviz to ``format`` (svg, png, pdf)."""
    graphviz = _graphviz()
    try:
        return graphviz.Source(dot).pipe(format=format)
    except graphviz.ExecutableNotFound:
        raise RuntimeError("viz: Graphviz's 'dot' program is not installed: apt-get install "
                           "graphviz (Debian/Ubuntu), brew install graphviz (macOS), conda "
                           "install graphviz; or write DOT text (--output graph.dot)") from None


def render(dot: str, path) -> str:
    """Write ``dot`` to ``path``: as text for .dot/.gv, rendered for .svg/.png/.pdf."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in TEXT:
        with io.atomic_write(path, "w") as f:
            f.write(dot)
    elif suffix in RENDERED:
        data = pipe(dot, suffix[1:])
        with io.atomic_write(path, "wb") as f:
            f.write(data)
    else:
        raise ValueError(f"viz: cannot write {path.name}: the file name must end in "
                         f"{', '.join(RENDERED + TEXT)}")
    return str(path)


__all__ = ["pipe", "render", "to_dot"]
