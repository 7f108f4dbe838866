"""Initialisers: statistics, fans, gains (vs PyTorch's values), reproducibility."""
import math

import numpy as np
import pytest

import deltaflow as dl
from deltaflow.nn import init

from .helpers import torch


def empty(*shape, dtype=None):
    return dl.empty(*shape, dtype=dtype)


@pytest.mark.parametrize("name,param", [("linear", None), ("conv2d", None), ("sigmoid", None),
                                        ("tanh", None), ("relu", None), ("leaky_relu", None),
                                        ("leaky_relu", 0.2), ("selu", None)])
def test_calculate_gain_matches_torch(name, param):
    assert init.calculate_gain(name, param) == pytest.approx(
        torch.nn.init.calculate_gain(name, param), rel=1e-12)


def test_calculate_gain_rejects_unknown():
    with pytest.raises(ValueError, match="unsupported nonlinearity"):
        init.calculate_gain("swish")


def test_fans_match_torch():
    for shape in [(5, 3), (8, 4, 3, 3), (2, 6, 5)]:
        assert init._calculate_fan_in_and_fan_out(empty(*shape)) == \
            torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(*shape))
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(empty(4))


def test_uniform_normal_constant():
    dl.manual_seed(0)
    t = init.uniform_(empty(300, 300), -2.0, 3.0).numpy()
    assert t.min() >= -2 and t.max() < 3 and abs(t.mean() - 0.5) < 0.05
    t = init.normal_(empty(300, 300), 1.0, 2.0).numpy()
    assert abs(t.mean() - 1) < 0.03 and abs(t.std() - 2) < 0.03
    assert np.all(init.constant_(empty(3), 0.25).numpy() == 0.25)
    assert np.all(init.ones_(empty(3)).numpy() == 1) and np.all(init.zeros_(empty(3)).numpy() == 0)
    np.testing.assert_array_equal(init.eye_(empty(2, 3)).numpy(), np.eye(2, 3))


def test_trunc_normal_stays_in_bounds():
    dl.manual_seed(1)
    t = init.trunc_normal_(empty(200, 200, dtype=dl.float64), mean=0.5, std=1.0, a=-0.5,
                           b=1.0).numpy()
    assert t.min() >= -0.5 and t.max() <= 1.0
    # mean of N(0.5, 1) truncated to [-0.5, 1]: 0.5 + (φ(-1) - φ(0.5)) / (Φ(0.5) - Φ(-1))
    phi = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    cdf = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))  # noqa: E731
    expected = 0.5 + (phi(-1) - phi(0.5)) / (cdf(0.5) - cdf(-1))
    assert abs(t.mean() - expected) < 0.01


@pytest.mark.parametrize("shape", [(256, 512), (64, 32, 3, 3)])
def test_xavier_and_kaiming_statistics(shape):
    dl.manual_seed(2)
    fan_in, fan_out = init._calculate_fan_in_and_fan_out(empty(*shape))
    xs = math.sqrt(2 / (fan_in + fan_out))
    t = init.xavier_uniform_(empty(*shape), gain=2.0).numpy()
    assert np.abs(t).max() <= 2 * math.sqrt(3) * xs and abs(t.std() / (2 * xs) - 1) < 0.03
    assert abs(init.xavier_normal_(empty(*shape)).numpy().std() / xs - 1) < 0.03
    ks = math.sqrt(2) / math.sqrt(fan_in)
    t = init.kaiming_uniform_(empty(*shape), nonlinearity="relu").numpy()
    assert np.abs(t).max() <= math.sqrt(3) * ks and abs(t.std() / ks - 1) < 0.03
    t = init.kaiming_normal_(empty(*shape), mode="fan_out", nonlinearity="relu").numpy()
    assert abs(t.std() / (math.sqrt(2) / math.sqrt(fan_out)) - 1) < 0.03
    a5 = init.kaiming_uniform_(empty(*shape), a=math.sqrt(5)).numpy()
    assert np.abs(a5).max() <= 1 / math.sqrt(fan_in)  # PyTorch's Linear/Conv default
    with pytest.raises(ValueError, match="fan_in, fan_out"):
        init.kaiming_normal_(empty(*shape), mode="fan_avg")


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (3, 2, 2)])
def test_orthogonal(shape):
    dl.manual_seed(3)
    t = init.orthogonal_(empty(*shape, dtype=dl.float64), gain=2.0).numpy()
    flat = t.reshape(shape[0], -1) / 2
    small = flat.T @ flat if flat.shape[0] >= flat.shape[1] else flat @ flat.T
    np.testing.assert_allclose(small, np.eye(small.shape[0]), atol=1e-10)


def test_initialisers_are_seeded_in_place_and_keep_dtype():
    t = empty(4, 5)
    data = t.data
    dl.manual_seed(7)
    a = init.kaiming_uniform_(t).numpy().copy()
    assert t.data is data and t.dtype == dl.float32
    dl.manual_seed(7)
    np.testing.assert_array_equal(init.kaiming_uniform_(empty(4, 5)).numpy(), a)
    p = dl.nn.Parameter(dl.zeros(3, 3))
    init.normal_(p)
    assert p.requires_grad and p.is_leaf and p.grad is None
