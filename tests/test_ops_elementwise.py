"""Elementwise ops: forward = NumPy, float64 gradcheck, forward + gradients = PyTorch's.

Binary ops are also run on hypothesis-generated broadcastable shapes.
"""
from __future__ import annotations

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import deltaflow as dl
from opcheck import assert_gradcheck, assert_matches_torch, leaf, torch

GRADCHECKED = ("Add", "Sub", "Mul", "Div", "Neg", "Pow", "PowScalar", "Exp", "Log", "Log1p",
               "Sqrt", "Rsqrt", "Abs", "Sign", "Clamp", "Maximum", "Minimum", "Where", "Cast")


# ------------------------------------------------------------------ input generators
def normal(rng, shape):
    return rng.standard_normal(shape)


def positive(rng, shape):
    return rng.uniform(0.5, 2.0, shape)


def nonzero(rng, shape):
    """Values with |x| ≥ 0.3 (away from the kinks of abs, sign, 1/x)."""
    x = rng.standard_normal(shape)
    return np.sign(x) * (0.3 + np.abs(x)) + (x == 0)


def off_grid(rng, shape):
    """Values in [-1, 1] at least 0.1 away from ±0.5 and 0 (the clamp bounds used below)."""
    x = rng.uniform(0.1, 0.4, shape) + rng.integers(0, 2, shape) * 0.5
    return x * rng.choice([-1.0, 1.0], shape)


def distinct_pair(rng, shape_a, shape_b):
    """Two arrays whose broadcast values never tie (max/min are not differentiable there)."""
    a = rng.standard_normal(shape_a)
    b = rng.standard_normal(shape_b)
    return a, b + 0.05 * np.sign(b - np.mean(a) + 1e-9) + (np.abs(b) < 1e-3)


# ------------------------------------------------------------------------ op tables
# name: (deltaflow fn, torch fn, numpy fn, generator of the first input, of the second)
BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b, np.add, normal, normal),
    "sub": (lambda a, b: a - b, lambda a, b: a - b, np.subtract, normal, normal),
    "mul": (lambda a, b: a * b, lambda a, b: a * b, np.multiply, normal, normal),
    "div": (lambda a, b: a / b, lambda a, b: a / b, np.divide, normal, nonzero),
    "pow": (lambda a, b: a ** b, lambda a, b: a ** b, np.power, positive, normal),
    "add_alpha": (lambda a, b: dl.add(a, b, alpha=2.5),
                  lambda a, b: torch.add(a, b, alpha=2.5), lambda a, b: a + 2.5 * b,
                  normal, normal),
    "sub_alpha": (lambda a, b: dl.sub(a, b, alpha=-0.5),
                  lambda a, b: torch.sub(a, b, alpha=-0.5), lambda a, b: a + 0.5 * b,
                  normal, normal),
    "maximum": (dl.maximum, lambda a, b: torch.maximum(a, b), np.maximum, None, None),
    "minimum": (dl.minimum, lambda a, b: torch.minimum(a, b), np.minimum, None, None),
}

BINARY_SHAPES = [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((3, 1), (1, 4)), ((), (2, 3)),
                 ((2, 1, 3), (4, 1))]


def binary_inputs(name, shapes, seed):
    rng = np.random.default_rng(seed)
    gen_a, gen_b = BINARY[name][3:]
    if gen_a is None:
        return distinct_pair(rng, *shapes)
    return gen_a(rng, shapes[0]), gen_b(rng, shapes[1])


