"""Activations: forward = NumPy formula, float64 gradcheck, forward + gradients = PyTorch's."""
from __future__ import annotations

import math

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import deltaflow as dl
from opcheck import assert_gradcheck, assert_matches_torch, leaf, torch

GRADCHECKED = ("ReLU", "LeakyReLU", "ELU", "GELU", "SiLU", "Mish", "Sigmoid", "Tanh",
               "Softplus", "Hardtanh", "Softmax", "LogSoftmax")

SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
erf = np.vectorize(math.erf)


def np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def np_softplus(x, beta=1.0, threshold=20.0):
    return np.where(beta * x > threshold, x, np.log1p(np.exp(beta * x)) / beta)


def np_softmax(x, dim):
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


def F():
    return torch.nn.functional


# name: (deltaflow fn, torch fn, NumPy reference)
ACTIVATIONS = {
    "relu": (dl.relu, lambda x: torch.relu(x), lambda x: np.maximum(x, 0)),
    "relu_method": (lambda x: x.relu(), lambda x: x.relu(), lambda x: np.maximum(x, 0)),
    "leaky_relu": (lambda x: dl.leaky_relu(x, 0.2), lambda x: F().leaky_relu(x, 0.2),
                   lambda x: np.where(x > 0, x, 0.2 * x)),
    "leaky_relu_default": (dl.leaky_relu, lambda x: F().leaky_relu(x),
                           lambda x: np.where(x > 0, x, 0.01 * x)),
    "elu": (lambda x: dl.elu(x, 1.3), lambda x: F().elu(x, 1.3),
            lambda x: np.where(x > 0, x, 1.3 * np.expm1(x))),
    "selu": (dl.selu, lambda x: F().selu(x),
             lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(x))),
    "gelu": (dl.gelu, lambda x: F().gelu(x), lambda x: 0.5 * x * (1 + erf(x / math.sqrt(2)))),
    "gelu_tanh": (lambda x: dl.gelu(x, approximate="tanh"),
                  lambda x: F().gelu(x, approximate="tanh"),
                  lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi)
                                                   * (x + 0.044715 * x ** 3)))),
    "silu": (dl.silu, lambda x: F().silu(x), lambda x: x * np_sigmoid(x)),
    "mish": (dl.mish, lambda x: F().mish(x), lambda x: x * np.tanh(np_softplus(x))),
    "sigmoid": (dl.sigmoid, lambda x: torch.sigmoid(x), np_sigmoid),
    "tanh": (dl.tanh, lambda x: torch.tanh(x), np.tanh),
    "softplus": (dl.softplus, lambda x: F().softplus(x), np_softplus),
    "softplus_beta": (lambda x: dl.softplus(x, beta=2.0, threshold=1.5),
                      lambda x: F().softplus(x, beta=2.0, threshold=1.5),
                      lambda x: np_softplus(x, 2.0, 1.5)),
    "hardtanh": (lambda x: dl.hardtanh(x, -0.6, 0.7), lambda x: F().hardtanh(x, -0.6, 0.7),
                 lambda x: np.clip(x, -0.6, 0.7)),
    "softmax_last": (dl.softmax, lambda x: torch.softmax(x, -1), lambda x: np_softmax(x, -1)),
    "softmax_dim0": (lambda x: x.softmax(0), lambda x: x.softmax(0),
                     lambda x: np_softmax(x, 0)),
    "log_softmax_last": (dl.log_softmax, lambda x: torch.log_softmax(x, -1),
                         lambda x: np.log(np_softmax(x, -1))),
    "log_softmax_dim0": (lambda x: x.log_softmax(dim=0), lambda x: x.log_softmax(dim=0),
                         lambda x: np.log(np_softmax(x, 0))),
}

SHAPES = [(7,), (3, 4), (2, 3, 4)]


def inputs(shape):
    """Values spread over [-3, 3], kept 0.05 away from the kinks at 0, -0.6, 0.7, 0.75."""
    rng = np.random.default_rng(sum(shape))
    x = rng.uniform(-3, 3, shape)
    for kink in (0.0, -0.6, 0.7, 0.75):
        x = np.where(np.abs(x - kink) < 0.05, kink + 0.1, x)
    return x


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_forward_matches_numpy(name, shape):
    x = inputs(shape)
    out = ACTIVATIONS[name][0](leaf(x))
    np.testing.assert_allclose(out.numpy(), ACTIVATIONS[name][2](x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_gradcheck(name, shape):
    assert_gradcheck(ACTIVATIONS[name][0], inputs(shape))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_matches_torch(name, shape):
    assert_matches_torch(ACTIVATIONS[name][0], ACTIVATIONS[name][1], inputs(shape))


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_matches_torch_at_extremes_and_kinks(name):
    """Large |x| (no overflow, saturated gradients) and the exact kink points: PyTorch's
    conventions for f′ at a kink (relu′(0) = 0, hardtanh′(bound) = 0, ...) are kept."""
    x = np.array([-800.0, -40.0, -0.6, 0.0, 0.7, 0.75, 40.0, 800.0])
    if name.startswith(("softmax", "log_softmax")):
        x = x.reshape(2, 4)
    with np.errstate(over="ignore"):
        assert_matches_torch(ACTIVATIONS[name][0], ACTIVATIONS[name][1], x)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@settings(max_examples=10, deadline=None)
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4),
       seed=st.integers(0, 2**31))
