"""Math ops of issue 13: trigonometric and hyperbolic functions, atan2, rounding, exp/log
variants, special functions, lerp, addcmul/addcdiv. Forward = NumPy/SciPy, float64
gradcheck, forward + gradients = PyTorch's; special points (halves for round, ±1 for acos,
poles of lgamma) compared with PyTorch only."""
from __future__ import annotations

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import deltaflow as dl
from opcheck import CHECKS, OpCase, check_op, normal, op_params, special, torch

scipy_special = pytest.importorskip("scipy.special")

GRADCHECKED = ("Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh",
               "Atanh", "Atan2", "Floor", "Ceil", "Trunc", "Round", "Frac", "Expm1", "Log2",
               "Log10", "Reciprocal", "Erf", "Erfinv", "Lgamma", "Digamma", "Polygamma", "Lerp")
GRADGRADCHECKED = GRADCHECKED   # second derivatives: opcheck.SECOND_ORDER on every row


# ------------------------------------------------------------------ input draws
def inside_unit(rng, shape):
    """Values in (−0.9, 0.9): inside the domain of asin, acos, atanh, erfinv."""
    return rng.uniform(-0.9, 0.9, shape)


def above_one(rng, shape):
    return rng.uniform(1.1, 3.0, shape)


def positive(rng, shape):
    return rng.uniform(0.5, 2.0, shape)


def nonzero(rng, shape):
    """Values with |x| ≥ 0.3."""
    x = rng.standard_normal(shape)
    return np.sign(x) * (0.3 + np.abs(x)) + (x == 0)


def off_steps(rng, shape):
    """Values in [−3, 3] at least 0.15 away from the integers and the halves (the jumps of
    floor, ceil, trunc, round and frac)."""
    return (rng.integers(-3, 3, shape) + rng.choice([0.25, 0.3, 0.7, 0.75], shape)
            + rng.uniform(-0.05, 0.05, shape))


def negative_off_integers(rng, shape):
    """Negative values at least 0.2 away from the poles of lgamma and digamma."""
    return -np.abs(off_steps(rng, shape))


def weight(rng, shape):
    """Weights on both sides of ½, where lerp switches formula."""
    return rng.uniform(-0.5, 1.5, shape)


def of_torch(name, *args, **kwargs):
    """``torch.<name>(t, *args, **kwargs)``."""
    return lambda *t: getattr(torch, name)(*t, *args, **kwargs)


# ------------------------------------------------------------------------ op tables
UNARY = [
    OpCase("sin", dl.sin, np.sin, of_torch("sin")),
    OpCase("cos", dl.cos, np.cos, of_torch("cos")),
    OpCase("tan", dl.tan, np.tan, of_torch("tan"), draw=inside_unit),
    OpCase("asin", dl.asin, np.arcsin, of_torch("asin"), draw=inside_unit),
    OpCase("acos", dl.acos, np.arccos, of_torch("acos"), draw=inside_unit),
    OpCase("atan", dl.atan, np.arctan, of_torch("atan")),
    OpCase("sinh", dl.sinh, np.sinh, of_torch("sinh")),
    OpCase("cosh", dl.cosh, np.cosh, of_torch("cosh")),
    OpCase("asinh", dl.asinh, np.arcsinh, of_torch("asinh")),
    OpCase("acosh", dl.acosh, np.arccosh, of_torch("acosh"), draw=above_one),
    OpCase("atanh", dl.atanh, np.arctanh, of_torch("atanh"), draw=inside_unit),
    OpCase("floor", dl.floor, np.floor, of_torch("floor"), draw=off_steps),
    OpCase("ceil", dl.ceil, np.ceil, of_torch("ceil"), draw=off_steps),
    OpCase("trunc", dl.trunc, np.trunc, of_torch("trunc"), draw=off_steps),
    OpCase("round", dl.round, np.round, of_torch("round"), draw=off_steps),
    OpCase("round_decimals", lambda x: dl.round(x * 10, decimals=1), lambda x: np.round(x * 10, 1),
           lambda t: torch.round(t * 10, decimals=1), draw=off_steps),
    OpCase("round_negative_decimals", lambda x: dl.round(x * 100, decimals=-2),
           lambda x: np.round(x * 100, -2), lambda t: torch.round(t * 100, decimals=-2),
           draw=off_steps),
    OpCase("frac", dl.frac, lambda x: x - np.trunc(x), of_torch("frac"), draw=off_steps),
    OpCase("expm1", dl.expm1, np.expm1, of_torch("expm1")),
    OpCase("log2", dl.log2, np.log2, of_torch("log2"), draw=positive),
    OpCase("log10", dl.log10, np.log10, of_torch("log10"), draw=positive),
    OpCase("reciprocal", dl.reciprocal, np.reciprocal, of_torch("reciprocal"), draw=nonzero),
    OpCase("erf", dl.erf, scipy_special.erf, of_torch("erf")),
    OpCase("erfinv", dl.erfinv, scipy_special.erfinv, of_torch("erfinv"), draw=inside_unit),
    OpCase("lgamma", dl.lgamma, scipy_special.gammaln, of_torch("lgamma"), draw=positive),
    OpCase("lgamma_negative", dl.lgamma, scipy_special.gammaln, of_torch("lgamma"),
           draw=negative_off_integers),
    OpCase("digamma", dl.digamma, scipy_special.digamma, of_torch("digamma"), draw=positive),
    OpCase("polygamma_1", lambda x: dl.polygamma(1, x), lambda x: scipy_special.polygamma(1, x),
           lambda x: torch.polygamma(1, x), draw=positive),
    OpCase("polygamma_2", lambda x: x.polygamma(2), lambda x: scipy_special.polygamma(2, x),
           lambda x: x.polygamma(2), draw=positive),
    OpCase("digamma_negative", dl.digamma, scipy_special.digamma, of_torch("digamma"),
           draw=negative_off_integers, tol=1e-10),
]
UNARY_SHAPES = [(), (5,), (2, 3, 4)]

