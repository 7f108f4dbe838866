"""nn.utils.parametrize and parametrizations.weight_norm / spectral_norm equal PyTorch's:
the same state_dict keys, and (with PyTorch's weights and buffers loaded) the same forward,
input and original-parameter gradients in float64; assignment and removal."""
from __future__ import annotations

import numpy as np
import pytest

import deltaflow as dl
import deltaflow.nn as nn
from deltaflow.nn.utils import parametrizations as P
from deltaflow.nn.utils import parametrize

from .helpers import compare_module, rand, torch

tnn = torch.nn
TP = torch.nn.utils.parametrizations

LAYERS = [(lambda lib: lib.Linear(4, 3), (5, 4)),
          (lambda lib: lib.Conv2d(2, 3, 3), (2, 2, 5, 5)),
          (lambda lib: lib.ConvTranspose2d(2, 3, 3), (1, 2, 4, 4))]


@pytest.mark.parametrize("make,shape", LAYERS)
@pytest.mark.parametrize("dim", [0, 1, None])
def test_weight_norm_matches_torch(make, shape, dim):
    d, t = P.weight_norm(make(nn), dim=dim), TP.weight_norm(make(tnn), dim=dim)
    assert list(d.state_dict()) == list(t.state_dict())
    compare_module(d, t, rand(*shape))
    assert type(d).__name__ == type(t).__name__


@pytest.mark.parametrize("make,shape", LAYERS)
def test_spectral_norm_matches_torch(make, shape):
    d, t = P.spectral_norm(make(nn)), TP.spectral_norm(make(tnn))
    assert list(d.state_dict()) == list(t.state_dict())
    compare_module(d, t, rand(*shape))           # one power step in training mode
    for key, value in t.state_dict().items():
        np.testing.assert_allclose(d.state_dict()[key].numpy(), value.numpy(), rtol=1e-9,
                                   err_msg=key)
    compare_module(d, t, rand(*shape, seed=1), train=False)


def test_spectral_norm_divides_by_the_largest_singular_value():
    layer = P.spectral_norm(nn.Linear(6, 4).double(), n_power_iterations=50)
    layer.train()
    w = layer.weight.numpy()
    assert np.isclose(np.linalg.svd(w, compute_uv=False)[0], 1.0, rtol=1e-6)


def test_weight_norm_assignment_and_removal():
    layer = P.weight_norm(nn.Linear(3, 2))
    assert parametrize.is_parametrized(layer, "weight")
    target = dl.tensor(rand(2, 3).astype(np.float32))
    layer.weight = target
    np.testing.assert_allclose(layer.weight.numpy(), target.numpy(), rtol=1e-6)
    np.testing.assert_allclose(layer.parametrizations.weight.original0.numpy()[:, 0],
                               np.linalg.norm(target.numpy(), axis=1), rtol=1e-6)
    parametrize.remove_parametrizations(layer, "weight")
    assert type(layer) is nn.Linear and not parametrize.is_parametrized(layer)
    assert isinstance(layer.weight, nn.Parameter)
    assert sorted(layer.state_dict()) == ["bias", "weight"]
    np.testing.assert_allclose(layer.weight.numpy(), target.numpy(), rtol=1e-6)


def test_parametrizations_are_trained_through_their_originals():
    layer = P.weight_norm(nn.Linear(3, 2))
    names = [n for n, _ in layer.named_parameters()]
    assert names == ["bias", "parametrizations.weight.original0",
                     "parametrizations.weight.original1"]
    opt = dl.optim.SGD(layer.parameters(), lr=0.1)
    before = layer.weight.numpy().copy()
    layer(dl.randn(4, 3)).sum().backward()
    opt.step()
    assert not np.allclose(layer.weight.numpy(), before)


def test_errors():
    with pytest.raises(ValueError, match="has no parameter 'kernel'"):
        P.weight_norm(nn.Linear(2, 2), name="kernel")
    with pytest.raises(ValueError, match="no parametrization on 'weight'"):
        parametrize.remove_parametrizations(nn.Linear(2, 2), "weight")
