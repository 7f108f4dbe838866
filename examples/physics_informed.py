"""A physics-informed network: a small MLP solves u″ = −π² sin πx on [0, 1] with u(0) = u(1) = 0
from the residual of its own second derivative -- backpropagation through backpropagation.

The network u_θ(x) (1 → width → width → 1, tanh, float64) is never shown the solution. Its
loss at collocation points xᵢ is

    L(θ) = mean_i (u_θ″(xᵢ) + π² sin πxᵢ)²  +  u_θ(0)² + u_θ(1)²

where u_θ″ is computed by differentiating the network twice with respect to its *input*:

    du  = autograd.grad(u.sum(), x, create_graph=True)     # u′(xᵢ), itself a graph in θ
    d2u = autograd.grad(du.sum(), x, create_graph=True)    # u″(xᵢ), still a graph in θ

(summing over the points gives each point its own derivative: uᵢ depends on xᵢ alone).
``L.backward()`` then differentiates u″ with respect to θ -- a third derivative of the
network. Adam finds the basin, L-BFGS polishes; the exact solution is u(x) = sin πx, and the
script prints the maximum error on a fine grid.

    python examples/physics_informed.py                   # width 20, 64 points: error ~1e-5
    python examples/physics_informed.py --adam-steps 500 --lbfgs-steps 200
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np

import deltaflow as dl
from deltaflow import nn


def network(width=20, seed=0):
    """u_θ: 1 → width → width → 1 with tanh (smooth: u″ exists everywhere), float64."""
    dl.manual_seed(seed)
    return nn.Sequential(nn.Linear(1, width), nn.Tanh(), nn.Linear(width, width), nn.Tanh(),
                         nn.Linear(width, 1)).double()


def second_derivative(u, x):
    """``(u(x), u″(x))`` for points ``x`` (N, 1) that require grad; both stay differentiable
    in u's parameters (two nested ``autograd.grad`` with ``create_graph=True``)."""
    y = u(x)
    (du,) = dl.autograd.grad(y.sum(), x, create_graph=True)
    (d2u,) = dl.autograd.grad(du.sum(), x, create_graph=True)
    return y, d2u


def residual_loss(u, x, ends):
    """L = mean (u″ + π² sin πx)² + u(0)² + u(1)²."""
    _, d2u = second_derivative(u, x)
    r = d2u + math.pi ** 2 * dl.sin(math.pi * x)
    return (r ** 2).mean() + (u(ends) ** 2).sum()


def max_error(u, n=1001):
    """max |u_θ(x) − sin πx| on ``n`` evenly spaced points of [0, 1]."""
    grid = np.linspace(0.0, 1.0, n).reshape(-1, 1)
    with dl.no_grad():
        pred = u(dl.tensor(grid)).numpy()
    return float(np.abs(pred - np.sin(np.pi * grid)).max())


def solve(width=20, points=64, adam_steps=1500, lbfgs_steps=300, lr=1e-2, seed=0,
          log=None):
    """Train u_θ on ``points`` collocation points (evenly spaced in (0, 1)); returns
    ``(u, {"loss": final loss, "max_error": ..., ...})``."""
    u = network(width, seed)
    x = dl.tensor(np.linspace(0.0, 1.0, points + 2)[1:-1].reshape(-1, 1), requires_grad=True)
    ends = dl.tensor(np.array([[0.0], [1.0]]))
    adam = dl.optim.Adam(u.parameters(), lr=lr)
    for step in range(adam_steps):
        adam.zero_grad()
        loss = residual_loss(u, x, ends)
        loss.backward()
        adam.step()
        if log and (step + 1) % 500 == 0:
            log(f"adam  {step + 1:5d}  loss {loss.item():.3e}  max error {max_error(u):.2e}")
    lbfgs = dl.optim.LBFGS(u.parameters(), lr=1.0, max_iter=lbfgs_steps,
                           history_size=50, line_search_fn="strong_wolfe",
                           tolerance_grad=1e-12, tolerance_change=1e-15)

    def closure():
        lbfgs.zero_grad()
        loss = residual_loss(u, x, ends)
        loss.backward()
        return loss

    if lbfgs_steps:
        lbfgs.step(closure)
    loss = float(residual_loss(u, x, ends).item())
    if log and lbfgs_steps:
        log(f"lbfgs {lbfgs_steps:5d}  loss {loss:.3e}  max error {max_error(u):.2e}")
    return u, {"loss": loss, "max_error": max_error(u), "width": width, "points": points,
               "adam_steps": adam_steps, "lbfgs_steps": lbfgs_steps}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=20)
    parser.add_argument("--points", type=int, default=64, help="collocation points")
    parser.add_argument("--adam-steps", type=int, default=1500)
    parser.add_argument("--lbfgs-steps", type=int, default=300,
                        help="L-BFGS iterations after Adam (0: none)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    _, result = solve(args.width, args.points, args.adam_steps, args.lbfgs_steps,
                      seed=args.seed, log=print)
    print(f"u″ = −π² sin πx on [0, 1], u(0) = u(1) = 0: max |u_θ − sin πx| = "
          f"{result['max_error']:.2e} on 1001 points (loss {result['loss']:.2e}, "
          f"{time.perf_counter() - start:.0f} s)")
    return 0 if result["max_error"] < 1e-3 else 1


if __name__ == "__main__":
    raise SystemExit(main())
