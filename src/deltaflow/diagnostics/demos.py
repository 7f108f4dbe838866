"""Small, fast demonstrations of gradient-flow problems and their fixes.

* :func:`vanishing_demo` -- a deep sigmoid MLP: the first layer's gradient is ~1e-8 of the
  last layer's and the loss barely moves; ``fix="relu_he"`` (ReLU + He initialisation) or
  ``fix="batchnorm"`` (BatchNorm before each sigmoid) restores the flow;
* :func:`exploding_demo` -- a badly scaled regression network (inputs ×30, plain SGD): the
  gradients grow ×10–100 per step until they overflow; ``clip=1.0`` (gradient-norm clipping)
  makes the same network converge;
* :func:`healthy_demo` -- a shallow ReLU MLP on normalised data: no warnings;
* :func:`explain_demo` -- what ``deltaflow explain --model cnn|rnn|lstm`` runs: a small CNN on
  one MNIST digit (a fixed synthetic digit without the data), an RNN or an LSTM on a short
  sequence with the loss at its last step.

Each trains a fresh model under a :class:`GradientMonitor` and returns a :class:`DemoRun`
(the monitor, the per-step losses and the model); the monitor's warnings reach the
caller through :mod:`warnings`. ``docs/diagnostics.md`` shows their plots.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

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


# ------------------------------------------------------------------ explain's models
EXPLAIN_MODELS = ("cnn", "rnn", "lstm")


@dataclass
class ExplainDemo:
    model: object
    x: np.ndarray
    y: np.ndarray
    loss_fn: object
    loss_name: str
    description: str
    notes: tuple = ()


def mnist_digit(data_dir=None):
    """(image (1, 1, 28, 28) in [0, 1], label, where) of the first MNIST test digit, looked up
    in ``data_dir`` only when given, else in ``$DELTAFLOW_DATA``, ``../shared/data`` and
    ``~/.cache/deltaflow`` (each with or without a ``mnist`` subfolder); None when none has
    it."""
    from ..data.datasets import read_idx
    roots = ([data_dir] if data_dir else
             [os.environ.get("DELTAFLOW_DATA"), "../shared/data", "~/.cache/deltaflow"])
    for root in filter(None, roots):
        for folder in (Path(root).expanduser() / "mnist", Path(root).expanduser()):
            for ext in (".gz", ""):
                images = folder / f"t10k-images-idx3-ubyte{ext}"
                labels = folder / f"t10k-labels-idx1-ubyte{ext}"
                if images.is_file() and labels.is_file():
                    x = read_idx(images)[:1].astype(np.float64) / 255
                    return x[:, None], int(read_idx(labels)[0]), str(images)
    return None


def synthetic_digit():
    """A fixed 28×28 "7" drawn with two strokes (values in [0, 1]), label 7."""
    img = np.zeros((28, 28))
    img[6:9, 6:22] = 1.0                                   # the top bar
    for r in range(9, 24):                                 # the diagonal
        c = 21 - (r - 9) * 10 // 14
        img[r, c - 1:c + 2] = 1.0
    img[5, 6:22] = img[9, 7:21] = 0.5                      # soft edges
    return img[None, None], 7


def last_step_half_sse(output, target):
    """L = ½ Σ (ŷ_T − y)²: the prediction at the last time step against the target."""
    return 0.5 * ((output[-1] - target) ** 2).sum()


def explain_demo(kind, seed=0, data_dir=None, seq_len=8) -> ExplainDemo:
    """The model, input, target and loss of ``deltaflow explain --model KIND``."""
    import deltaflow as dl
    if kind not in EXPLAIN_MODELS:
        raise ValueError(f"explain_demo: model must be one of {', '.join(EXPLAIN_MODELS)}, "
                         f"got {kind!r}")
    nn = dl.nn
    dl.manual_seed(seed)
    if kind == "cnn":
        found = mnist_digit(data_dir)
        if found is None:
            (x, label), where = synthetic_digit(), "a fixed synthetic digit (no MNIST found)"
        else:
            x, label, path = found
            where = f"the first MNIST test digit ({path})"
        model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(2, 3, 3), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                              nn.Linear(3 * 6 * 6, 10))
        return ExplainDemo(model, x, np.array([label]), dl.nn.functional.cross_entropy,
                           "cross-entropy", f"a small CNN on one digit: {where}, label "
                           f"{label}")
    t = np.arange(1, seq_len + 1)[:, None, None]
    x = np.concatenate([np.sin(0.7 * t), np.cos(0.7 * t)], axis=-1)      # (T, 1, 2)
    recurrent = nn.RNN(2, 4) if kind == "rnn" else nn.LSTM(2, 4)
    notes = ()
    if kind == "lstm":
        with dl.no_grad():
            recurrent.bias_ih_l0.data[4:8] = 2.0            # the forget gate's bias
        notes = ("the forget gate's bias b_ih[4:8] is set to 2 (f ≈ 0.9, the usual "
                 "'forget bias' initialisation) so that the cell path carries δ back",)

    class Sequence(nn.Module):
        """h₁ … h_T of the recurrent layer, each read out by a Linear."""

        def __init__(self):
            super().__init__()
            self.rnn, self.head = recurrent, nn.Linear(4, 1)

        def forward(self, inputs):
            return self.head(self.rnn(inputs)[0])

    return ExplainDemo(Sequence(), x, np.array([[1.0]]), last_step_half_sse,
                       "½ (ŷ_T − y)² at the last step", f"an {kind.upper()} (2→4) unrolled "
                       f"over {seq_len} steps, the loss at the last step", notes)


__all__ = ["EXPLAIN_MODELS", "DemoRun", "ExplainDemo", "deep_mlp", "explain_demo",
           "exploding_demo", "healthy_demo", "mnist_digit", "synthetic_digit",
           "vanishing_demo"]
