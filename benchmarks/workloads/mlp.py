"""MNIST MLP training: 784-512-512-10 with ReLU, batch 128, SGD with momentum 0.9,
cross-entropy; one call is one epoch over the 60 000 training images (469 steps, the last
one of 96), shuffled. Each implementation is written as a user of that library would
write it; batches are taken by indexing the whole dataset with a shuffled permutation (no
DataLoader, whose per-sample collation would dominate in every library). The NumPy version
is the hand-written, layer-by-layer floor: what the same training costs with no framework."""
from __future__ import annotations

DESCRIPTION = ("MNIST 784-512-512-10 ReLU MLP, batch 128, SGD momentum 0.9, cross-entropy: "
               "one epoch")
TARGET = 1.0
REFERENCE = "torch"
UNIT = "epoch"
REPEATS = 9
FLOOR_TARGET = 0.6      # share of the GEMM floor (benchmarks/gemm_floor.py), issue 21

BATCH = 128
LR = 0.01
MOMENTUM = 0.9


def layers(nn, width=512):
    """784-width-width-10 with ReLU, in the library whose ``nn`` is given."""
    return nn.Sequential(nn.Linear(784, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                         nn.Linear(width, 10))


def step_gemms(batch, width=512):
    """The products of one training step on ``batch`` images (benchmarks/gemm_floor.py):
    three Linear layers forward and backward, no ∂x for the first (its input is the data).
    At batch 128, width 512: 0.411 GFLOP."""
    from benchmarks.gemm_floor import linear
    return (linear("fc1", batch, 784, width, input_grad=False)
            + linear("fc2", batch, width, width) + linear("fc3", batch, width, 10))


def gemms(quick=False):
    """The products of one epoch: the full batches, then the last partial one."""
    from benchmarks.gemm_floor import times
    full, rest = divmod(2048 if quick else 60000, BATCH)
    return times(step_gemms(BATCH), full) + (times(step_gemms(rest), 1) if rest else [])


def _batches(n, rng):
    perm = rng.permutation(n)
    return [perm[i:i + BATCH] for i in range(0, n, BATCH)]


def make(impl, quick=False):
    import numpy as np

    from benchmarks.common import mnist_train
    x, y, note = mnist_train(2048 if quick else None)
    rng = np.random.default_rng(0)
    maker = {"deltaflow": _deltaflow, "torch": _torch, "numpy": _numpy}.get(impl)
    if maker is None:
        return None
    epoch = maker(x, y, rng)
    if epoch is not None:
        epoch.note = note
    return epoch


def _deltaflow(x, y, rng):
    import deltaflow as dl
    from deltaflow import nn, optim

    dl.manual_seed(0)
    model = layers(nn)
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    X, Y = dl.from_numpy(x), dl.from_numpy(y)

    def epoch():
        for idx in _batches(len(x), rng):
            idx = dl.from_numpy(idx)
            opt.zero_grad()
            loss = loss_fn(model(X[idx]), Y[idx])
            loss.backward()
            opt.step()
    return epoch


def _torch(x, y, rng):
    try:
        import torch
        from torch import nn, optim
    except ImportError:
        return None

    torch.manual_seed(0)
    model = layers(nn)
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    X, Y = torch.from_numpy(x), torch.from_numpy(y)

    def epoch():
        for idx in _batches(len(x), rng):
            idx = torch.from_numpy(idx)
            opt.zero_grad()
            loss = loss_fn(model(X[idx]), Y[idx])
            loss.backward()
            opt.step()
    return epoch


def _numpy(x, y, rng):
    import numpy as np

    def layer(n_in, n_out):  # PyTorch's default init: U(-1/sqrt(n_in), 1/sqrt(n_in))
        bound = 1 / np.sqrt(n_in)
        return (rng.uniform(-bound, bound, (n_out, n_in)).astype(np.float32),
                rng.uniform(-bound, bound, n_out).astype(np.float32))

    W1, b1 = layer(784, 512)
    W2, b2 = layer(512, 512)
    W3, b3 = layer(512, 10)
    params = [W1, b1, W2, b2, W3, b3]
    bufs = [None] * len(params)

    def step(xb, yb):
        n = len(yb)
        h1 = np.maximum(xb @ W1.T + b1, 0)             # forward
        h2 = np.maximum(h1 @ W2.T + b2, 0)
        z = h2 @ W3.T + b3
        z -= z.max(axis=1, keepdims=True)              # softmax cross-entropy
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        dz = p
        dz[np.arange(n), yb] -= 1
        dz /= n
        dW3, db3 = dz.T @ h2, dz.sum(axis=0)           # backward
        d2 = dz @ W3
        d2 *= h2 > 0
        dW2, db2 = d2.T @ h1, d2.sum(axis=0)
        d1 = d2 @ W2
        d1 *= h1 > 0
        dW1, db1 = d1.T @ xb, d1.sum(axis=0)
        for k, (prm, g) in enumerate(zip(params, (dW1, db1, dW2, db2, dW3, db3))):
            if bufs[k] is None:                        # SGD with momentum, in place
                bufs[k] = g.copy()
            else:
                bufs[k] *= MOMENTUM
                bufs[k] += g
            prm -= LR * bufs[k]

    def epoch():
        for idx in _batches(len(x), rng):
            step(x[idx], y[idx])
    return epoch
