"""explain's numbers equal the model's: the textbook example, an MLP spec, the CLI formats."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import deltaflow as dl
from deltaflow.cli import main
from deltaflow.diagnostics.explain import explain, mlp_from_spec
from deltaflow.diagnostics.explain.rules import sup

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "two_layer_network.py"


@pytest.fixture(scope="module")
def ex():
    spec = importlib.util.spec_from_file_location("two_layer_network", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_textbook_numbers_equal_the_numpy_example(ex):
    e = explain()
    Ws, bs = ex.init_params()
    zs, acts = ex.forward(Ws, bs, ex.X)
    deltas, gW, gb = ex.backward(Ws, zs, acts, ex.Y)
    assert e.loss == pytest.approx(ex.loss(acts[-1], ex.Y), abs=1e-15)
    for l in range(2):
        k = l + 1
        np.testing.assert_allclose(e.find(k, "z"), zs[l], atol=1e-15, rtol=0)
        np.testing.assert_allclose(e.find(k, "a"), acts[k], atol=1e-15, rtol=0)
        np.testing.assert_allclose(e.find(k, "δ"), deltas[l], atol=1e-15, rtol=0)
        np.testing.assert_allclose(e.find(k, "∇W"), gW[l].T, atol=1e-15, rtol=0)  # (out, in)
        np.testing.assert_allclose(e.find(k, "∇b"), gb[l][0], atol=1e-15, rtol=0)
        np.testing.assert_allclose(e.find(k, f"W{sup(k)} new"), (Ws[l] - 0.1 * gW[l]).T,
                                   atol=1e-15)
    W2, b2 = ex.update(Ws, bs, gW, gb)
    assert e.loss_after == pytest.approx(ex.loss(ex.forward(W2, b2, ex.X)[1][-1], ex.Y),
                                         abs=1e-15)
    checks = [q.check for l in e.layers for q in l.forward + l.backward if q.check]
    assert len(checks) == 10 and all(c.ok and c.difference < 1e-15 for c in checks)


def test_spec_numbers_equal_the_model_and_model_is_untouched():
    dl.manual_seed(3)
    model = mlp_from_spec("5,7,6,3", "tanh")
    before = [p.data.copy() for p in model.parameters()]
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((4, 5)), rng.integers(0, 3, 4)
    e = explain(model, x, y, dl.nn.functional.cross_entropy, lr=0.5)
    for p, b in zip(model.parameters(), before):
        assert p.dtype == np.float32 and np.array_equal(p.data, b)
    m64 = model.double()
    xt = dl.tensor(x)
    z1 = m64[0](xt)
    z1.retain_grad()
    a1 = m64[1](z1)
    z2 = m64[2](a1)
    z2.retain_grad()
    out = m64[4](m64[3](z2))
    loss = dl.nn.functional.cross_entropy(out, dl.tensor(y))
    loss.backward()
    assert e.loss == pytest.approx(loss.item(), abs=1e-14)
    np.testing.assert_allclose(e.find(1, "z"), z1.numpy(), atol=1e-14)
    np.testing.assert_allclose(e.find(2, "δ"), z2.grad.numpy(), atol=1e-14)
    np.testing.assert_allclose(e.find(1, "δ"), z1.grad.numpy(), atol=1e-14)
    np.testing.assert_allclose(e.find(3, "∇W"), m64[4].weight.grad.numpy(), atol=1e-14)
    np.testing.assert_allclose(e.find(1, "Δb"), -0.5 * m64[0].bias.grad.numpy(), atol=1e-14)
    assert all(q.check.difference < 1e-13 for q in e.checks()) and not e.failed()


def test_cli_formats(capsys):
    assert main(["explain"]) == 0
    text = capsys.readouterr().out
    assert "δ⁽¹⁾ = (δ⁽²⁾ W⁽²⁾) ⊙ σ′(z⁽¹⁾)" in text and "loss L = 0.6121262849" in text
    assert main(["explain", "--format", "markdown"]) == 0
    md = capsys.readouterr().out
    assert "| `δ⁽²⁾` |" in md and "**Backward**" in md
    assert main(["explain", "--spec", "4,8,3", "--activation", "relu", "--format", "json",
                 "--max-values", "8"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["format"] == "deltaflow-explain/1"
    assert data["network"][1]["modules"] == ["model.0 Linear(4→8)", "model.1 ReLU"]
    steps = {(s["phase"], s["layer"]): s["quantities"] for s in data["steps"]}
    z = next(q for q in steps["forward", 1] if q["symbol"] == "z⁽¹⁾")
    assert z["shape"] == [4, 8] and "norm" in z and "values" not in z   # 32 > 8 values
    assert z["check"]["mark"] == "✓" and z["check"]["against"] == "forward"
    gb = next(q for q in steps["backward", 2] if q["symbol"] == "∇b⁽²⁾")
    assert len(gb["values"]) == 3 and gb["check"]["ok"]
    assert data["checks"]["failed"] == 0 and data["warnings"] == [] == data["not_shown"]


def test_cli_output_activation(capsys):
    assert main(["explain", "--spec", "3,4,2", "--activation", "sigmoid", "--output-activation",
                 "sigmoid", "--loss", "half_sse", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["network"][2]["modules"] == ["model.2 Linear(4→2)", "model.3 Sigmoid"]
    assert data["loss_name"] == "L = ½ Σ (a − y)²"


def test_cli_rejects_bad_spec(capsys):
    assert main(["explain", "--spec", "4,x"]) != 0
    assert "not a run folder" in capsys.readouterr().err


def test_loss_after_update_replays_the_dropout_masks():
    dl.manual_seed(0)
    nn = dl.nn
    model = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 3))
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 6)), rng.integers(0, 3, 16)
    e = explain(model, x, y, dl.nn.functional.cross_entropy, lr=1e-3)
    # a small gradient step must lower the loss of the same (masked) network
    grad_sq = sum(float((q.value ** 2).sum()) for l in e.layers for q in l.backward
                  if q.symbol.startswith("∇"))
    assert e.loss_after == pytest.approx(e.loss - 1e-3 * grad_sq, rel=1e-3)


def test_docs_transcript_is_current(capsys):
    assert main(["explain"]) == 0
    out = capsys.readouterr().out.rstrip()
    doc = (EXAMPLE.parents[1] / "docs" / "diagnostics.md").read_text(encoding="utf-8")
    assert out in doc, "docs/diagnostics.md: rerun `deltaflow explain` and paste the transcript"
