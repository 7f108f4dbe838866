"""examples/physics_informed.py: u″ by double backward equals PyTorch's, and a small run
solves u″ = −π² sin πx to the example's bound."""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

import deltaflow as dl

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "physics_informed.py"


@pytest.fixture(scope="module")
def ex():
    spec = importlib.util.spec_from_file_location("physics_informed", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _torch_copy(torch, u):
    nn = torch.nn
    net = nn.Sequential(nn.Linear(1, u[0].out_features), nn.Tanh(),
                        nn.Linear(u[2].in_features, u[2].out_features), nn.Tanh(),
                        nn.Linear(u[4].in_features, 1)).double()
    net.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                         for k, v in u.state_dict().items()})
    return net


def test_second_derivative_and_loss_gradient_equal_torch(ex):
    """u″(x) (grad of grad in the input) and ∂L/∂θ (a third derivative) for the same weights."""
    torch = pytest.importorskip("torch")
    u = ex.network(width=6, seed=3)
    points = np.random.default_rng(0).uniform(0, 1, (9, 1))
    x = dl.tensor(points, requires_grad=True)
    y, d2u = ex.second_derivative(u, x)
    loss = ex.residual_loss(u, x, dl.tensor(np.array([[0.0], [1.0]])))
    loss.backward()

    net = _torch_copy(torch, u)
    tx = torch.from_numpy(points).requires_grad_(True)
    ty = net(tx)
    (tdu,) = torch.autograd.grad(ty.sum(), tx, create_graph=True)
    (td2u,) = torch.autograd.grad(tdu.sum(), tx, create_graph=True)
    r = td2u + math.pi ** 2 * torch.sin(math.pi * tx)
    t_loss = (r ** 2).mean() + (net(torch.tensor([[0.0], [1.0]], dtype=torch.float64)) ** 2).sum()
    t_loss.backward()

    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(d2u.numpy(), td2u.detach().numpy(), rtol=1e-9, atol=1e-12)
    assert np.abs(d2u.numpy()).max() > 1e-3
    assert loss.item() == pytest.approx(t_loss.item(), rel=1e-10)
    t_params = dict(net.named_parameters())
    for name, p in u.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), t_params[name].grad.numpy(), rtol=1e-7,
                                   atol=1e-12, err_msg=name)


def test_second_derivative_of_a_known_function(ex):
    """For u(x) = w₂ tanh(w₁x): u″ = −2 w₂ w₁² tanh(w₁x)(1 − tanh²(w₁x)), in closed form."""
    u = dl.nn.Sequential(dl.nn.Linear(1, 1, bias=False), dl.nn.Tanh(),
                         dl.nn.Linear(1, 1, bias=False)).double()
    u[0].weight.data[...] = 1.7
    u[2].weight.data[...] = -0.6
    xs = np.linspace(-1, 1, 7).reshape(-1, 1)
    _, d2u = ex.second_derivative(u, dl.tensor(xs, requires_grad=True))
    t = np.tanh(1.7 * xs)
    np.testing.assert_allclose(d2u.numpy(), -2 * -0.6 * 1.7 ** 2 * t * (1 - t ** 2), rtol=1e-12,
                               atol=1e-15)


def test_small_run_solves_the_problem(ex):
    """Width 8, 12 points, 100 Adam + 50 L-BFGS steps (seconds): error below 1e-3, where the
    untrained network is off by more than 0.5."""
    untrained, _ = ex.solve(width=8, points=12, adam_steps=0, lbfgs_steps=0)
    assert ex.max_error(untrained) > 0.5
    _, result = ex.solve(width=8, points=12, adam_steps=100, lbfgs_steps=50)
    assert result["max_error"] < 1e-3
    assert result["loss"] < 1e-3
