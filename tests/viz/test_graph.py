"""``dl.viz.graph``: nodes, edges, gradient labels (against PyTorch), marks, module clusters,
depth collapsing, DOT that Graphviz accepts."""
import shutil
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import deltaflow as dl
from deltaflow import nn
from deltaflow.nn import functional as F
from deltaflow.viz import GradStats, graph, trace

A = np.array([0.5, -1.0, 2.0])
B = np.array([1.5, 0.3, -0.7])
X = np.array([1.0, 2.0, 3.0])


def expression():
    """L = Σ (exp(a ⊙ b) + x ⊙ a): a and b parameters, x an input; a is used twice."""
    a = dl.tensor(A.copy(), requires_grad=True)
    b = dl.tensor(B.copy(), requires_grad=True)
    x = dl.tensor(X.copy())
    return ((a * b).exp() + x * a).sum(), {"a": a, "b": b, "x": x}


def named_edges(g):
    name = {n.id: f"{n.name}#{n.id}" if n.kind == "op" else n.name for n in g.nodes}
    return sorted((name[e.src], name[e.dst]) for e in g.edges)


def test_known_expression_nodes_and_edges():
    L, leaves = expression()
    g = graph(L, params=leaves)
    assert [(n.kind, n.name, n.shapes, n.dtype) for n in g.nodes] == [
        ("op", "mul", ((3,),), "float64"), ("op", "exp", ((3,),), "float64"),
        ("op", "mul", ((3,),), "float64"), ("op", "add", ((3,),), "float64"),
        ("op", "sum", ((),), "float64"),
        ("param", "a", ((3,),), "float64"), ("param", "b", ((3,),), "float64"),
        ("input", "x", ((3,),), "float64")]
    assert named_edges(g) == sorted([
        ("a", "mul#op0"), ("b", "mul#op0"), ("mul#op0", "exp#op1"), ("x", "mul#op2"),
        ("a", "mul#op2"), ("exp#op1", "add#op3"), ("mul#op2", "add#op3"),
        ("add#op3", "sum#op4")])
    assert [n.name for n in g.nodes if n.is_output] == ["sum"]
    assert g.depth is None and g.stat is None


def torch_gradients():
    """∂L/∂t of every tensor of the expression, from PyTorch (float64)."""
    torch = pytest.importorskip("torch")
    a = torch.tensor(A, requires_grad=True)
    b = torch.tensor(B, requires_grad=True)
    x = torch.tensor(X)
    ab = a * b
    e = ab.exp()
    xa = x * a
    s = e + xa
    for t in (ab, e, xa, s):
        t.retain_grad()
    s.sum().backward()
    return {"a": a.grad, "b": b.grad, "op0": ab.grad, "op1": e.grad, "op2": xa.grad,
            "op3": s.grad}


@pytest.mark.parametrize("stat", ["norm", "mean", "max"])
def test_gradient_labels_equal_autograd(stat):
    expected = torch_gradients()
    L, leaves = expression()
    g = graph(L, params=leaves, grads=stat)
    name = {n.id: n.name for n in g.nodes}
    labelled = 0
    for e in g.edges:
        key = name[e.src] if e.src.startswith("leaf") else e.src
        if key == "x":
            assert e.grad is None            # an input that needs no gradient
            continue
        want = np.abs(expected[key].numpy())
        ref = {"norm": np.sqrt((want ** 2).sum()), "mean": want.mean(), "max": want.max()}
        assert e.grad.value(stat) == pytest.approx(ref[stat], rel=1e-12, abs=1e-15)
        labelled += 1
    assert labelled == 7
    # a is used by two ops: its node shows the total gradient b·exp(ab) + x
    total = np.abs(expected["a"].numpy())
    assert g.node("a").grad.norm == pytest.approx(np.sqrt((total ** 2).sum()), rel=1e-12)
    assert g.node("sum").grad.norm == 1.0


def test_grads_leave_grad_alone_and_keep_the_graph():
    L, leaves = expression()
    graph(L, params=leaves, grads=True)
    assert leaves["a"].grad is None and leaves["b"].grad is None
    L.backward()                                          # the graph was kept
    np.testing.assert_allclose(leaves["a"].grad.numpy(), B * np.exp(A * B) + X, rtol=1e-14)


