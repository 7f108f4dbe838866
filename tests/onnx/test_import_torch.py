"""Models exported by PyTorch's own ``torch.onnx.export`` load in deltaflow
(``dl.onnx.load``), give PyTorch's outputs (float32, rtol/atol 1e-5), have PyTorch's
gradients w.r.t. their parameters, and fine-tune."""
from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pytest

import deltaflow as dl
import deltaflow.nn.functional as F
import deltaflow.onnx  # noqa: F401  (dl.onnx: the optional subpackage)

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

TOL = dict(rtol=1e-5, atol=1e-5)


class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = torch.nn.Linear(6, 16), torch.nn.Linear(16, 3)

    def forward(self, x):
        return self.fc2(torch.nn.functional.gelu(self.fc1(x)))


class CNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(4)
        self.conv2 = torch.nn.Conv2d(4, 6, 3, stride=2)
        self.fc = torch.nn.Linear(6 * 2 * 2, 3)

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(torch.relu(self.bn(self.conv1(x))), 2)
        x = torch.nn.functional.adaptive_avg_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc(x.flatten(1))


class LSTM(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(5, 8, batch_first=True)
        self.fc = torch.nn.Linear(8, 3)

    def forward(self, x):
        y, _ = self.lstm(x)
        return self.fc(y[:, -1])


class Transformer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(20, 16)
        self.enc = torch.nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True)
        self.fc = torch.nn.Linear(16, 3)

    def forward(self, x):
        return self.fc(self.enc(self.emb(x)).mean(1))


def example(name, batch, seed=0):
    g = np.random.default_rng(seed)
    if name == "Transformer":
        return g.integers(0, 20, (batch, 6))
    shape = {"MLP": (batch, 6), "CNN": (batch, 1, 12, 12), "LSTM": (batch, 7, 5)}[name]
    return g.standard_normal(shape).astype(np.float32)


MODELS = {"MLP": MLP, "CNN": CNN, "LSTM": LSTM, "Transformer": Transformer}
#: torch.onnx.export's two exporters: torch.export-based (the default; needs onnxscript),
#: its unoptimised form (PyTorch's parameter names kept: no folding), and TorchScript
EXPORTERS = ["dynamo", "dynamo-unoptimized", "torchscript"]


def export(name, exporter, path, seed=0):
    """The torch model ``name`` (eval mode, seeded) and its export to ``path``."""
    torch.manual_seed(seed)
    model = MODELS[name]().eval()
    if name == "CNN":                            # running statistics that are not 0 and 1
        model.bn.running_mean.uniform_(-0.5, 0.5)
        model.bn.running_var.uniform_(0.5, 2.0)
    x = (torch.from_numpy(example(name, 2, seed + 1)),)
    if exporter == "torchscript":
        kw = dict(dynamo=False, input_names=["x"], dynamic_axes={"x": {0: "batch"}})
    else:
        pytest.importorskip("onnxscript")
        kw = dict(dynamo=True, optimize=exporter == "dynamo",
                  dynamic_shapes=({0: torch.export.Dim("batch")},))
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(model, x, str(path), **kw)
    return model


def as_dl(x):
    return dl.tensor(x)


def as_torch(x):
    return torch.from_numpy(x)


@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("name", list(MODELS))
def test_outputs_equal_pytorch(tmp_path, name, exporter):
    """Another batch size than the export's example (the batch axis is dynamic)."""
    model = export(name, exporter, tmp_path / "m.onnx")
    loaded = dl.onnx.load(tmp_path / "m.onnx")
    loaded.eval()
    for batch in (2, 5):
        x = example(name, batch, seed=7)
        with torch.no_grad():
            want = model(as_torch(x)).numpy()
        got = loaded(as_dl(x))
        assert got.dtype == dl.float32 and got.shape == want.shape
        np.testing.assert_allclose(got.data, want, **TOL)


@pytest.mark.parametrize("name", list(MODELS))
def test_gradients_equal_pytorch(tmp_path, name):
    """∂(Σ out ⊙ w)/∂θ for every parameter θ of the torch model (the unoptimised export
    keeps their names, so the loaded model's state-dict keys are PyTorch's)."""
    model = export(name, "dynamo-unoptimized", tmp_path / "m.onnx")
    loaded = dl.onnx.load(tmp_path / "m.onnx")
    x = example(name, 3, seed=3)
    w = np.random.default_rng(4).standard_normal((3, 3)).astype(np.float32)
    (model(as_torch(x)) * as_torch(w)).sum().backward()
    (loaded(as_dl(x)) * as_dl(w)).sum().backward()
    params = dict(loaded.named_parameters())
    assert set(dict(model.named_parameters())) <= set(params)
    for key, p in model.named_parameters():
        assert params[key].grad is not None, key
        np.testing.assert_allclose(params[key].grad.data, p.grad.numpy(), rtol=1e-4,
                                   atol=1e-5, err_msg=key)
    buffers = dict(loaded.named_buffers())
    for key, b in model.named_buffers():          # BatchNorm's statistics stay buffers
        if b.dtype.is_floating_point:
            np.testing.assert_array_equal(buffers[key].data, b.numpy())


@pytest.mark.parametrize("name", list(MODELS))
def test_fine_tunes(tmp_path, name):
    """20 SGD steps on a fixed batch lower the cross-entropy (the default export, whose
    folded initializers are the parameters)."""
    export(name, "dynamo", tmp_path / "m.onnx")
    loaded = dl.onnx.load(tmp_path / "m.onnx")
    loaded.train()
    x, y = as_dl(example(name, 8, seed=5)), dl.tensor(np.arange(8) % 3)
    opt = dl.optim.SGD(loaded.parameters(), lr=0.3, momentum=0.9)
    losses = []
    for _ in range(20):
        loss = F.cross_entropy(loaded(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0], losses


def test_gradcheck_in_float64(tmp_path):
    """The loaded graph is differentiable end to end: float64 central differences agree
    with backprop w.r.t. the input."""
    export("MLP", "dynamo", tmp_path / "m.onnx")
    loaded = dl.onnx.load(tmp_path / "m.onnx").double()
    x = dl.tensor(example("MLP", 2).astype(np.float64), requires_grad=True)
    assert dl.autograd.gradcheck(loaded, (x,))
