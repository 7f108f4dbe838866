"""PyTorch's dtype rule for layers: a floating input whose dtype differs from the layer's
floating parameters raises a RuntimeError naming the layer, its place in the model, both
dtypes and the fix (Module.__call__ checks it); layers without parameters take any dtype."""
import numpy as np
import pytest

import deltaflow as dl
from deltaflow import nn

# (layer, a float32 input shape); each layer gets one input unless listed in MANY_INPUTS
LAYERS = {
    "Linear": (lambda: nn.Linear(3, 4), (2, 3)),
    "Bilinear": (lambda: nn.Bilinear(3, 3, 2), (2, 3)),
    "Conv1d": (lambda: nn.Conv1d(3, 2, 3), (1, 3, 5)),
    "Conv2d": (lambda: nn.Conv2d(3, 2, 3), (1, 3, 5, 5)),
    "ConvTranspose2d": (lambda: nn.ConvTranspose2d(3, 2, 3), (1, 3, 5, 5)),
    "LSTM": (lambda: nn.LSTM(3, 4), (5, 2, 3)),
    "GRU": (lambda: nn.GRU(3, 4), (5, 2, 3)),
    "RNN": (lambda: nn.RNN(3, 4), (5, 2, 3)),
    "LSTMCell": (lambda: nn.LSTMCell(3, 4), (2, 3)),
    "LayerNorm": (lambda: nn.LayerNorm(3), (2, 3)),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(3), (2, 3)),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(3), (2, 3, 4, 4)),
    "GroupNorm": (lambda: nn.GroupNorm(1, 3), (2, 3)),
    "PReLU": (lambda: nn.PReLU(), (2, 3)),
    "MultiheadAttention": (lambda: nn.MultiheadAttention(4, 2), (5, 2, 4)),
}
MANY_INPUTS = {"Bilinear": 2, "MultiheadAttention": 3}


def _call(name, layer, dtype):
    shape = LAYERS[name][1]
    x = dl.randn(*shape).to(dtype)
    return layer(*[x] * MANY_INPUTS.get(name, 1))


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_float64_input_to_float32_layer_raises_naming_the_fix(name):
    with pytest.raises(RuntimeError) as err:
        _call(name, LAYERS[name][0](), dl.float64)
    message = str(err.value)
    for part in (name, "float64", "float32", "model.double()", "x.float()"):
        assert part in message, (part, message)


@pytest.mark.parametrize("name", ["Linear", "Conv2d", "LSTM", "LayerNorm"])
def test_float32_input_to_float64_layer_raises(name):
    with pytest.raises(RuntimeError, match=r"model\.float\(\).*x\.double\(\)"):
        _call(name, LAYERS[name][0]().double(), dl.float32)


@pytest.mark.parametrize("name", ["Linear", "Conv2d", "LSTM", "GRU", "LayerNorm", "PReLU"])
def test_matching_dtypes_compute_in_that_dtype(name):
    out = _call(name, LAYERS[name][0]().double(), dl.float64)
    out = out[0] if isinstance(out, tuple) else out
    assert out.dtype == dl.float64


def test_the_message_gives_the_layers_place_in_the_model():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))

        def forward(self, x):
            return self.body(x)

    with pytest.raises(RuntimeError, match=r"^Linear \(model\.body\.0\): input dtype float64 "
                                           r"does not match the layer's parameter dtype float32"):
        Net()(dl.randn(2, 3, dtype=dl.float64))


@pytest.mark.parametrize("layer", [nn.ReLU(), nn.Dropout(0.5), nn.Flatten(), nn.MaxPool2d(2),
                                   nn.Sequential(nn.Tanh(), nn.Identity())],
                         ids=lambda m: type(m).__name__)
@pytest.mark.parametrize("dtype", [dl.float32, dl.float64])
def test_layers_without_parameters_take_any_dtype(layer, dtype):
    assert layer(dl.randn(1, 2, 4, 4).to(dtype)).dtype == dtype


def test_integer_inputs_are_not_compared():
    emb = nn.Embedding(4, 2)
    assert emb(dl.tensor(np.array([0, 3]))).dtype == dl.float32
    with pytest.raises(TypeError, match="integers"):  # Embedding's own message
        emb(dl.randn(2, dtype=dl.float64))


def test_a_forward_pre_hook_may_convert_the_input_first():
    layer = nn.Linear(3, 4)
    layer.register_forward_pre_hook(lambda module, args: (args[0].float(),))
    assert layer(dl.randn(2, 3, dtype=dl.float64)).dtype == dl.float32
    layer = nn.Linear(3, 4)
    layer.register_forward_hook(lambda module, args, out: out)
    with pytest.raises(RuntimeError, match="float64"):
        layer(dl.randn(2, 3, dtype=dl.float64))


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_pytorch_refuses_the_same_mix(name):
    torch = pytest.importorskip("torch")
    layer = getattr(torch.nn, name)
    args = {"Linear": (3, 4), "Bilinear": (3, 3, 2), "Conv1d": (3, 2, 3), "Conv2d": (3, 2, 3),
            "ConvTranspose2d": (3, 2, 3), "LSTM": (3, 4), "GRU": (3, 4), "RNN": (3, 4),
            "LSTMCell": (3, 4), "LayerNorm": (3,), "BatchNorm1d": (3,), "BatchNorm2d": (3,),
            "GroupNorm": (1, 3), "PReLU": (), "MultiheadAttention": (4, 2)}[name]
    x = torch.randn(*LAYERS[name][1], dtype=torch.float64)
    with pytest.raises((RuntimeError, ValueError)):  # torch's RNNs raise ValueError
        layer(*args)(*[x] * MANY_INPUTS.get(name, 1))
