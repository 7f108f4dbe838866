"""Elementwise ops: forward = NumPy, float64 gradcheck, forward + gradients = PyTorch's.

Binary ops and ``where`` are also run on hypothesis-generated broadcastable shapes.
"""
from __future__ import annotations

import operator

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import deltaflow as dl
from opcheck import CHECKS, OpCase, check_op, leaf, normal, op_params, special, torch

GRADCHECKED = ("Add", "Sub", "Mul", "Div", "Neg", "Pow", "PowScalar", "Exp", "Log", "Log1p",
               "Sqrt", "Rsqrt", "Abs", "Sign", "Clamp", "Maximum", "Minimum", "Where", "Cast")
GRADGRADCHECKED = GRADCHECKED   # second derivatives: opcheck.SECOND_ORDER on every row


# ------------------------------------------------------------------ input draws
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


def fifths(rng, shape):
    """Multiples of 0.2 in [-2, 2]: never within 0.1 of ``fifths_plus_tenth``'s values."""
    return rng.integers(-10, 11, shape) * 0.2


def fifths_plus_tenth(rng, shape):
    """Multiples of 0.2, plus 0.1 (with ``fifths``: maximum and minimum never tie)."""
    return fifths(rng, shape) + 0.1


def small_integers(rng, shape):
    """0.0, 1.0 or 2.0: comparisons of these are often true and often false."""
    return rng.integers(0, 3, shape).astype(np.float64)


def coin(rng, shape):
    return rng.random(shape) > 0.5


# ------------------------------------------------------------------------ op tables
BINARY = [
    OpCase("add", lambda a, b: a + b, np.add),
    OpCase("sub", lambda a, b: a - b, np.subtract),
    OpCase("mul", lambda a, b: a * b, np.multiply),
    OpCase("div", lambda a, b: a / b, np.divide, draw=(normal, nonzero)),
    OpCase("pow", lambda a, b: a ** b, np.power, draw=(positive, normal)),
    OpCase("add_alpha", lambda a, b: dl.add(a, b, alpha=2.5), lambda a, b: a + 2.5 * b,
           lambda a, b: torch.add(a, b, alpha=2.5)),
    OpCase("sub_alpha", lambda a, b: dl.sub(a, b, alpha=-0.5), lambda a, b: a + 0.5 * b,
           lambda a, b: torch.sub(a, b, alpha=-0.5)),
    OpCase("maximum", dl.maximum, np.maximum, lambda a, b: torch.maximum(a, b),
           draw=(fifths, fifths_plus_tenth)),
    OpCase("minimum", dl.minimum, np.minimum, lambda a, b: torch.minimum(a, b),
           draw=(fifths, fifths_plus_tenth)),
]
BINARY_SHAPES = [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((3, 1), (1, 4)), ((), (2, 3)),
                 ((2, 1, 3), (4, 1))]

WHERE = OpCase("where", dl.where, np.where, lambda c, a, b: torch.where(c, a, b),
               draw=(coin, normal, normal), tol=0)
WHERE_SHAPES = [((3, 4), (3, 4), (3, 4)), ((3, 1), (1, 4), (3, 4)), ((4,), (2, 1), ())]

UNARY = [
    OpCase("neg", lambda x: -x, np.negative),
    OpCase("exp", dl.exp, np.exp, lambda x: torch.exp(x)),
    OpCase("log", dl.log, np.log, lambda x: torch.log(x), draw=positive),
    OpCase("log1p", dl.log1p, np.log1p, lambda x: torch.log1p(x), draw=positive),
    OpCase("sqrt", dl.sqrt, np.sqrt, lambda x: torch.sqrt(x), draw=positive),
    OpCase("rsqrt", dl.rsqrt, lambda x: 1 / np.sqrt(x), lambda x: torch.rsqrt(x), draw=positive),
    OpCase("abs", dl.abs, np.abs, lambda x: torch.abs(x), draw=nonzero),
    OpCase("sign", dl.sign, np.sign, lambda x: torch.sign(x), draw=nonzero),
    OpCase("clamp", lambda x: dl.clamp(x, -0.5, 0.5), lambda x: np.clip(x, -0.5, 0.5),
           lambda x: torch.clamp(x, -0.5, 0.5), draw=off_grid),
    OpCase("clamp_min", lambda x: x.clamp(min=-0.5), lambda x: np.maximum(x, -0.5),
           draw=off_grid),
    OpCase("clamp_max", lambda x: x.clamp(max=0.5), lambda x: np.minimum(x, 0.5), draw=off_grid),
    OpCase("pow2", lambda x: x ** 2, np.square),
    OpCase("pow3", lambda x: x.pow(3), lambda x: x ** 3),
    OpCase("pow_half", lambda x: x ** 0.5, np.sqrt, draw=positive),
    OpCase("pow_neg", lambda x: dl.pow(x, -1.5), lambda x: x ** -1.5,
           lambda x: torch.pow(x, -1.5), draw=positive),
    OpCase("rpow", lambda x: 2.0 ** x, lambda x: 2.0 ** x),
    OpCase("square", dl.square, np.square, lambda x: torch.square(x)),
    OpCase("clone", lambda x: x.clone(), np.copy),
    OpCase("where_scalar", lambda x: dl.where(x > 0, x, 0.5), lambda x: np.where(x > 0, x, 0.5),
           lambda x: torch.where(x > 0, x, 0.5), draw=nonzero),
]
UNARY_SHAPES = [(), (5,), (2, 3, 4)]

