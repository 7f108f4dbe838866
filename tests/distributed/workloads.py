"""Small float64 trainings shared by the MPI worker (N ranks, batch B/N each) and the tests
(the one-process reference with batch B): same data, same initial weights, same steps."""
from __future__ import annotations

import numpy as np

import deltaflow as dl

BATCH = 12   # divisible by 1, 2, 3
STEPS = 20


def make_model(kind):
    dl.manual_seed(7)
    if kind == "mlp":
        model = dl.nn.Sequential(dl.nn.Linear(6, 16), dl.nn.Tanh(), dl.nn.Linear(16, 3))
    elif kind == "cnn":
        model = dl.nn.Sequential(dl.nn.Conv2d(2, 4, 3, padding=1), dl.nn.ReLU(),
                                 dl.nn.AvgPool2d(2), dl.nn.Flatten(), dl.nn.Linear(16, 3))
    elif kind == "bn":
        model = dl.nn.Sequential(dl.nn.Linear(6, 8), dl.nn.BatchNorm1d(8), dl.nn.Tanh(),
                                 dl.nn.Linear(8, 3))
    elif kind == "bn2d":
        model = dl.nn.Sequential(dl.nn.Conv2d(2, 4, 3, padding=1), dl.nn.BatchNorm2d(4),
                                 dl.nn.ReLU(), dl.nn.Flatten(), dl.nn.Linear(64, 3))
    else:
        raise ValueError(kind)
    return model.double()


def batches(kind):
    """STEPS batches (x, y) of BATCH samples."""
    rng = np.random.default_rng(3)
    shape = (BATCH, 6) if kind in ("mlp", "bn") else (BATCH, 2, 4, 4)
    return [(rng.standard_normal((STEPS,) + shape)[i], rng.integers(0, 3, BATCH))
            for i in range(STEPS)]


def train(kind, world=1, rank=0, wrap=None, micro=1):
    """Final state dict after STEPS SGD-momentum steps on this rank's shard (rows
    rank·B/N … of each batch), split into ``micro`` accumulated micro-batches; ``wrap``
    makes the DDP model (None: the plain model)."""
    model = make_model(kind)
    net = model if wrap is None else wrap(model)
    opt = dl.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = dl.nn.CrossEntropyLoss()
    local = BATCH // world
    for x, y in batches(kind):
        xs, ys = x[rank * local:(rank + 1) * local], y[rank * local:(rank + 1) * local]
        opt.zero_grad()
        step = local // micro
        for m in range(micro):
            xb = dl.tensor(xs[m * step:(m + 1) * step])
            yb = dl.tensor(ys[m * step:(m + 1) * step])
            last = m == micro - 1
            if wrap is not None and not last:
                with net.no_sync():
                    (loss_fn(net(xb), yb) / micro).backward()
            else:
                (loss_fn(net(xb), yb) / micro).backward()
        opt.step()
    return {k: v.data.copy() for k, v in model.state_dict().items()}
