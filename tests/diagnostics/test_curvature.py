"""Sharpness by power iteration on Hessian-vector products: equal to the top eigenvalue of
the explicit Hessian (numpy.linalg.eigvalsh of deltaflow's and of PyTorch's)."""
from __future__ import annotations

import json

import numpy as np
import pytest

import deltaflow as dl
from deltaflow.cli import main
from deltaflow.diagnostics.curvature import sharpness
from deltaflow.diagnostics.explain import TEXTBOOK_X, TEXTBOOK_Y, half_sse, textbook_model


def _flat_textbook_loss(lib, theta):
    """The textbook 3→4→2 sigmoid network's ½Σ(a − y)² as a function of its 26 parameters
    (W1 (4, 3), b1, W2 (2, 4), b2 in the order of ``parameters()``), in ``lib``."""
    w1, b1 = theta[:12].reshape(4, 3), theta[12:16]
    w2, b2 = theta[16:24].reshape(2, 4), theta[24:26]
    x, y = lib.tensor(TEXTBOOK_X), lib.tensor(TEXTBOOK_Y)
    a1 = lib.sigmoid(x @ w1.T + b1)
    a2 = lib.sigmoid(a1 @ w2.T + b2)
    return 0.5 * ((a2 - y) ** 2).sum()


def _theta(model):
    return np.concatenate([p.numpy().ravel() for p in model.parameters()])


def test_power_iteration_equals_eigvalsh_of_the_explicit_hessian():
    torch = pytest.importorskip("torch")
    model = textbook_model()
    theta = _theta(model)
    ours = dl.autograd.functional.hessian(lambda t: _flat_textbook_loss(dl, t),
                                          dl.tensor(theta)).numpy()
    theirs = torch.autograd.functional.hessian(lambda t: _flat_textbook_loss(torch, t),
                                               torch.from_numpy(theta)).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-14)
    top = np.linalg.eigvalsh(theirs)[-1]
    found = sharpness(model, half_sse, (TEXTBOOK_X, TEXTBOOK_Y), iters=1000, tol=1e-13)
    assert found.converged
    assert found.value == pytest.approx(top, rel=1e-8)
    assert found.loss == pytest.approx(float(_flat_textbook_loss(torch,
                                                                 torch.from_numpy(theta))))
    assert found.parameters == 26


def test_a_trained_mlp_matches_torch():
    """A tanh MLP after a few SGD steps: its λ_max against eigvalsh of torch's Hessian."""
    torch = pytest.importorskip("torch")
    dl.manual_seed(1)
    model = dl.nn.Sequential(dl.nn.Linear(3, 5), dl.nn.Tanh(), dl.nn.Linear(5, 2)).double()
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 3)), rng.integers(0, 2, 16)
    opt = dl.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(20):
        opt.zero_grad()
        dl.nn.functional.cross_entropy(model(dl.tensor(x)), dl.tensor(y)).backward()
        opt.step()
    theta = torch.from_numpy(_theta(model))

    def loss(t):
        w1, b1, w2, b2 = t[:15].reshape(5, 3), t[15:20], t[20:30].reshape(2, 5), t[30:32]
        out = torch.tanh(torch.from_numpy(x) @ w1.T + b1) @ w2.T + b2
        return torch.nn.functional.cross_entropy(out, torch.from_numpy(y))

    top = np.linalg.eigvalsh(torch.autograd.functional.hessian(loss, theta).numpy())[-1]
    found = sharpness(model, dl.nn.functional.cross_entropy, (x, y), iters=2000, tol=1e-13)
    assert found.value == pytest.approx(top, rel=1e-7)
    assert model[0].weight.grad is not None                  # the model itself untouched


class Quadratic(dl.nn.Module):
    """L(θ) = ½ θᵀAθ: its Hessian is A."""

    def __init__(self, a):
        super().__init__()
        self.a = dl.tensor(a)
        self.theta = dl.nn.Parameter(dl.tensor(np.ones(len(a))))

    def forward(self, x):
        return 0.5 * (self.theta @ (self.a @ self.theta)) + 0 * x.sum()