BINARY = [
    OpCase("atan2", dl.atan2, np.arctan2, of_torch("atan2"), draw=(normal, nonzero)),
    OpCase("arctan2", lambda y, x: y.arctan2(x), np.arctan2, draw=(nonzero, normal)),
    OpCase("lerp_scalar", lambda a, b: dl.lerp(a, b, 0.3), lambda a, b: a + 0.3 * (b - a),
           of_torch("lerp", 0.3)),
    OpCase("lerp_scalar_above_half", lambda a, b: a.lerp(b, 0.8), lambda a, b: a + 0.8 * (b - a)),
    OpCase("addcmul", lambda a, b: dl.addcmul(a, b, a, value=0.5), lambda a, b: a + 0.5 * b * a,
           lambda a, b: torch.addcmul(a, b, a, value=0.5)),
    OpCase("addcdiv", lambda a, b: a.addcdiv(a, b, value=-2), lambda a, b: a - 2 * a / b,
           draw=(normal, nonzero)),
]
BINARY_SHAPES = [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((3, 1), (1, 4)), ((), (2, 3))]

TERNARY = [
    OpCase("lerp", dl.lerp, lambda a, b, w: a + w * (b - a), of_torch("lerp"),
           draw=(normal, normal, weight)),
    OpCase("addcmul_three", lambda a, b, c: a.addcmul(b, c), lambda a, b, c: a + b * c),
    OpCase("addcdiv_three", lambda a, b, c: dl.addcdiv(a, b, c, value=3),
           lambda a, b, c: a + 3 * b / c, lambda a, b, c: torch.addcdiv(a, b, c, value=3),
           draw=(normal, normal, nonzero)),
]
TERNARY_SHAPES = [((3, 4), (3, 4), (3, 4)), ((3, 1), (1, 4), (4,)), ((2, 3), (), (3,))]

INF, NAN = np.inf, np.nan
SPECIAL = [  # jumps, halves, domain ends and poles: PyTorch defines the values and gradients
    special("round_halves_to_even", dl.round, [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5],
            torch_fn=of_torch("round")),
    special("round_decimals_halves", lambda x: dl.round(x, decimals=1),
            [0.25, 0.35, 1.25, -0.45, 2.675], torch_fn=of_torch("round", decimals=1)),
    special("round_negative_decimals_halves", lambda x: dl.round(x, decimals=-1),
            [125.0, 135.0, -15.0, 150.0], torch_fn=of_torch("round", decimals=-1)),
    special("floor_at_integers", dl.floor, [-2.0, -1.5, -0.0, 0.0, 1.0, 1.5],
            torch_fn=of_torch("floor")),
    special("ceil_at_integers", dl.ceil, [-2.0, -1.5, -0.0, 0.0, 1.0, 1.5],
            torch_fn=of_torch("ceil")),
    special("trunc_at_integers", dl.trunc, [-2.0, -1.5, -0.5, 0.0, 1.0, 1.5],
            torch_fn=of_torch("trunc")),
    special("frac_at_integers", dl.frac, [-2.0, -1.5, -0.5, 0.0, 1.0, 1.5],
            torch_fn=of_torch("frac")),
    special("rounding_of_inf_and_nan", lambda x: dl.round(dl.floor(x)), [INF, -INF, NAN],
            torch_fn=lambda t: torch.round(torch.floor(t))),
    special("asin_at_domain_ends", dl.asin, [-1.0, 1.0, 0.999], torch_fn=of_torch("asin")),
    special("acos_at_domain_ends", dl.acos, [-1.0, 1.0, -0.999], torch_fn=of_torch("acos")),
    special("acosh_at_one", dl.acosh, [1.0, 1.001], torch_fn=of_torch("acosh")),
    special("atanh_at_domain_ends", dl.atanh, [-1.0, 1.0, 0.0], torch_fn=of_torch("atanh")),
    special("erfinv_at_domain_ends", dl.erfinv, [-1.0, 1.0, 0.0], torch_fn=of_torch("erfinv")),
    special("lgamma_at_poles", dl.lgamma, [0.0, -1.0, -2.5, 1.0, 2.0],
            torch_fn=of_torch("lgamma")),
    special("digamma_at_poles", dl.digamma, [0.0, -0.0, -0.5, 1.0],
            torch_fn=of_torch("digamma")),
    special("log2_at_zero", dl.log2, [0.0, 1.0], torch_fn=of_torch("log2")),
    special("log10_at_zero", dl.log10, [0.0, 10.0], torch_fn=of_torch("log10")),
    special("reciprocal_at_zero", dl.reciprocal, [0.0, -0.0, 4.0],
            torch_fn=of_torch("reciprocal")),
    special("tan_at_large", dl.tan, [1e8, -3.0, 1.5707963], torch_fn=of_torch("tan")),
    special("atan2_at_the_axes", dl.atan2, [0.0, 0.0, -0.0, 1.0, -1.0, 0.0],
            [0.0, -1.0, -1.0, 0.0, 0.0, INF], torch_fn=of_torch("atan2")),
    special("lerp_at_half_and_ends", dl.lerp, [1.0, 1.0, 1.0, -2.0], [3.0, 3.0, 3.0, 5.0],
            [0.5, 0.0, 1.0, 0.49999], torch_fn=of_torch("lerp")),
]