UNARY = {
    "neg": (lambda x: -x, lambda x: -x, np.negative, normal),
    "exp": (dl.exp, lambda x: torch.exp(x), np.exp, normal),
    "log": (dl.log, lambda x: torch.log(x), np.log, positive),
    "log1p": (dl.log1p, lambda x: torch.log1p(x), np.log1p, positive),
    "sqrt": (dl.sqrt, lambda x: torch.sqrt(x), np.sqrt, positive),
    "rsqrt": (dl.rsqrt, lambda x: torch.rsqrt(x), lambda x: 1 / np.sqrt(x), positive),
    "abs": (dl.abs, lambda x: torch.abs(x), np.abs, nonzero),
    "sign": (dl.sign, lambda x: torch.sign(x), np.sign, nonzero),
    "clamp": (lambda x: dl.clamp(x, -0.5, 0.5), lambda x: torch.clamp(x, -0.5, 0.5),
              lambda x: np.clip(x, -0.5, 0.5), off_grid),
    "clamp_min": (lambda x: x.clamp(min=-0.5), lambda x: x.clamp(min=-0.5),
                  lambda x: np.maximum(x, -0.5), off_grid),
    "clamp_max": (lambda x: x.clamp(max=0.5), lambda x: x.clamp(max=0.5),
                  lambda x: np.minimum(x, 0.5), off_grid),
    "pow2": (lambda x: x ** 2, lambda x: x ** 2, np.square, normal),
    "pow3": (lambda x: x.pow(3), lambda x: x.pow(3), lambda x: x ** 3, normal),
    "pow_half": (lambda x: x ** 0.5, lambda x: x ** 0.5, np.sqrt, positive),
    "pow_neg": (lambda x: dl.pow(x, -1.5), lambda x: torch.pow(x, -1.5),
                lambda x: x ** -1.5, positive),
    "rpow": (lambda x: 2.0 ** x, lambda x: 2.0 ** x, lambda x: 2.0 ** x, normal),
    "square": (dl.square, lambda x: torch.square(x), np.square, normal),
    "clone": (lambda x: x.clone(), lambda x: x.clone(), np.copy, normal),
    "where_scalar": (lambda x: dl.where(x > 0, x, 0.5), lambda x: torch.where(x > 0, x, 0.5),
                     lambda x: np.where(x > 0, x, 0.5), nonzero),
}

UNARY_SHAPES = [(), (5,), (2, 3, 4)]


def unary_input(name, shape):
    return UNARY[name][3](np.random.default_rng(len(shape)), shape)


# --------------------------------------------------------------------- binary tests
@pytest.mark.parametrize("shapes", BINARY_SHAPES, ids=str)
@pytest.mark.parametrize("name", list(BINARY))
def test_binary_forward_matches_numpy(name, shapes):
    a, b = binary_inputs(name, shapes, 0)
    out = BINARY[name][0](leaf(a), leaf(b))
    np.testing.assert_allclose(out.numpy(), BINARY[name][2](a, b), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shapes", BINARY_SHAPES, ids=str)
@pytest.mark.parametrize("name", list(BINARY))
def test_binary_gradcheck(name, shapes):
    assert_gradcheck(BINARY[name][0], *binary_inputs(name, shapes, 1))


@pytest.mark.parametrize("shapes", BINARY_SHAPES, ids=str)
@pytest.mark.parametrize("name", list(BINARY))
def test_binary_matches_torch(name, shapes):
    assert_matches_torch(BINARY[name][0], BINARY[name][1], *binary_inputs(name, shapes, 2))


@pytest.mark.parametrize("name", list(BINARY))
@settings(max_examples=15, deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
       seed=st.integers(0, 2**31))
def test_binary_hypothesis_broadcast(name, shapes, seed):
    a, b = binary_inputs(name, shapes.input_shapes, seed)
    dl_fn, torch_fn, np_fn = BINARY[name][:3]
    out = dl_fn(leaf(a), leaf(b))
    assert out.shape == shapes.result_shape
    np.testing.assert_allclose(out.numpy(), np_fn(a, b), rtol=1e-12, atol=1e-12)
    assert_gradcheck(dl_fn, a, b)
    if torch is not None:
        assert_matches_torch(dl_fn, torch_fn, a, b)


def where_inputs(seed, shapes):
    rng = np.random.default_rng(seed)
    cond = rng.random(shapes[0]) > 0.5
    return cond, rng.standard_normal(shapes[1]), rng.standard_normal(shapes[2])


WHERE_SHAPES = [((3, 4), (3, 4), (3, 4)), ((3, 1), (1, 4), (3, 4)), ((4,), (2, 1), ())]


@pytest.mark.parametrize("shapes", WHERE_SHAPES, ids=str)
def test_where(shapes):
    cond, a, b = where_inputs(0, shapes)
    c = dl.tensor(cond)
    out = dl.where(c, leaf(a), leaf(b))
    np.testing.assert_array_equal(out.numpy(), np.where(cond, a, b))
    assert_gradcheck(lambda x, y: dl.where(c, x, y), a, b)
    if torch is not None:
        tc = torch.tensor(cond)
        assert_matches_torch(lambda x, y: dl.where(c, x, y), lambda x, y: torch.where(tc, x, y),
                             a, b)


@pytest.mark.parametrize("seed", range(3))
@settings(max_examples=15, deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3))
def test_where_hypothesis_broadcast(seed, shapes):
    cond, a, b = where_inputs(seed, shapes.input_shapes)
    c = dl.tensor(cond)
    np.testing.assert_array_equal(dl.where(c, leaf(a), leaf(b)).numpy(), np.where(cond, a, b))
    assert_gradcheck(lambda x, y: dl.where(c, x, y), a, b)