def test_graph_after_backward_says_how_to_get_gradients():
    L, leaves = expression()
    L.backward()
    assert len(graph(L, params=leaves).nodes) == 8        # the structure is still there
    with pytest.raises(RuntimeError, match="before loss.backward"):
        graph(L, params=leaves, grads="norm")


def test_nonfinite_and_vanishing_gradients_are_marked():
    a = dl.tensor(np.array([0.0, 4.0]), requires_grad=True)        # sqrt′(0) = ∞
    w = dl.tensor(np.array([30.0, 40.0]), requires_grad=True)      # tanh′(30) ≈ 0
    v = dl.tensor(np.array([0.5, -0.5]), requires_grad=True)
    L = a.sqrt().sum() + (w.tanh() * v).sum() + (v * v).sum()
    with np.errstate(divide="ignore"):
        g = graph(L, params={"a": a, "w": w, "v": v}, grads="max")
    assert g.node("a").flag == "nonfinite" and g.node("a").grad.nonfinite == 1
    assert g.node("w").flag == "vanishing"
    assert g.node("v").flag is None
    assert {e.flag for e in g.edges if e.src == g.node("a").id} == {"nonfinite"}
    dot = g.to_dot()
    assert "NaN/Inf gradient" in dot and "vanishing gradient" in dot


def test_errors():
    L, leaves = expression()
    with pytest.raises(ValueError, match="grads must be one of"):
        graph(L, grads="median")
    with pytest.raises(ValueError, match="one scalar"):
        graph(leaves["a"] * 2, grads="norm")
    with pytest.raises(ValueError, match="no graph to draw"):
        graph(dl.tensor(X))
    with pytest.raises(TypeError, match="expected a Tensor"):
        graph(X)
    with pytest.raises(ValueError, match="depth must be"):
        graph(L, depth=-1)


# ------------------------------------------------------------------------- modules
def mlp_loss(traced=True):
    dl.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).double()
    x = dl.tensor(np.random.default_rng(0).standard_normal((5, 3)))
    y = dl.tensor(np.array([0, 1, 0, 1, 1]))
    if traced:
        with trace():
            loss = F.cross_entropy(model(x), y)
    else:
        loss = F.cross_entropy(model(x), y)
    return model, loss


def test_trace_records_modules_and_param_names():
    model, loss = mlp_loss()
    g = graph(loss, model=model, grads="norm", depth=None)
    ops = [(n.name, n.module) for n in g.nodes if n.kind == "op"]
    assert ops == [("linear", "0"), ("relu", "1"), ("linear", "2"), ("cross_entropy", "")]
    params = {n.name: n.module for n in g.nodes if n.kind == "param"}
    assert params == {"0.weight": "0", "0.bias": "0", "2.weight": "2", "2.bias": "2"}
    assert g.modules["0"] == "Linear" and g.traced and g.notes == []
    loss.backward()
    for name, p in model.named_parameters():
        assert g.node(name).grad.norm == pytest.approx(
            float(np.linalg.norm(p.grad.numpy())), rel=1e-12)


def test_without_trace_modules_come_from_parameters():
    model, loss = mlp_loss(traced=False)
    g = graph(loss, model=model, depth=None)
    assert [(n.name, n.module) for n in g.nodes if n.kind == "op"] == [
        ("linear", "0"), ("relu", ""), ("linear", "2"), ("cross_entropy", "")]
    assert any("dl.viz.trace()" in note for note in g.notes)


def test_depth_collapses_modules_into_boxes():
    model, loss = mlp_loss()
    full = graph(loss, model=model, grads="norm", depth=None)
    one = full.at_depth(1)
    boxes = {n.name: n for n in one.nodes if n.kind == "module"}
    assert set(boxes) == {"0", "1", "2"}
    assert boxes["0"].detail == "Linear, 1 op, 16 parameters"
    assert boxes["2"].shapes == ((5, 2),)
    assert named_edges(one) == sorted([("0", "1"), ("1", "2"), ("2", "cross_entropy#op3"),
                                       ("input", "0")])
    # an edge out of a box carries the gradient of the tensor leaving it
    relu_out = next(e for e in full.edges if e.src == full.node("relu").id)
    assert next(e for e in one.edges if e.src == "m:1").grad == relu_out.grad
    # the box's ∇θ is the norm of all its parameters' gradients together
    w, b = full.node("0.weight").grad.norm, full.node("0.bias").grad.norm
    assert boxes["0"].grad.norm == pytest.approx(np.hypot(w, b), rel=1e-12)
    zero = full.at_depth(0)
    assert [n.name for n in zero.nodes if n.kind == "module"] == ["model"]
    assert graph(loss, model=model, depth="auto", max_nodes=6).depth == 1
    assert graph(loss, model=model).depth is None                # 10 nodes fit


