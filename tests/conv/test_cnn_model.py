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


def test_benchmark_network_trains_like_torch_in_float32():
    """The cnn benchmark's network, float32, same initial weights and batches: three Adam
    steps give the same losses and weights as PyTorch's (to float32 rounding)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.random((3, 16, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, (3, 16))

    def layers(m):
        return m.Sequential(m.Conv2d(1, 32, 3, padding=1), m.ReLU(), m.MaxPool2d(2),
                            m.Conv2d(32, 64, 3, padding=1), m.ReLU(), m.MaxPool2d(2),
                            m.Flatten(), m.Linear(3136, 128), m.ReLU(), m.Linear(128, 10))
    torch.manual_seed(0)
    t_model, d_model = layers(torch.nn), layers(nn)
    d_model.load_state_dict({k: v.numpy().copy() for k, v in t_model.state_dict().items()})
    t_opt = torch.optim.Adam(t_model.parameters(), lr=1e-3)
    d_opt = dl.optim.Adam(d_model.parameters(), lr=1e-3)
    for k in range(3):
        t_opt.zero_grad()
        t_loss = torch.nn.functional.cross_entropy(t_model(torch.from_numpy(x[k])),
                                                   torch.from_numpy(y[k]))
        t_loss.backward()
        t_opt.step()
        d_opt.zero_grad()
        d_loss = nn.functional.cross_entropy(d_model(dl.tensor(x[k])), dl.tensor(y[k]))
        d_loss.backward()
        if k == 0:
            for (name, d_p), t_p in zip(d_model.named_parameters(), t_model.parameters()):
                scale = np.abs(t_p.grad.numpy()).max()
                np.testing.assert_allclose(d_p.grad.numpy(), t_p.grad.numpy(), rtol=1e-4,
                                           atol=1e-5 * scale, err_msg=name)
        d_opt.step()
        np.testing.assert_allclose(d_loss.item(), t_loss.item(), rtol=1e-5)
    # Adam moves a weight with a near-zero gradient by ±lr whatever its size, so rounding
    # can show up as a small fraction of lr = 1e-3
    for name, t_p in t_model.state_dict().items():
        np.testing.assert_allclose(d_model.state_dict()[name].numpy(), t_p.numpy(),
                                   rtol=1e-3, atol=2e-4, err_msg=name)
