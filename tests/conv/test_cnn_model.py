"""``--model cnn``: the LeNet-style builder (shapes, options, errors) and a short training
run on the real scikit-learn digits that must lower the loss."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import deltaflow as dl
from deltaflow import models, nn
from deltaflow.models.cnn import cnn


def test_builder_is_registered_and_honours_options():
    args = SimpleNamespace(channels=(8, 16, 4), kernel_size=5, fc=0, dropout=0.3,
                           batchnorm=True)
    model = models.build("cnn", (3, 16, 12), 7, args)
    types = [type(m).__name__ for m in model]
    assert types.count("Conv2d") == 3 and types.count("BatchNorm2d") == 3
    assert types.count("Linear") == 1 and "Dropout" in types
    assert model[0].kernel_size == (5, 5) and model[0].padding == (2, 2)
    assert model(dl.zeros(2, 3, 16, 12)).shape == (2, 7)


def test_default_cnn_is_the_benchmark_network():
    model = models.build("cnn", (1, 28, 28), 10)
    s = dl.summary(model, (1, 1, 28, 28), print_fn=None)
    assert s.total_params == 421_642
    assert [lay.output_shape for lay in s.layers][-1] == (1, 10)


@pytest.mark.parametrize("shape,kw,message", [
    ((64,), {}, "expected image inputs"),
    ((1, 8, 8), dict(channels=(4, 4, 4, 4)), "halve"),
    ((1, 8, 8), dict(kernel_size=4), "odd"),
])
def test_builder_errors(shape, kw, message):
    with pytest.raises(ValueError, match=message):
        cnn(shape, 10, **kw)


def test_cnn_learns_digits():
    pytest.importorskip("sklearn")
    from deltaflow.data import datasets
    splits = datasets.digits(flatten=False)
    x, y = (np.stack([splits.train[i][k] for i in range(256)]) for k in (0, 1))
    x, y = dl.tensor(np.asarray(x, np.float32)), dl.tensor(np.asarray(y, np.int64))
    dl.manual_seed(0)
    model = cnn((1, 8, 8), 10, channels=(8, 16), fc=32)
    opt = dl.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for step in range(60):
        idx = dl.tensor(np.arange(step * 64, step * 64 + 64) % 256)
        opt.zero_grad()
        loss = loss_fn(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
