"""Activations: forward = NumPy formula, float64 gradcheck, forward + gradients = PyTorch's."""
from __future__ import annotations

import math
from dataclasses import replace

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import deltaflow as dl
import deltaflow.nn.functional as DF
from opcheck import CHECKS, OpCase, check_op, normal, op_params, special, torch

GRADCHECKED = ("ReLU", "LeakyReLU", "ELU", "GELU", "SiLU", "Mish", "Sigmoid", "Tanh",
               "Softplus", "Hardtanh", "Softmax", "LogSoftmax", "Hardsigmoid", "Hardswish")
GRADGRADCHECKED = GRADCHECKED   # second derivatives: opcheck.SECOND_ORDER on every row

SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
erf = np.vectorize(math.erf)


def np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def np_softplus(x, beta=1.0, threshold=20.0):
    return np.where(beta * x > threshold, x, np.log1p(np.exp(beta * x)) / beta)


def np_softmax(x, dim):
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


def np_cosine_similarity(a, b, dim=1):
    a, b = np.broadcast_arrays(a, b)
    na = np.linalg.norm(a, axis=dim, keepdims=True)
    nb = np.linalg.norm(b, axis=dim, keepdims=True)
    return ((a / na) * (b / nb)).sum(dim)


def F():
    return torch.nn.functional


def away_from_kinks(rng, shape):
    """Values spread over [-3, 3], kept 0.05 away from the kinks at 0, -0.6, 0.7, 0.75."""
    x = rng.uniform(-3, 3, shape)
    for kink in (0.0, -0.6, 0.7, 0.75):
        x = np.where(np.abs(x - kink) < 0.05, kink + 0.1, x)
    return x


ACTIVATIONS = [replace(op, draw=away_from_kinks) for op in [
    OpCase("relu", dl.relu, lambda x: np.maximum(x, 0), lambda x: torch.relu(x)),
    OpCase("relu_method", lambda x: x.relu(), lambda x: np.maximum(x, 0)),
    OpCase("leaky_relu", lambda x: dl.leaky_relu(x, 0.2), lambda x: np.where(x > 0, x, 0.2 * x),
           lambda x: F().leaky_relu(x, 0.2)),
    OpCase("leaky_relu_default", dl.leaky_relu, lambda x: np.where(x > 0, x, 0.01 * x),
           lambda x: F().leaky_relu(x)),
    OpCase("elu", lambda x: dl.elu(x, 1.3), lambda x: np.where(x > 0, x, 1.3 * np.expm1(x)),
           lambda x: F().elu(x, 1.3)),
    OpCase("selu", dl.selu, lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(x)),
           lambda x: F().selu(x)),
    OpCase("gelu", dl.gelu, lambda x: 0.5 * x * (1 + erf(x / math.sqrt(2))), lambda x: F().gelu(x)),
    OpCase("gelu_tanh", lambda x: dl.gelu(x, approximate="tanh"),
           lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))),
           lambda x: F().gelu(x, approximate="tanh")),
    OpCase("silu", dl.silu, lambda x: x * np_sigmoid(x), lambda x: F().silu(x)),
    OpCase("mish", dl.mish, lambda x: x * np.tanh(np_softplus(x)), lambda x: F().mish(x)),
    OpCase("sigmoid", dl.sigmoid, np_sigmoid, lambda x: torch.sigmoid(x)),
    OpCase("tanh", dl.tanh, np.tanh, lambda x: torch.tanh(x)),
    OpCase("softplus", dl.softplus, np_softplus, lambda x: F().softplus(x)),
    OpCase("softplus_beta", lambda x: dl.softplus(x, beta=2.0, threshold=1.5),
           lambda x: np_softplus(x, 2.0, 1.5), lambda x: F().softplus(x, beta=2.0, threshold=1.5)),
    OpCase("hardtanh", lambda x: dl.hardtanh(x, -0.6, 0.7), lambda x: np.clip(x, -0.6, 0.7),
           lambda x: F().hardtanh(x, -0.6, 0.7)),
    OpCase("softmax_last", dl.softmax, lambda x: np_softmax(x, -1), lambda x: torch.softmax(x, -1)),
    OpCase("softmax_dim0", lambda x: x.softmax(0), lambda x: np_softmax(x, 0)),
    OpCase("log_softmax_last", dl.log_softmax, lambda x: np.log(np_softmax(x, -1)),
           lambda x: torch.log_softmax(x, -1)),
    OpCase("log_softmax_dim0", lambda x: x.log_softmax(dim=0), lambda x: np.log(np_softmax(x, 0))),
]]