def test_a_dominant_negative_eigenvalue_is_reported_and_shifted_away():
    """Eigenvalues (−5, 2, 1, 0.5): power iteration finds −5 first, then λ_max = 2 on A + 5I."""
    q, _ = np.linalg.qr(np.random.default_rng(3).standard_normal((4, 4)))
    a = q @ np.diag([-5.0, 2.0, 1.0, 0.5]) @ q.T
    found = sharpness(Quadratic(a), None, np.zeros(1), iters=2000, tol=1e-14)
    assert found.largest_magnitude == pytest.approx(-5.0, rel=1e-9)
    assert found.value == pytest.approx(2.0, rel=1e-7)
    assert "negative curvature" in found.reading(0.1)


def test_reading_compares_with_the_sgd_threshold():
    found = sharpness(textbook_model(), half_sse, (TEXTBOOK_X, TEXTBOOK_Y))
    text = found.reading(0.1, "sgd", 0.0)
    assert "2/η = 20" in text and "edge of stability" in text
    assert "(2 + 2·0.9)/η = 38" in found.reading(0.1, "sgd", 0.9)
    assert "(2 + 2·0.9)/((1 + 2·0.9)η) = 13.57" in found.reading(0.1, "sgd", 0.9, True)
    assert "preconditions" in found.reading(1e-3, "adam")
    assert found.threshold(0.1) == pytest.approx(20.0)


def test_cli_textbook_and_json(capsys):
    assert main(["sharpness", "textbook"]) == 0
    out = capsys.readouterr().out
    exact = sharpness(textbook_model(), half_sse, (TEXTBOOK_X, TEXTBOOK_Y)).value
    assert f"λ_max = {exact:.6g}" in out and "2/η = 20" in out
    assert main(["sharpness", "4,8,3", "--activation", "tanh", "--lr", "0.05",
                 "--batch-size", "16", "--format", "json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["threshold"] == pytest.approx(40.0) and record["converged"]
    assert record["sharpness"] > 0 and record["parameters"] == 4 * 8 + 8 + 8 * 3 + 3
    assert main(["sharpness", "textbook", "--iters", "0"]) == 2


def test_cli_run_folder_takes_the_runs_optimizer(tmp_path, capsys):
    pytest.importorskip("sklearn")
    assert main(["train", "--optimizer", "sgd", "--lr", "0.05", "--hidden", "8",
                 "--epochs", "1", "--no-progress", "--no-plot", "--out", str(tmp_path),
                 "--name", "r"]) == 0
    capsys.readouterr()
    assert main(["sharpness", str(tmp_path / "r"), "--batch-size", "64",
                 "--format", "json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert (record["optimizer"], record["lr"], record["momentum"], record["nesterov"]) == \
        ("sgd", 0.05, 0.9, True)                           # deltaflow train's SGD
    assert record["threshold"] == pytest.approx(3.8 / 2.8 / 0.05)
    assert record["sharpness"] > 0


@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_threshold_is_where_sgd_on_a_parabola_starts_to_diverge(momentum, nesterov):
    """optim.SGD on L = ½λθ² converges for λ 2% below ``threshold`` and diverges 2% above."""
    found = sharpness(textbook_model(), half_sse, (TEXTBOOK_X, TEXTBOOK_Y), iters=3)
    lr = 0.1
    limit = found.threshold(lr, momentum, nesterov)

    def final(curvature):
        theta = dl.nn.Parameter(dl.tensor([1.0]))
        opt = dl.optim.SGD([theta], lr=lr, momentum=momentum, nesterov=nesterov)
        with np.errstate(over="ignore", invalid="ignore"):
            for _ in range(3000):
                opt.zero_grad()
                (0.5 * curvature * theta ** 2).sum().backward()
                opt.step()
        return abs(theta.item())

    assert final(0.98 * limit) < 1e-3
    assert not final(1.02 * limit) < 1e3          # grown past 1e3 (or overflowed)