COMPARE = (operator.eq, operator.ne, operator.lt, operator.le, operator.gt, operator.ge)
COMPARISONS = [OpCase(op.__name__, op, op, grad=False, draw=small_integers) for op in COMPARE]
COMPARISONS_WITH_A_SCALAR = [OpCase(f"{op.__name__}_scalar", lambda x, op=op: op(x, 1.0),
                                    lambda x, op=op: op(x, 1.0), grad=False, draw=small_integers)
                             for op in COMPARE]


NAN = np.nan
SPECIAL = [  # points where a formula gives 0·∞ or NaN, and kinks: PyTorch defines the gradient
    special("pow_zero_exponent_at_zero", lambda x: x ** 0, [0.0, 1.0, -2.0]),
    special("pow_tensor_zero_exponent", lambda a, b: a ** b, [0.0, 0.0, 2.0], [0.0, 1.0, 0.0]),
    special("pow_at_zero_base", lambda a, b: a ** b, [0.0, 0.0, 2.0], [2.0, 3.0, 0.5]),
    special("square_at_zero", lambda x: x ** 2, [0.0, 0.0, 2.0]),
    special("sqrt_at_zero", dl.sqrt, [0.0, 1.0], torch_fn=lambda t: torch.sqrt(t)),
    special("log_at_zero", dl.log, [0.0, 1.0], torch_fn=lambda t: torch.log(t)),
    special("reciprocal_at_zero", lambda x: x ** -1, [0.0, 2.0]),
    special("div_by_zero", lambda a, b: a / b, [1.0, 0.0], [0.0, 0.0]),
    special("abs_at_kinks", dl.abs, [-1.0, -0.5, 0.0, 0.5, 1.0], torch_fn=lambda t: torch.abs(t)),
    special("clamp_at_bounds", lambda x: x.clamp(-0.5, 0.5), [-1.0, -0.5, 0.0, 0.5, 1.0]),
    special("maximum_ties", dl.maximum, [1.0, 2.0, 3.0], [1.0, 0.0, 3.0],
            torch_fn=lambda a, b: torch.maximum(a, b)),
    special("minimum_ties", dl.minimum, [1.0, 2.0, 3.0], [1.0, 0.0, 3.0],
            torch_fn=lambda a, b: torch.minimum(a, b)),
    special("maximum_with_nan", dl.maximum, [NAN, 1.0, 2.0, 3.0], [0.0, NAN, 2.0, 1.0],
            torch_fn=lambda a, b: torch.maximum(a, b)),
    special("minimum_with_nan", dl.minimum, [NAN, 1.0, 2.0, 3.0], [0.0, NAN, 2.0, 1.0],
            torch_fn=lambda a, b: torch.minimum(a, b)),
    special("relu_with_nan", dl.relu, [NAN, 0.0, 1.0, -1.0], torch_fn=lambda t: torch.relu(t)),
    special("clamp_with_nan", lambda x: x.clamp(-1, 1), [NAN, 2.0, 0.5]),
    special("hardtanh_with_nan", dl.hardtanh, [NAN, 1.0, -1.0, 0.5],
            torch_fn=lambda t: torch.nn.functional.hardtanh(t)),
    special("matmul_empty_inner_dim", lambda a, b: a @ b, np.zeros((2, 0)), np.zeros((0, 3))),
    special("index_with_empty_array", lambda x, i: x[i], np.ones((3, 2)), np.array([], np.int64)),
]

CASES = ([op.at(*shapes) for op in BINARY for shapes in BINARY_SHAPES]
         + [WHERE.at(*shapes) for shapes in WHERE_SHAPES]
         + [op.at(shape) for op in UNARY for shape in UNARY_SHAPES]
         + [op.at((3, 4), (4,)) for op in COMPARISONS]
         + [op.at((3, 4)) for op in COMPARISONS_WITH_A_SCALAR]
         + SPECIAL)


@pytest.mark.parametrize("case, check", op_params(CASES))
def test_op(case, check):
    check_op(case, check)


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("op", BINARY, ids=lambda op: op.name)
@settings(max_examples=15, deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
       seed=st.integers(0, 2**31))
def test_binary_hypothesis_broadcast(op, check, shapes, seed):
    check_op(op.at(*shapes.input_shapes, seed=seed), check)


@pytest.mark.parametrize("check", CHECKS)
@settings(max_examples=15, deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3),
       seed=st.integers(0, 2**31))
def test_where_hypothesis_broadcast(check, shapes, seed):
    check_op(WHERE.at(*shapes.input_shapes, seed=seed), check)


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("op", UNARY, ids=lambda op: op.name)
@settings(max_examples=10, deadline=None)
@given(shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3),
       seed=st.integers(0, 2**31))
def test_unary_hypothesis_shapes(op, check, shape, seed):
    check_op(op.at(shape, seed=seed), check)


# ------------------------------------------------------------------- ordinary tests
def test_maximum_minimum_split_ties_evenly():
    x, y = leaf([1.0, 2.0, 3.0]), leaf([1.0, 0.0, 3.0])
    dl.maximum(x, y).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.5, 1.0, 0.5])
    np.testing.assert_array_equal(y.grad.numpy(), [0.5, 0.0, 0.5])


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