# ---------------------------------------------------------------------- unary tests
@pytest.mark.parametrize("shape", UNARY_SHAPES, ids=str)
@pytest.mark.parametrize("name", list(UNARY))
def test_unary_forward_matches_numpy(name, shape):
    x = unary_input(name, shape)
    out = UNARY[name][0](leaf(x))
    np.testing.assert_allclose(out.numpy(), UNARY[name][2](x), rtol=1e-12, atol=1e-12)
    assert out.shape == np.shape(x)


@pytest.mark.parametrize("shape", UNARY_SHAPES, ids=str)
@pytest.mark.parametrize("name", list(UNARY))
def test_unary_gradcheck(name, shape):
    assert_gradcheck(UNARY[name][0], unary_input(name, shape))


@pytest.mark.parametrize("shape", UNARY_SHAPES, ids=str)
@pytest.mark.parametrize("name", list(UNARY))
def test_unary_matches_torch(name, shape):
    assert_matches_torch(UNARY[name][0], UNARY[name][1], unary_input(name, shape))


@pytest.mark.parametrize("name", list(UNARY))
@settings(max_examples=10, deadline=None)
@given(shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3),
       seed=st.integers(0, 2**31))
def test_unary_hypothesis_shapes(name, shape, seed):
    x = UNARY[name][3](np.random.default_rng(seed), shape)
    dl_fn, torch_fn, np_fn = UNARY[name][:3]
    out = dl_fn(leaf(x))
    np.testing.assert_allclose(out.numpy(), np_fn(x), rtol=1e-12, atol=1e-12)
    if x.size:
        assert_gradcheck(dl_fn, x)
    if torch is not None:
        assert_matches_torch(dl_fn, torch_fn, x)


# ------------------------------------------------------------------- special points
def test_maximum_minimum_split_ties_like_torch():
    a, b = np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 3.0])
    x, y = leaf(a), leaf(b)
    dl.maximum(x, y).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.5, 1.0, 0.5])
    np.testing.assert_array_equal(y.grad.numpy(), [0.5, 0.0, 0.5])
    if torch is not None:
        assert_matches_torch(dl.maximum, torch.maximum, a, b)
        assert_matches_torch(dl.minimum, torch.minimum, a, b)


def test_abs_and_clamp_at_their_kinks_match_torch():
    x = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    assert_matches_torch(dl.abs, torch.abs if torch else None, x)
    assert_matches_torch(lambda t: t.clamp(-0.5, 0.5),
                         lambda t: t.clamp(-0.5, 0.5), x)


def test_pow_gradient_at_zero_base_matches_torch():
    a, b = np.array([0.0, 0.0, 2.0]), np.array([2.0, 3.0, 0.5])
    assert_matches_torch(lambda x, y: x ** y, lambda x, y: x ** y, a, b)
    assert_matches_torch(lambda x: x ** 2, lambda x: x ** 2, a)


def test_comparisons_match_numpy_and_do_not_require_grad():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 3, (3, 4)).astype(float)
    b = rng.integers(0, 3, (4,)).astype(float)
    x = leaf(a)
    for op, ref in [("__eq__", np.equal), ("__ne__", np.not_equal), ("__lt__", np.less),
                    ("__le__", np.less_equal), ("__gt__", np.greater),
                    ("__ge__", np.greater_equal)]:
        out = getattr(x, op)(dl.tensor(b))
        assert out.dtype == dl.bool and not out.requires_grad
        np.testing.assert_array_equal(out.numpy(), ref(a, b))
        np.testing.assert_array_equal(getattr(x, op)(1.0).numpy(), ref(a, 1.0))
        if torch is not None:
            t = getattr(torch.tensor(a), op)(torch.tensor(b))
            np.testing.assert_array_equal(out.numpy(), t.numpy())


