"""Small, fast demonstrations of gradient-flow problems and their fixes.

* :func:`vanishing_demo` -- a deep sigmoid MLP: the first layer's gradient is ~1e-8 of the
  last layer's and the loss barely moves; ``fix="relu_he"`` (ReLU + He initialisation) or
  ``fix="batchnorm"`` (BatchNorm before each sigmoid) restores the flow;
* :func:`exploding_demo` -- a badly scaled regression network (inputs ×30, plain SGD): the
  gradients grow ×10–100 per step until they overflow; ``clip=1.0`` (gradient-norm clipping)
  makes the same network converge;
* :func:`healthy_demo` -- a shallow ReLU MLP on normalised data: no warnings.

Each trains a fresh model under a :class:`GradientMonitor` and returns a :class:`DemoRun`
(the monitor, the per-step losses and the model); the monitor's warnings reach the
caller through :mod:`warnings`. ``docs/diagnostics.md`` shows their plots.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .monitor import GradientMonitor


@dataclass
class DemoRun:
    monitor: GradientMonitor
    losses: list
    model: object


def _classification_data(n=128, d=16, classes=4, seed=0):
    """Gaussian inputs, labels from a random linear teacher (float32)."""
    import deltaflow as dl
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = (x @ rng.standard_normal((d, classes))).argmax(axis=1)
    return dl.tensor(x), dl.tensor(y)


def deep_mlp(depth, width, activation, d_in=16, d_out=4, he=False, batchnorm=False):
    """``depth`` hidden blocks Linear → [BatchNorm1d] → activation, then a Linear head."""
    from .. import nn
    layers, n = [], d_in
    for _ in range(depth):
        linear = nn.Linear(n, width)
        if he:
            nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
            nn.init.zeros_(linear.bias)
        layers.append(linear)
        if batchnorm:
            layers.append(nn.BatchNorm1d(width))
        layers.append(activation())
        n = width
    layers.append(nn.Linear(n, d_out))
    return nn.Sequential(*layers)


def _train(model, x, y, loss_fn, steps, lr, clip=None, monitor_kw=None):
    import deltaflow as dl
    opt = dl.optim.SGD(model.parameters(), lr=lr)
    monitor = GradientMonitor(model, **(monitor_kw or {}))
    losses = []
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(steps):
            loss = loss_fn(model(x), y)
            opt.zero_grad()
            loss.backward()
            if clip is not None:
                dl.nn.utils.clip_grad_norm_(model.parameters(), max_norm=clip)
            monitor.step()
            opt.step()
            losses.append(float(loss.item()))
    return DemoRun(monitor, losses, model)


def vanishing_demo(fix=None, depth=10, width=32, steps=30, lr=0.1, seed=0) -> DemoRun:
    """Deep sigmoid MLP (vanishing); ``fix`` is None, ``"relu_he"`` or ``"batchnorm"``."""
    import deltaflow as dl
    if fix not in (None, "relu_he", "batchnorm"):
        raise ValueError(f"vanishing_demo: fix must be None, 'relu_he' or 'batchnorm', "
                         f"got {fix!r}")
    dl.manual_seed(seed)
    x, y = _classification_data(seed=seed)
    if fix == "relu_he":
        model = deep_mlp(depth, width, dl.nn.ReLU, he=True)
    else:
        model = deep_mlp(depth, width, dl.nn.Sigmoid, batchnorm=fix == "batchnorm")
    return _train(model, x, y, dl.nn.CrossEntropyLoss(), steps, lr)


def exploding_demo(clip=None, scale=30.0, steps=40, lr=0.01, seed=0) -> DemoRun:
    """Regression MLP on inputs ×``scale`` with SGD (exploding); ``clip`` = max grad norm."""
    import deltaflow as dl
    dl.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((128, 8)) * scale
    y = x @ rng.standard_normal((8, 1)) / scale
    nn = dl.nn
    model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                          nn.Linear(64, 1))
    return _train(model, dl.tensor(x.astype(np.float32)), dl.tensor(y.astype(np.float32)),
                  nn.MSELoss(), steps, lr, clip=clip)


def healthy_demo(steps=30, lr=0.1, seed=0) -> DemoRun:
    """A 3-hidden-layer ReLU MLP with PyTorch's default init on normalised inputs."""
    import deltaflow as dl
    dl.manual_seed(seed)
    x, y = _classification_data(seed=seed)
    model = deep_mlp(3, 32, dl.nn.ReLU)
    return _train(model, x, y, dl.nn.CrossEntropyLoss(), steps, lr)


__all__ = ["DemoRun", "deep_mlp", "exploding_demo", "healthy_demo", "vanishing_demo"]
