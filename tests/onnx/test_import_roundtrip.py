"""Round trip: a deltaflow model → ``dl.onnx.export`` → ``dl.onnx.load`` gives the same
outputs and the same parameter gradients (the exporter names initializers by
``state_dict`` keys, and the loader registers them under those keys), with another batch
size than the export's example."""
from __future__ import annotations

import numpy as np
import pytest

import deltaflow as dl
from deltaflow import nn

pytest.importorskip("onnx")
import deltaflow.onnx  # noqa: E402,F401  (dl.onnx: the optional subpackage)


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.bn = nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.conv2, self.fc = nn.Conv2d(4, 6, 3, stride=2), nn.Linear(24, 3)

    def forward(self, x):
        x = dl.nn.functional.max_pool2d(dl.relu(self.bn(self.conv1(x))), 2)
        return self.fc(dl.relu(self.conv2(x)).flatten(1))


class LSTMClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm, self.fc = nn.LSTM(5, 8, batch_first=True), nn.Linear(8, 3)

    def forward(self, x):
        y, _ = self.lstm(x)
        return self.fc(y[:, -1])


class GRUClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru, self.fc = nn.GRU(5, 8), nn.Linear(8, 3)

    def forward(self, x):
        y, _ = self.gru(x)
        return self.fc(y[-1])


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.1, batch_first=True)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc(self.layer(x).mean(1))


CASES = {
    "mlp": (lambda: nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Dropout(0.2),
                                  nn.Linear(16, 3), nn.LogSoftmax(dim=1)), (6,)),
    "cnn": (CNN, (1, 10, 10)),
    "lstm": (LSTMClassifier, (7, 5)),
    "gru": (GRUClassifier, (2, 5)),            # time-major (T, N, I): the dynamic axis is T
    "transformer": (Encoder, (5, 8)),
}


def _input(name, batch, seed):
    """An input with ``batch`` along axis 0 (the exporter's dynamic axis)."""
    shape = (batch, *CASES[name][1])
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("name", list(CASES))
def test_round_trip(tmp_path, name):
    dl.manual_seed(0)
    model = CASES[name][0]().eval()
    for m in model.modules():                    # statistics that are not 0 and 1
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.data[:] = np.linspace(-0.5, 0.5, 4)
            m.running_var.data[:] = np.linspace(0.5, 2.0, 4)
    path = tmp_path / "m.onnx"
    dl.onnx.export(model, (dl.tensor(_input(name, 2, 1)),), path)
    loaded = dl.onnx.load(path).eval()
    # every tensor the graph reads keeps its key (BatchNorm's step counter is not read;
    # constants the exporter wrote as initializers come on top)
    keys = {k for k in model.state_dict() if not k.endswith("num_batches_tracked")}
    assert keys <= set(loaded.state_dict())
    x = _input(name, 3, 2)
    out, back = model(dl.tensor(x)), loaded(dl.tensor(x))
    w = dl.tensor(np.random.default_rng(3).standard_normal(out.shape).astype(np.float32))
    np.testing.assert_allclose(back.data, out.data, rtol=1e-5, atol=1e-5)
    (out * w).sum().backward()
    (back * w).sum().backward()
    params = dict(loaded.named_parameters())
    for key, p in model.named_parameters():
        np.testing.assert_allclose(params[key].grad.data, p.grad.data, rtol=1e-4, atol=1e-5,
                                   err_msg=key)
