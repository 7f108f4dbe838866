"""A NumPy array or a list where a layer or an op takes a Tensor is a TypeError that names
the layer (and its place in the model) or the op, and says how to convert it."""
import numpy as np
import pytest

import deltaflow as dl
from deltaflow import nn
from deltaflow.nn import functional as F

ARRAY = np.ones((2, 3), dtype=np.float32)


@pytest.mark.parametrize("layer", [nn.Linear(3, 4), nn.LayerNorm(3), nn.LSTM(3, 4),
                                   nn.BatchNorm1d(3)], ids=lambda m: type(m).__name__)
def test_a_layer_given_an_array_says_to_convert_it(layer):
    name = type(layer).__name__
    with pytest.raises(TypeError, match=rf"^{name}: input must be a Tensor, got a numpy\.ndarray; "
                                        r"convert it with dl\.from_numpy\(x\) or dl\.tensor\(x\)"):
        layer(ARRAY)


def test_a_layer_given_a_list_says_dl_tensor():
    with pytest.raises(TypeError, match=r"^Linear: input must be a Tensor, got a list; "
                                        r"convert it with dl\.tensor\(x\)$"):
        nn.Linear(3, 4)(ARRAY.tolist())


def test_the_message_names_the_layer_inside_the_model():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
    with pytest.raises(TypeError, match=r"^Conv2d \(model\.0\): input must be a Tensor"):
        model(np.ones((1, 1, 5, 5), dtype=np.float32))


def test_the_suggested_conversions_work():
    layer = nn.Linear(3, 4)
    assert layer(dl.from_numpy(ARRAY)).shape == (2, 4)
    assert layer(dl.tensor(ARRAY.tolist())).shape == (2, 4)


def test_embedding_indices_may_still_be_checked_by_the_layer():
    emb = nn.Embedding(4, 2)  # its input is indices: left to Embedding's forward
    assert emb(dl.tensor(np.array([1, 2]))).shape == (2, 2)


FUNCTIONAL = [
    ("exp", lambda a: dl.exp(a)),
    ("tanh", lambda a: dl.tanh(a)),
    ("relu", lambda a: F.relu(a)),
    ("relu", lambda a: nn.ReLU()(a)),  # a layer without parameters: its op's message
    ("linear", lambda a: F.linear(a, dl.randn(4, 3))),
    ("cat", lambda a: dl.cat([a, dl.ones(2, 3)])),
    ("softmax", lambda a: F.softmax(a, dim=1)),
]


@pytest.mark.parametrize("op, call", FUNCTIONAL, ids=[f"{op}-{i}" for i, (op, _) in
                                                       enumerate(FUNCTIONAL)])
def test_an_op_given_an_array_says_to_convert_it(op, call):
    with pytest.raises(TypeError, match=rf"^{op}: argument 1 must be a Tensor, got a "
                                        r"numpy\.ndarray; convert it with dl\.from_numpy\(x\)"):
        call(ARRAY)