def test_hypothesis_shapes(name, shape, seed):
    x = np.random.default_rng(seed).uniform(-3, 3, shape)
    x = np.where(np.abs(x) < 0.05, 0.1, x)
    dl_fn, torch_fn, np_fn = ACTIVATIONS[name]
    np.testing.assert_allclose(dl_fn(leaf(x)).numpy(), np_fn(x), rtol=1e-12, atol=1e-12)
    if torch is not None:
        assert_matches_torch(dl_fn, torch_fn, x)


@pytest.mark.parametrize("name", ["softmax_last", "log_softmax_last"])
def test_softmax_with_masked_entries_matches_torch(name):
    """-inf entries (attention masks) get probability 0 and gradient 0."""
    x = np.array([[-np.inf, 0.0, 1.0], [2.0, 1.0, -np.inf]])
    dl_fn, torch_fn = ACTIVATIONS[name][:2]
    pick = (lambda y: y[:, 1:2]) if name.startswith("log") else (lambda y: y)
    assert_matches_torch(lambda t: pick(dl_fn(t)), lambda t: pick(torch_fn(t)), x)


def test_float32_sigmoid_softmax_stay_finite():
    x = dl.tensor([-1e4, -100.0, 0.0, 100.0, 1e4])
    assert dl.sigmoid(x).dtype == dl.float32
    assert np.isfinite(dl.sigmoid(x).numpy()).all()
    assert np.isfinite(dl.softmax(x, 0).numpy()).all()
    assert np.isfinite(dl.log_softmax(x, 0).numpy()).all()


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError, match="gelu"):
        dl.gelu(dl.ones(2), approximate="fast")


def test_softmax_bad_dim_names_op():
    with pytest.raises(IndexError, match="softmax: dim 2"):
        dl.softmax(dl.ones(2, 3), dim=2)


def test_gelu_float32_fast_path_is_accurate():
    """float32 GELU uses a polynomial erfc (A&S 7.1.26): Φ within 3·10⁻⁷ of the exact value,
    the left tail relatively accurate, and forward + gradient within float32 noise of the
    float64 exact GELU (and of PyTorch's float32 GELU when installed)."""
    from deltaflow.ops.activation import normal_cdf_pdf
    z64 = np.linspace(-10, 10, 40001)
    z = z64.astype(np.float32)
    exact_cdf = 0.5 * (1 + erf(z.astype(np.float64) / math.sqrt(2)))
    cdf, pdf = normal_cdf_pdf(z)
    assert cdf.dtype == pdf.dtype == np.float32
    np.testing.assert_allclose(cdf, exact_cdf, rtol=0, atol=3e-7)
    tail = (z > -5) & (z < -3)
    np.testing.assert_allclose(cdf[tail], exact_cdf[tail], rtol=2e-3)
    np.testing.assert_allclose(pdf, np.exp(-0.5 * z.astype(np.float64) ** 2)
                               / math.sqrt(2 * math.pi), rtol=1e-5, atol=1e-12)
    x = dl.tensor(z, requires_grad=True)
    y = dl.gelu(x)
    assert y.dtype == dl.float32
    y.backward(dl.ones_like(y))
    exact = z.astype(np.float64) * exact_cdf
    np.testing.assert_allclose(y.numpy(), exact, rtol=1e-6, atol=3e-6)
    exact_grad = exact_cdf + z.astype(np.float64) * np.exp(-0.5 * z.astype(np.float64) ** 2) \
        / math.sqrt(2 * math.pi)
    np.testing.assert_allclose(x.grad.numpy(), exact_grad, rtol=1e-6, atol=3e-6)
    if torch is not None:
        t = torch.tensor(z, requires_grad=True)
        F().gelu(t).sum().backward()
        np.testing.assert_allclose(y.numpy(), F().gelu(torch.tensor(z)).detach().numpy(),
                                   rtol=1e-6, atol=3e-6)
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-6, atol=3e-6)