def away_from_hard_kinks(rng, shape):
    """Values spread over [-5, 5], kept 0.05 away from the kinks at ±3 of hardswish and
    hardsigmoid."""
    x = rng.uniform(-5, 5, shape)
    return np.where(np.abs(np.abs(x) - 3) < 0.05, x * 0.9, x)


def np_hardsigmoid(x):
    return np.clip(x + 3, 0, 6) / 6


ACTIVATIONS += [
    OpCase("hardsigmoid", DF.hardsigmoid, np_hardsigmoid, lambda x: F().hardsigmoid(x),
           draw=away_from_hard_kinks),
    OpCase("hardswish", DF.hardswish, lambda x: x * np_hardsigmoid(x),
           lambda x: F().hardswish(x), draw=away_from_hard_kinks),
    OpCase("softmin", lambda x: DF.softmin(x, dim=-1), lambda x: np_softmax(-x, -1),
           lambda x: F().softmin(x, dim=-1), draw=away_from_kinks),
    OpCase("celu", lambda x: DF.celu(x, 0.7), lambda x: np.where(x > 0, x, 0.7 * np.expm1(x / 0.7)),
           lambda x: F().celu(x, 0.7), draw=away_from_kinks, tol=1e-10),
    OpCase("softsign", DF.softsign, lambda x: x / (1 + np.abs(x)), lambda x: F().softsign(x),
           draw=away_from_kinks),
]
SHAPES = [(7,), (3, 4), (2, 3, 4)]

EXTREMES = np.array([-800.0, -40.0, -0.6, 0.0, 0.7, 0.75, 40.0, 800.0])


def at_extremes_and_kinks(op):
    """Large |x| (no overflow, saturated gradients) and the exact kink points, compared with
    PyTorch only: its conventions for f′ at a kink (relu′(0) = 0, hardtanh′(bound) = 0, ...)
    are kept."""
    x = EXTREMES.reshape(2, 4) if op.name.startswith(("softmax", "log_softmax")) else EXTREMES
    # first derivatives only: f″ at a kink is whatever a formula gives (ELU's at 0: PyTorch 0)
    return replace(op, name=op.name + "_extremes", numpy_fn=None, values=(x,), gradcheck=False,
                   gradgrad=False)


MASKED = np.array([[-np.inf, 0.0, 1.0], [2.0, 1.0, -np.inf]])