CASES = ([op.at(shape) for op in UNARY for shape in UNARY_SHAPES]
         + [op.at(*shapes) for op in BINARY for shapes in BINARY_SHAPES]
         + [op.at(*shapes) for op in TERNARY for shapes in TERNARY_SHAPES]
         + SPECIAL)


@pytest.mark.parametrize("case, check", op_params(CASES))
def test_op(case, check):
    check_op(case, check)


# ------------------------------------------------------------------- ordinary tests
METHODS = ("sin cos tan asin acos atan sinh cosh asinh acosh atanh arcsin arccos arctan arcsinh "
           "arccosh arctanh floor ceil trunc fix round frac expm1 log2 log10 reciprocal erf "
           "erfinv lgamma digamma").split()


@pytest.mark.parametrize("name", METHODS)
def test_methods_and_aliases_are_the_functions(name):
    x = dl.tensor([0.25, 0.5, 0.75], dtype=dl.float64)
    if name in ("acosh", "arccosh"):
        x = x + 1
    np.testing.assert_array_equal(getattr(x, name)().numpy(), getattr(dl, name)(x).numpy())
    if torch is not None:
        t = torch.tensor(x.numpy())
        np.testing.assert_allclose(getattr(x, name)().numpy(), getattr(t, name)().numpy(),
                                   rtol=1e-6)


def test_integer_inputs_follow_pytorch_dtypes():
    i = dl.tensor([1, 2, 3])
    assert dl.sin(i).dtype == dl.float32 and dl.erf(i).dtype == dl.float32
    assert dl.atan2(i, i).dtype == dl.float32 and dl.reciprocal(i).dtype == dl.float32
    for fn in (dl.floor, dl.ceil, dl.trunc, dl.round):
        out = fn(i)
        assert out.dtype == dl.int64 and out.tolist() == [1, 2, 3]
    assert dl.sin(dl.ones(2)).dtype == dl.float32
    with pytest.raises(TypeError, match="frac: expected a floating point tensor"):
        dl.frac(i)
    with pytest.raises(RuntimeError, match="addcdiv: integer division"):
        dl.addcdiv(dl.ones(2), i[:2], i[:2])


def test_float32_stays_float32():
    x = dl.tensor([0.3, 0.6], dtype=dl.float32)
    for name in ("sin", "atanh", "round", "erfinv", "lgamma", "digamma", "log2"):
        assert getattr(dl, name)(x).dtype == dl.float32, name
    x.requires_grad = True
    dl.digamma(x).sum().backward()
    assert x.grad.dtype == dl.float32


def test_rounding_has_zero_gradient_and_frac_one():
    x = dl.tensor([0.4, 1.5, -2.7], dtype=dl.float64, requires_grad=True)
    (dl.floor(x) + dl.ceil(x) + dl.round(x, decimals=1) + dl.trunc(x)).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0]
    x.grad = None
    dl.frac(x).sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 1.0]


def test_lerp_broadcast_error_names_the_op():
    with pytest.raises(ValueError, match=r"lerp.*\(3,\).*\(4,\)"):
        dl.lerp(dl.ones(3), dl.ones(4), 0.5)


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("op", UNARY, ids=lambda op: op.name)
@settings(max_examples=5, deadline=None)
@given(shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3),
       seed=st.integers(0, 2**31))
def test_unary_hypothesis_shapes(op, check, shape, seed):
    check_op(op.at(shape, seed=seed), check)


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("op", BINARY, ids=lambda op: op.name)
@settings(max_examples=5, deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
       seed=st.integers(0, 2**31))
def test_binary_hypothesis_broadcast(op, check, shapes, seed):
    check_op(op.at(*shapes.input_shapes, seed=seed), check)