def test_logical_ops_and_predicates():
    a = dl.tensor([True, False, True])
    b = dl.tensor([True, True, False])
    assert (a & b).tolist() == [True, False, False]
    assert (a | b).tolist() == [True, True, True]
    assert (~a).tolist() == [False, True, False]
    x = dl.tensor([1.0, float("nan"), float("inf")])
    assert dl.isnan(x).tolist() == [False, True, False]
    assert dl.isinf(x).tolist() == [False, False, True]
    assert dl.isfinite(x).tolist() == [True, False, False]
    assert dl.all(a).item() is False and dl.any(a).item() is True
    assert a.all().item() is False and (a | b).all().item() is True
    np.testing.assert_array_equal(dl.any(dl.tensor([[0, 1], [0, 0]]), dim=1).numpy(),
                                  [True, False])


def test_broadcast_error_names_op_and_shapes():
    with pytest.raises(ValueError, match=r"add.*\(3,\).*\(4,\)"):
        dl.ones(3) + dl.ones(4)
    with pytest.raises(ValueError, match=r"mul.*\(2, 3\).*\(4,\)"):
        dl.ones(2, 3) * dl.ones(4)


def test_clamp_needs_a_bound():
    with pytest.raises(ValueError, match="clamp"):
        dl.clamp(dl.ones(2))


NAN = np.nan
SPECIAL = {  # points where a formula gives 0·∞ or NaN and PyTorch defines the gradient
    "pow_zero_exponent_at_zero": (lambda x: x ** 0, lambda t: t ** 0, [np.array([0.0, 1.0, -2.0])]),
    "pow_tensor_zero_exponent": (lambda a, b: a ** b, lambda a, b: a ** b,
                                 [np.array([0.0, 0.0, 2.0]), np.array([0.0, 1.0, 0.0])]),
    "sqrt_at_zero": (dl.sqrt, lambda t: torch.sqrt(t), [np.array([0.0, 1.0])]),
    "log_at_zero": (dl.log, lambda t: torch.log(t), [np.array([0.0, 1.0])]),
    "reciprocal_at_zero": (lambda x: x ** -1, lambda t: t ** -1, [np.array([0.0, 2.0])]),
    "div_by_zero": (lambda a, b: a / b, lambda a, b: a / b,
                    [np.array([1.0, 0.0]), np.array([0.0, 0.0])]),
    "maximum_with_nan": (dl.maximum, lambda a, b: torch.maximum(a, b),
                         [np.array([NAN, 1.0, 2.0, 3.0]), np.array([0.0, NAN, 2.0, 1.0])]),
    "minimum_with_nan": (dl.minimum, lambda a, b: torch.minimum(a, b),
                         [np.array([NAN, 1.0, 2.0, 3.0]), np.array([0.0, NAN, 2.0, 1.0])]),
    "relu_with_nan": (dl.relu, lambda t: torch.relu(t), [np.array([NAN, 0.0, 1.0, -1.0])]),
    "clamp_with_nan": (lambda x: x.clamp(-1, 1), lambda t: t.clamp(-1, 1),
                       [np.array([NAN, 2.0, 0.5])]),
    "hardtanh_with_nan": (dl.hardtanh, lambda t: torch.nn.functional.hardtanh(t),
                          [np.array([NAN, 1.0, -1.0, 0.5])]),
    "matmul_empty_inner_dim": (dl.matmul, lambda a, b: a @ b, [np.zeros((2, 0)), np.zeros((0, 3))]),
    "index_with_empty_array": (lambda x: x[dl.tensor(np.array([], np.int64))],
                               lambda t: t[torch.tensor([], dtype=torch.long)], [np.ones((3, 2))]),
}


@pytest.mark.parametrize("name", list(SPECIAL))
def test_special_values_match_torch(name):
    dl_fn, torch_fn, arrays = SPECIAL[name]
    with np.errstate(divide="ignore", invalid="ignore"):
        assert_matches_torch(dl_fn, torch_fn, *arrays)