CASES = ([op.at(shape) for op in ACTIVATIONS for shape in SHAPES]
         + [at_extremes_and_kinks(op) for op in ACTIVATIONS]
         + [  # -inf entries (attention masks) get probability 0 and gradient 0
             OpCase("softmax_masked", dl.softmax, None, lambda t: torch.softmax(t, -1),
                    values=(MASKED,), gradcheck=False),
             OpCase("log_softmax_masked_entry", lambda t: dl.log_softmax(t)[:, 1:2], None,
                    lambda t: torch.log_softmax(t, -1)[:, 1:2], values=(MASKED,),
                    gradcheck=False)]
         + [  # the derivatives at ±3 and NaN are PyTorch's
             special("hardswish_kinks", DF.hardswish, [-3.0, 3.0, -3.5, 3.5, np.nan],
                     torch_fn=lambda x: F().hardswish(x)),
             special("hardsigmoid_kinks", DF.hardsigmoid, [-3.0, 3.0, -3.5, 3.5, np.nan],
                     torch_fn=lambda x: F().hardsigmoid(x))]
         + [op.at(*shapes) for op, shapes in [
             (OpCase("glu_last", DF.glu, lambda x: np.split(x, 2, -1)[0]
                     * np_sigmoid(np.split(x, 2, -1)[1]), lambda x: F().glu(x)), [(3, 4)]),
             (OpCase("glu_dim1", lambda x: DF.glu(x, 1), lambda x: np.split(x, 2, 1)[0]
                     * np_sigmoid(np.split(x, 2, 1)[1]), lambda x: F().glu(x, 1)), [(2, 6, 3)]),
             (OpCase("prelu_channels", DF.prelu, lambda x, w: np.where(x > 0, x, w[:, None] * x),
                     lambda x, w: F().prelu(x, w), draw=(away_from_kinks, normal)),
              [(2, 3, 4), (3,)]),
             (OpCase("prelu_shared", DF.prelu, lambda x, w: np.where(x > 0, x, w * x),
                     lambda x, w: F().prelu(x, w), draw=(away_from_kinks, normal)),
              [(5,), (1,)]),
             (OpCase("normalize", DF.normalize, lambda x: x / np.linalg.norm(x, axis=1,
                                                                             keepdims=True),
                     lambda x: F().normalize(x)), [(3, 4)]),
             (OpCase("normalize_p1_dim0", lambda x: DF.normalize(x, p=1, dim=0),
                     lambda x: x / np.abs(x).sum(0, keepdims=True),
                     lambda x: F().normalize(x, p=1, dim=0)), [(3, 4)]),
             (OpCase("normalize_p3", lambda x: DF.normalize(x, 3, -1), None,
                     lambda x: F().normalize(x, 3, -1)), [(2, 3, 4)]),
             (OpCase("cosine_similarity", DF.cosine_similarity, np_cosine_similarity,
                     lambda a, b: F().cosine_similarity(a, b)), [(3, 4), (3, 4)]),
             (OpCase("cosine_similarity_broadcast", lambda a, b: DF.cosine_similarity(a, b, -1),
                     lambda a, b: np_cosine_similarity(a, b, -1),
                     lambda a, b: F().cosine_similarity(a, b, -1)), [(3, 4), (4,)]),
             (OpCase("pairwise_distance", DF.pairwise_distance,
                     lambda a, b: np.linalg.norm(a - b + 1e-6, axis=-1),
                     lambda a, b: F().pairwise_distance(a, b)), [(3, 4), (3, 4)]),
             (OpCase("pairwise_distance_p1_keepdim",
                     lambda a, b: DF.pairwise_distance(a, b, p=1, keepdim=True),
                     lambda a, b: np.abs(a - b + 1e-6).sum(-1, keepdims=True),
                     lambda a, b: F().pairwise_distance(a, b, p=1, keepdim=True)),
              [(2, 3, 4), (4,)]),
         ]]
         + [  # zero vectors: the clamped norms
             special("normalize_zero_row", DF.normalize, [[0.0, 0.0], [3.0, 4.0]],
                     torch_fn=lambda x: F().normalize(x)),
             special("cosine_similarity_zero_row", DF.cosine_similarity,
                     [[0.0, 0.0], [1e-9, 2e-9], [3.0, 4.0]], [[1.0, 2.0], [1.0, 1.0], [0.5, 0.1]],
                     torch_fn=lambda a, b: F().cosine_similarity(a, b))])


@pytest.mark.parametrize("case, check", op_params(CASES))
def test_op(case, check):
    check_op(case, check)


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("op", ACTIVATIONS, ids=lambda op: op.name)
@settings(max_examples=10, deadline=None)
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4),
       seed=st.integers(0, 2**31))
def test_hypothesis_shapes(op, check, shape, seed):
    check_op(op.at(shape, seed=seed), check)


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
