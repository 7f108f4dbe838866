"""MNIST MLP inference: the 784-512-512-10 ReLU network of ``mlp`` evaluated without
gradient recording (``no_grad``) over the 10 000 test images in batches of 1000, counting
correct predictions, as an evaluation loop does."""
from __future__ import annotations

from benchmarks.common import counting_evaluation

DESCRIPTION = "MNIST 784-512-512-10 ReLU MLP, no_grad forward over the test set, batch 1000"
TARGET = 1.0
REFERENCE = "torch"
UNIT = "pass"
REPEATS = 15

BATCH = 1000


def make(impl, quick=False):
    from benchmarks.common import mnist_test
    x, y, note = mnist_test(2000 if quick else None)
    maker = {"deltaflow": _deltaflow, "torch": _torch, "numpy": _numpy}.get(impl)
    if maker is None:
        return None
    run = maker(x, y)
    if run is not None:
        run.note = note
    return run


def _deltaflow(x, y):
    import deltaflow as dl
    from deltaflow import nn

    dl.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                          nn.Linear(512, 10))
    return counting_evaluation(dl, model, x, y, BATCH)


def _torch(x, y):
    try:
        import torch
        from torch import nn
    except ImportError:
        return None

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                          nn.Linear(512, 10))
    return counting_evaluation(torch, model, x, y, BATCH)


def _numpy(x, y):
    import numpy as np

    rng = np.random.default_rng(0)

    def layer(n_in, n_out):
        bound = 1 / np.sqrt(n_in)
        return (rng.uniform(-bound, bound, (n_out, n_in)).astype(np.float32),
                rng.uniform(-bound, bound, n_out).astype(np.float32))

    (W1, b1), (W2, b2), (W3, b3) = layer(784, 512), layer(512, 512), layer(512, 10)

    def evaluate():
        correct = 0
        for i in range(0, len(x), BATCH):
            h = np.maximum(x[i:i + BATCH] @ W1.T + b1, 0)
            h = np.maximum(h @ W2.T + b2, 0)
            z = h @ W3.T + b3
            correct += int((z.argmax(axis=1) == y[i:i + BATCH]).sum())
        return correct
    return evaluate
