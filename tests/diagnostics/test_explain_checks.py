"""A check that never lies: the layers come from the recorded ops (F.relu inside forward,
BatchNorm between two Linears), a wrong gradient gets ✗ and a warning (never ✓), and what
explain cannot write as a textbook equation is said plainly."""
import numpy as np
import pytest

import deltaflow as dl
from deltaflow.diagnostics.explain import ExplainCheckWarning, explain
from deltaflow.diagnostics.explain.record import Check

nn = dl.nn
F = nn.functional


class FunctionalReLU(nn.Module):
    """The most common PyTorch style: the activation is a call in forward, not a module."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(3, 4), nn.Linear(4, 2)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((5, 3)), rng.standard_normal((5, 2))


def _lines(e, start):
    return [line.strip() for line in str(e).splitlines() if line.strip().startswith(start)]


def test_functional_relu_is_read_from_the_graph():
    dl.manual_seed(0)
    x, y = _batch()
    e = explain(FunctionalReLU(), x, y, F.mse_loss)
    # was: "a⁽¹⁾ = z⁽¹⁾ (no activation)" and "δ⁽¹⁾ = (δ⁽²⁾ W⁽²⁾) ⊙ 1" marked ✓ 0.2
    assert _lines(e, "a⁽¹⁾ =")[0].startswith("a⁽¹⁾ = relu(z⁽¹⁾) ")
    assert "no activation" not in _lines(e, "a⁽¹⁾ =")[0]
    assert "δ⁽¹⁾ = (δ⁽²⁾ W⁽²⁾) ⊙ relu′(z⁽¹⁾)" in str(e)
    assert e.layers[0].modules == ["model.fc1 Linear(3→4)", "relu in model"]
    z1 = e.find(1, "z⁽¹⁾")
    d2, W2 = e.find(2, "δ⁽²⁾"), e.find(2, "W⁽²⁾")
    np.testing.assert_allclose((d2 @ W2) * (z1 > 0), e.find(1, "δ⁽¹⁾"), atol=1e-12)
    assert not e.failed() and "✗" not in str(e)


def test_batchnorm_gamma_is_not_the_next_layers_weight():
    dl.manual_seed(0)
    x, y = _batch(1)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    with dl.no_grad():
        model[1].weight.data[:] = [0.5, 2.0, -1.0, 3.0]        # γ ≠ 1, so a mix-up shows
    e = explain(model, x, y, F.mse_loss)
    # was: layer 2 "BatchNorm1d → ReLU" with δ⁽¹⁾ = (δ⁽²⁾ W⁽²⁾) ⊙ 1, W⁽²⁾ being γ
    assert [l.ops for l in e.layers] == [["Linear"], ["BatchNorm", "ReLU"], ["Linear"]]
    assert e.layers[1].modules == ["model.1 BatchNorm1d(4)", "model.2 ReLU"]
    text = str(e)
    assert "δ⁽¹⁾ = γ⁽²⁾/√(σ²⁽²⁾ + ε) ⊙ (δ⁽²⁾ − mean(δ⁽²⁾) − x̂⁽²⁾ ⊙ mean(δ⁽²⁾ ⊙ x̂⁽²⁾))" in text
    np.testing.assert_array_equal(e.find(2, "γ⁽²⁾"), [0.5, 2.0, -1.0, 3.0])
    # the textbook BatchNorm backward, recomputed here from the printed numbers
    a1, d2 = e.find(1, "a⁽¹⁾"), e.find(2, "δ⁽²⁾")
    mu, var = a1.mean(0), a1.var(0)
    xhat = (a1 - mu) / np.sqrt(var + 1e-5)
    gamma = e.find(2, "γ⁽²⁾")
    expect = gamma / np.sqrt(var + 1e-5) * (d2 - d2.mean(0) - xhat * (d2 * xhat).mean(0))
    np.testing.assert_allclose(expect, e.find(1, "δ⁽¹⁾"), atol=1e-10, rtol=0)
    np.testing.assert_allclose((d2 * xhat).sum(0), e.find(2, "∇γ⁽²⁾"), atol=1e-10, rtol=0)
    assert not e.failed()


def test_a_wrong_gradient_gets_a_cross_and_a_warning(monkeypatch):
    """A ReLU whose backward is off by 0.2: the old explain printed ✓ 0.2."""
    from deltaflow.ops import activation
    right = activation.ReLU.backward
    monkeypatch.setattr(activation.ReLU, "backward", lambda self, g: right(self, g) + 0.2)
    dl.manual_seed(0)
    x, y = _batch()
    with pytest.warns(ExplainCheckWarning, match="δ⁽¹⁾"):
        e = explain(FunctionalReLU(), x, y, F.mse_loss)
    bad = e.quantity(1, "δ⁽¹⁾")
    assert not bad.check.ok and bad.check.mark == "✗"
    assert bad.check.difference == pytest.approx(0.2, abs=1e-12)
    text = str(e)
    row = next(line for line in text.splitlines() if "✗" in line and "δ⁽¹⁾ =" in line)
    assert "✗ 0.2" in row and "✓" not in row
    assert "✗ WARNING: δ⁽¹⁾" in text
    data = e.to_dict()
    assert data["checks"]["failed"] == 1 and len(data["warnings"]) == 1
    assert [q.symbol for q in e.failed()] == ["δ⁽¹⁾"]


def test_a_wrong_convolution_gradient_gets_a_cross(monkeypatch):
    from deltaflow.ops import conv
    right = conv.Convolution.backward

    def off(self, g):
        gx, *rest = right(self, g)
        return (None if gx is None else gx + 0.2, *rest)
    monkeypatch.setattr(conv.Convolution, "backward", off)
    dl.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 2, 3), nn.Flatten(),
                          nn.Linear(8, 2))
    x = np.random.default_rng(0).standard_normal((1, 1, 6, 6))
    with pytest.warns(ExplainCheckWarning):
        e = explain(model, x, np.array([1]), F.cross_entropy)
    assert [q.symbol for q in e.failed()] == ["δ⁽¹⁾"]


def test_perturbing_a_printed_value_flips_the_mark():
    dl.manual_seed(0)
    x, y = _batch()
    e = explain(FunctionalReLU(), x, y, F.mse_loss)
    q = e.quantity(1, "δ⁽¹⁾")
    assert q.check.ok
    assert not Check.of(q.check.recomputed, q.value + 1e-6).ok
    assert Check.of(q.check.recomputed, q.value + 1e-13).ok


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp, self.a, self.out = nn.Linear(3, 4), nn.Linear(4, 4), nn.Linear(4, 2)

    def forward(self, x):
        h = F.relu(self.inp(x))
        h = h + self.a(h).tanh()                 # a residual: two paths join again
        return F.log_softmax(self.out(h), dim=1)


def test_what_cannot_be_shown_is_said_plainly():
    dl.manual_seed(0)
    x = np.random.default_rng(0).standard_normal((4, 3))
    e = explain(Residual(), x, np.array([0, 1, 1, 0]), F.nll_loss)
    assert len(e.not_shown) == 2
    block, softmax = e.not_shown
    assert "branch and join again" in block and "Linear" in block
    assert "LogSoftmax" in softmax and "autograd's" in softmax
    text = str(e)
    assert "NOT SHOWN AS TEXTBOOK EQUATIONS" in text and not e.failed()
    # the equations around the block are still recomputed and checked
    assert e.quantity(1, "z⁽¹⁾").check.ok and e.quantity(3, "∇W⁽³⁾").check.ok
    assert e.to_dict()["not_shown"] == e.not_shown


def test_to_dict_steps_walk_every_quantity_once():
    e = explain()
    data = e.to_dict()
    walked = [q["symbol"] for s in data["steps"] for q in s["quantities"]]
    assert walked == [q.symbol for q in e.quantities()]
    assert {s["phase"] for s in data["steps"]} == {"forward", "loss", "backward", "update"}
    assert [n["index"] for n in data["network"]] == [0, 1, 2]


def _builders():
    from types import SimpleNamespace

    from deltaflow import models
    from deltaflow.models import charlm, gan
    opts = SimpleNamespace(hidden=[8], activation="tanh", dropout=0.2, batchnorm=True,
                           channels=(2, 3), kernel_size=3, fc=6)
    img = np.random.default_rng(0).random((2, 1, 28, 28))
    yield "mlp", models.build("mlp", (1, 28, 28), 10, opts), img, np.array([1, 2])
    yield "cnn", models.build("cnn", (1, 28, 28), 10, opts), img, np.array([1, 2])
    tokens = np.random.default_rng(0).integers(0, 5, (2, 6))
    for arch, hp in (("lstm", {"embed_dim": 4, "hidden_size": 6}),
                     ("transformer", {"d_model": 8, "nhead": 2, "num_layers": 1,
                                      "block_size": 6})):
        m = charlm.build({"model": arch, "vocab": "abcde", "hparams": hp})
        yield f"charlm-{arch}", m, tokens, np.roll(tokens, -1, axis=1)
    for arch in ("mlp", "dcgan"):
        g, d = gan.build(arch, z_dim=4)
        yield f"gan-{arch}-discriminator", d, img, np.ones((2, 1))
        yield f"gan-{arch}-generator", g, np.random.default_rng(0).standard_normal((2, 4)), None


def _loss(name):
    if name.startswith("charlm"):
        return lambda out, y: F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
    if name.endswith("discriminator"):
        return F.binary_cross_entropy_with_logits
    if name.endswith("generator"):
        return lambda out: (out ** 2).mean()
    return F.cross_entropy


@pytest.mark.parametrize("name,model,x,y", list(_builders()), ids=lambda v: v
                         if isinstance(v, str) else "")
def test_every_model_train_builds_explains_without_a_false_check(name, model, x, y):
    dl.manual_seed(0)
    e = explain(model, x, y, _loss(name))
    assert not e.failed(), e.warnings()
    assert e.checks(), "at least the textbook layers are recomputed"
    text = str(e)
    assert "BACKWARD" in text and np.isfinite(e.loss_after)
    if name == "charlm-transformer":
        assert any("branch and join again" in m for m in e.not_shown)
    if name == "gan-dcgan-generator":
        assert any("TransposedConvolution" in m for m in e.not_shown)