def test_nested_modules_become_nested_clusters():
    dl.manual_seed(0)
    model = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    x = dl.randn(2, 3, 8)
    with trace():
        loss = model(x).sum()
    g = graph(loss, model=model, depth=None)
    assert {n.module for n in g.nodes if n.kind == "op"} >= {"self_attn", "linear1", "norm1"}
    dot = g.to_dot()
    assert 'subgraph "cluster_self_attn"' in dot and "self_attn (MultiheadAttention)" in dot
    boxes = sorted(n.name for n in g.at_depth(1).nodes if n.kind == "module")
    assert boxes == ["linear1", "linear2", "norm1", "norm2", "self_attn"]   # dropout 0: no op


# ------------------------------------------------------------------------- rendering
def test_grad_stats_of_a_gradient():
    s = GradStats.of(np.array([3.0, -4.0, np.nan]))
    assert (s.norm, s.mean, s.max, s.nonfinite) == (5.0, 3.5, 4.0, 1)
    assert s.text("norm") == "‖g‖ 5, 1 NaN/Inf"


def test_dot_file_needs_nothing(tmp_path):
    model, loss = mlp_loss()
    path = graph(loss, model=model, grads="norm").render(tmp_path / "g.dot")
    text = (tmp_path / "g.dot").read_text()
    assert path.endswith("g.dot") and text.startswith("digraph autograd {")
    assert '"leaf1" -> "op0" [label="‖g‖' in text          # 0.weight → linear, with ∇
    with pytest.raises(ValueError, match="must end in"):
        graph(loss, model=model).render(tmp_path / "g.txt")


@pytest.mark.skipif(shutil.which("dot") is None,
                    reason="Graphviz's dot is not installed (apt-get install graphviz)")
def test_dot_is_valid_for_graphviz_and_svg_parses(tmp_path):
    model, loss = mlp_loss()
    for g in (graph(loss, model=model, grads="norm", depth=None),
              graph(loss, model=model, grads="mean", depth=1)):
        done = subprocess.run(["dot", "-Tsvg"], input=g.to_dot().encode(), capture_output=True,
                              check=False)
        assert done.returncode == 0 and done.stderr == b"", done.stderr.decode()
        root = ET.fromstring(done.stdout)
        assert root.tag.endswith("svg")
        titles = {t.text for t in root.iter("{http://www.w3.org/2000/svg}title")}
        assert {n.id for n in g.nodes} <= titles


@pytest.mark.skipif(shutil.which("dot") is None,
                    reason="Graphviz's dot is not installed (apt-get install graphviz)")
def test_render_svg_png_and_repr_svg(tmp_path):
    pytest.importorskip("graphviz")
    model, loss = mlp_loss()
    g = graph(loss, model=model, grads="norm")
    g.render(tmp_path / "g.svg")
    ET.parse(tmp_path / "g.svg")
    g.render(tmp_path / "g.png")
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert ET.fromstring(g._repr_svg_()).tag.endswith("svg")


def test_missing_graphviz_package_says_how_to_install(monkeypatch, tmp_path):
    import builtins
    real = builtins.__import__

    def no_graphviz(name, *args, **kwargs):
        if name == "graphviz":
            raise ImportError("no graphviz")
        return real(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_graphviz)
    model, loss = mlp_loss()
    with pytest.raises(ImportError, match=r"deltaflow\[viz\]"):
        graph(loss, model=model).render(tmp_path / "g.svg")
    assert not (tmp_path / "g.svg").exists()


def test_missing_dot_program_says_how_to_install(monkeypatch, tmp_path):
    graphviz = pytest.importorskip("graphviz")
    monkeypatch.setenv("PATH", str(tmp_path))          # no dot on the PATH
    model, loss = mlp_loss()
    with pytest.raises(RuntimeError, match="apt-get install graphviz"):
        graph(loss, model=model).pipe("svg")
    assert graphviz is not None
