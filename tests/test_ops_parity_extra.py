"""PyTorch-parity functions (docs/pytorch-parity.md): elementwise (logaddexp, hypot, xlogy,
fmod, remainder, nan_to_num, logit, sinc, erfc ...), reductions (aminmax, nanmedian,
var_mean ...), joining/splitting/indexing (hstack, tensor_split, take_along_dim, unique ...),
linear algebra (inner, mv, addmv, addr, cov, corrcoef, matrix_power ...), the top-level
re-exports of nn.functional, and the in-place Tensor methods: each compared with PyTorch in
float64 (values, and gradients where differentiable), the new ops also gradchecked."""
from __future__ import annotations

import numpy as np
import pytest

import deltaflow as dl
from opcheck import OpCase, check_op, distinct, normal, op_params, special, torch

GRADCHECKED = ("Erfc", "Fmod", "Remainder", "LogAddExp", "Hypot", "Copysign", "Logit")
GRADGRADCHECKED = GRADCHECKED   # second derivatives: opcheck.SECOND_ORDER on every row

NAN, INF = np.nan, np.inf


# ------------------------------------------------------------------ input draws
def positive(rng, shape):
    return rng.uniform(0.5, 2.0, shape)


def unit(rng, shape):
    return rng.uniform(0.1, 0.9, shape)


def small(rng, shape):
    return rng.uniform(-0.5, 0.5, shape)


def dividend(rng, shape):
    """|a| in [2.2, 2.8]: a/b stays between integers for the divisors below."""
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(2.2, 2.8, shape)


def divisor(rng, shape):
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(1.0, 1.05, shape)


def ints(high):
    return lambda rng, shape: rng.integers(0, high, shape)


def both(name, *args, **kwargs):
    """The row's function: ``dl.<name>`` and ``torch.<name>`` with the same arguments."""
    return (lambda *t: getattr(dl, name)(*t, *args, **kwargs),
            lambda *t: getattr(torch, name)(*t, *args, **kwargs))


def row(label, name, *args, draw=normal, grad=True, gradcheck=True, **kwargs):
    fn, torch_fn = both(name, *args, **kwargs)
    return OpCase(label, fn, None, torch_fn, draw=draw, grad=grad, gradcheck=gradcheck)


def listed(name, **kwargs):
    """``f([a, b, ...])`` for the joining functions."""
    return OpCase(name, lambda *t: getattr(dl, name)(list(t), **kwargs), None,
                  lambda *t: getattr(torch, name)(list(t), **kwargs))


# ------------------------------------------------------------------ op tables
ELEMENTWISE = [
    row("logaddexp", "logaddexp").at((3, 4), (4,)),
    row("logaddexp2", "logaddexp2").at((3, 4), (3, 4)),
    row("hypot", "hypot").at((3, 4), (3, 4)),
    row("xlogy", "xlogy", draw=(normal, positive)).at((3, 4), (3, 4)),
    row("fmod", "fmod", draw=(dividend, divisor)).at((3, 4), (3, 4)),
    row("remainder", "remainder", draw=(dividend, divisor)).at((3, 4), (3, 4)),
    row("fmod-scalar", "fmod", 0.7, draw=dividend).at((5,)),
    row("floor_divide", "floor_divide", draw=(dividend, divisor), grad=False).at((3, 4), (4,)),
    row("logit", "logit", draw=unit).at((3, 4)),
    row("logit-eps", "logit", 0.2, draw=unit).at((3, 4)),
    row("sinc", "sinc").at((3, 4)),
    row("exp2", "exp2").at((3, 4)),
    row("erfc", "erfc").at((3, 4)),
    row("deg2rad", "deg2rad").at((3, 4)),
    row("rad2deg", "rad2deg").at((3, 4)),
    OpCase("copysign", dl.copysign, None, lambda a, b: torch.copysign(a, b.detach())).at(
        (3, 4), (3, 4)),  # PyTorch's gradient for the sign source is 0; deltaflow gives none
    row("signbit", "signbit", grad=False).at((3, 4)),
    row("logical_xor", "logical_xor", grad=False).at((3, 4), (4,)),
    row("absolute", "absolute").at((3, 4)),
    OpCase("sgn", dl.sgn, None, torch and torch.sign).at((3, 4)),  # torch.sgn's grad: ZeroTensor
    row("positive", "positive").at((3, 4)),
    row("greater", "greater", grad=False).at((3, 4), (3, 4)),
    row("less_equal", "less_equal", grad=False).at((3, 4), (4,)),
    row("not_equal", "not_equal", grad=False).at((3, 4), (3, 4)),
    special("nan_to_num", dl.nan_to_num, [NAN, INF, -INF, 1.5, -2.0],
            torch_fn=torch and torch.nan_to_num),
    special("nan_to_num-values", lambda x: dl.nan_to_num(x, 1.0, 2.0, -3.0),
            [NAN, INF, -INF, 1.5], torch_fn=lambda x: torch.nan_to_num(x, 1.0, 2.0, -3.0)),
    special("sinc-zero", dl.sinc, [0.0, 0.5, -1.5], torch_fn=torch and torch.sinc),
    special("xlogy-zero", dl.xlogy, [0.0, 0.0, 0.0, 2.0], [2.0, -1.0, NAN, 0.5],
            torch_fn=torch and torch.xlogy),
    special("logaddexp-ties", dl.logaddexp, [1.0, -2.0], [1.0, 3.0],
            torch_fn=torch and torch.logaddexp),
    special("copysign-zeros", dl.copysign, [1.0, -2.0, 0.0, 3.0], [-0.0, 0.0, -1.0, 2.0],
            torch_fn=lambda a, b: torch.copysign(a, b.detach())),
    OpCase("heaviside", dl.heaviside, None, torch and torch.heaviside, grad=False,
           values=(np.array([-1.0, 0.0, 2.0, 0.0]), np.array([0.5]))),
    OpCase("isposinf", dl.isposinf, None, torch and torch.isposinf, grad=False,
           values=(np.array([INF, -INF, 1.0, NAN]),)),
    OpCase("isneginf", dl.isneginf, None, torch and torch.isneginf, grad=False,
           values=(np.array([INF, -INF, 1.0, NAN]),)),
    OpCase("isin", dl.isin, None, torch and torch.isin, grad=False,
           values=(np.array([[1, 2], [3, 4]]), np.array([2, 4, 7]))),
    OpCase("isin-invert", lambda a, b: dl.isin(a, b, invert=True), None,
           lambda a, b: torch.isin(a, b, invert=True), grad=False,
           values=(np.array([1, 2, 3]), np.array([2]))),
]

REDUCTIONS = [
    row("aminmax", "aminmax", draw=distinct).at((3, 4)),
    row("aminmax-dim", "aminmax", dim=1, keepdim=True, draw=distinct).at((3, 4)),
    row("nanmedian", "nanmedian", draw=distinct).at((3, 4)),
    row("nanmedian-dim", "nanmedian", 1, draw=distinct).at((3, 5)),
    special("nanmedian-nan", dl.nanmedian, [1.0, NAN, 3.0, 2.0, NAN],
            torch_fn=torch and torch.nanmedian),
    special("nanmedian-dim-nan", lambda x: dl.nanmedian(x, 1),
            [[1.0, NAN, 3.0, 2.0], [NAN, 5.0, NAN, NAN], [4.0, 1.0, NAN, 0.0]],
            torch_fn=lambda x: torch.nanmedian(x, 1)),
    row("var_mean", "var_mean", 1).at((3, 4)),
    row("std_mean", "std_mean", draw=distinct).at((3, 4)),
    row("dist", "dist").at((3, 4), (4,)),
    row("dist-p1", "dist", p=1).at((3, 4), (3, 4)),
    row("dist-inf", "dist", p=INF, draw=distinct).at((3, 4), (3, 4)),
    row("msort", "msort", draw=distinct).at((4, 3)),
]

SHAPES = [
    row("atleast_1d", "atleast_1d").at(()),
    row("atleast_2d", "atleast_2d").at((3,)),
    row("atleast_3d-0d", "atleast_3d").at(()),
    row("atleast_3d-1d", "atleast_3d").at((3,)),
    row("atleast_3d-2d", "atleast_3d").at((2, 3)),
    row("atleast_2d-many", "atleast_2d").at((), (3,), (2, 3)),
    listed("hstack").at((2, 3), (2, 1)),
    listed("hstack").at((3,), (2,)),
    listed("vstack").at((3,), (2, 3)),
    listed("row_stack").at((2, 3), (1, 3)),
    listed("dstack").at((2, 3), (2, 3)),
    listed("column_stack").at((3,), (3, 2), (3,)),
    row("fliplr", "fliplr").at((2, 3, 2)),
    row("flipud", "flipud").at((3, 2)),
    *(row(f"rot90-{k}", "rot90", k, (1, 2)).at((2, 3, 4)) for k in (0, 1, 2, 3, -1)),
    row("broadcast_tensors", "broadcast_tensors").at((3, 1), (4,)),
    row("tensor_split-n", "tensor_split", 3, dim=1).at((2, 7)),
    row("tensor_split-indices", "tensor_split", [1, 4, -1]).at((6, 2)),
    row("hsplit", "hsplit", 2).at((2, 4)),
    row("vsplit", "vsplit", [1]).at((3, 2)),
    row("dsplit", "dsplit", 2).at((2, 2, 4)),
    row("ravel", "ravel").at((2, 3)),
    row("select", "select", 1, -1).at((2, 3, 2)),
    row("take", "take", draw=(normal, ints(12))).at((3, 4), (2, 3)),
    row("take_along_dim", "take_along_dim", dim=1, draw=(normal, ints(4))).at((3, 4), (3, 2)),
    row("take_along_dim-broadcast", "take_along_dim", dim=0,
        draw=(normal, ints(3))).at((3, 1), (2, 4)),
    row("take_along_dim-flat", "take_along_dim", draw=(normal, ints(12))).at((3, 4), (5,)),
    row("diagflat", "diagflat", 1).at((2, 2)),
    row("block_diag", "block_diag").at((2, 3), (), (3,), (2, 2)),
    row("cartesian_prod", "cartesian_prod").at((3,), (2,)),
    row("combinations", "combinations").at((4,)),
    row("combinations-r3", "combinations", 3, with_replacement=True).at((3,)),
    OpCase("unique", lambda x: dl.unique(x, return_inverse=True, return_counts=True), None,
           lambda x: torch.unique(x, return_inverse=True, return_counts=True), grad=False,
           values=(np.array([[3.0, 1.0, 3.0], [2.0, 1.0, 5.0]]),)),
    OpCase("unique-dim", lambda x: dl.unique(x, dim=0, return_inverse=True), None,
           lambda x: torch.unique(x, dim=0, return_inverse=True), grad=False,
           values=(np.array([[1, 2], [0, 5], [1, 2]]),)),
    OpCase("tril_indices", lambda: dl.tril_indices(4, 5, 1), None,
           lambda: torch.tril_indices(4, 5, 1), grad=False),
    OpCase("triu_indices", lambda: dl.triu_indices(4, 3, -1), None,
           lambda: torch.triu_indices(4, 3, -1), grad=False),
]

LINALG = [
    row("inner", "inner").at((2, 3), (4, 3)),
    row("inner-scalar", "inner").at((), (2, 3)),
    row("mv", "mv").at((3, 4), (4,)),
    row("addmv", "addmv", beta=0.5, alpha=2.0).at((3,), (3, 4), (4,)),
    row("addr", "addr", alpha=-1.5).at((3, 4), (3,), (4,)),
    row("vdot", "vdot").at((4,), (4,)),
    row("cov", "cov").at((3, 6)),
    row("cov-1d", "cov", correction=0).at((5,)),
    row("cov-weights", "cov", draw=(normal, ints(3), positive)).at((2, 5), (5,), (5,))
    and OpCase("cov-weights", lambda x, f, a: dl.cov(x, fweights=f + 1, aweights=a), None,
               lambda x, f, a: torch.cov(x, fweights=f + 1, aweights=a),
               draw=(normal, ints(3), positive)).at((2, 5), (5,), (5,)),
    row("corrcoef", "corrcoef").at((3, 6)),
    row("matrix_power", "matrix_power", 3).at((2, 3, 3)),
    row("matrix_power-1", "matrix_power", 1).at((3, 3)),
    row("matrix_power-0", "matrix_power", 0, grad=False).at((3, 3)),
]

NN_REEXPORTS = [  # torch.X = nn.functional.X, same signature
    row("conv1d", "conv1d", padding=1).at((2, 3, 5), (4, 3, 3)),
    row("avg_pool1d", "avg_pool1d", 2).at((2, 3, 6)),
    row("max_pool1d", "max_pool1d", 2, draw=distinct).at((2, 3, 6)),
    row("layer_norm", "layer_norm", [4]).at((2, 4)),
    row("cosine_similarity", "cosine_similarity").at((3, 4), (3, 4)),
    row("pairwise_distance", "pairwise_distance").at((3, 4), (3, 4)),
    row("pdist", "pdist").at((4, 3)),
    row("pdist-p1", "pdist", 1.0).at((4, 3)),
    row("hardshrink", "hardshrink", 0.3).at((3, 4)),
    row("threshold", "threshold", 0.1, -2.0).at((3, 4)),
    row("celu", "celu", 0.7).at((3, 4)),
    row("pixel_shuffle", "pixel_shuffle", 2).at((1, 8, 2, 3)),
]

CASES = ELEMENTWISE + REDUCTIONS + SHAPES + LINALG + NN_REEXPORTS


@pytest.mark.parametrize("case, check", op_params(CASES))
def test_op(case, check):
    check_op(case, check)


# ------------------------------------------------------------------ errors and plain values
def test_errors_name_the_op():
    x = dl.zeros(2, 3)
    with pytest.raises(RuntimeError, match="tensor_split: number of sections"):
        dl.tensor_split(x, 0)
    with pytest.raises(RuntimeError, match="hsplit: dim 1 of size 3"):
        dl.hsplit(x, 2)
    with pytest.raises(IndexError, match="select: index 3 out of range"):
        dl.select(x, 1, 3)
    with pytest.raises(RuntimeError, match="inner: the last dims must match"):
        dl.inner(x, dl.zeros(2))
    with pytest.raises(RuntimeError, match="mv: expected a 2-D matrix"):
        dl.mv(x, x)
    with pytest.raises(RuntimeError, match="matrix_power: expected square"):
        dl.matrix_power(x, 2)
    with pytest.raises(RuntimeError, match="broadcast_shapes"):
        dl.broadcast_shapes((2, 3), (4,))
    with pytest.raises(RuntimeError, match="is_nonzero: .*more than one value"):
        dl.is_nonzero(x)


def test_plain_values_match_torch():
    assert dl.broadcast_shapes((2, 1), 3, (4, 1, 1)) == tuple(
        torch.broadcast_shapes((2, 1), 3, (4, 1, 1)))
    assert dl.numel(dl.zeros(2, 3)) == 6
    assert dl.is_floating_point(dl.zeros(2)) and not dl.is_floating_point(dl.zeros(2).long())
    assert dl.is_nonzero(dl.tensor([0.5])) and not dl.is_nonzero(dl.tensor(0.0))
    x = dl.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert x.ndimension() == 2 and x.nelement() == 4
    assert dl.combinations(dl.tensor([1.0, 2.0]), 3).shape == torch.combinations(
        torch.tensor([1.0, 2.0]), 3).shape


def test_tensor_methods_call_their_functions():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 3)), rng.uniform(0.5, 2, (3, 3))
    x, y = dl.tensor(a), dl.tensor(b)
    tx, ty = torch.tensor(a), torch.tensor(b)
    for name, args in [("hypot", (y,)), ("logaddexp", (y,)), ("xlogy", (y,)), ("fmod", (y,)),
                       ("remainder", (y,)), ("copysign", (y,)), ("inner", (y,)), ("mv", (y[0],)),
                       ("rot90", ()), ("fliplr", ()), ("ravel", ()), ("erfc", ()),
                       ("negative", ()), ("matrix_power", (2,)), ("diagflat", ()),
                       ("broadcast_to", ((2, 3, 3),)), ("exp2", ())]:
        targs = tuple(ty if a is y else ty[0] if isinstance(a, dl.Tensor) else a for a in args)
        np.testing.assert_allclose(getattr(x, name)(*args).numpy(),
                                   getattr(tx, name)(*targs).numpy(), rtol=1e-12, err_msg=name)
    w = dl.tensor([0.25, 0.5, 0.1], dtype=dl.float64)
    np.testing.assert_allclose(x.prelu(w).numpy(), tx.prelu(torch.tensor(
        [0.25, 0.5, 0.1], dtype=torch.float64)).numpy())
    assert x.select(0, 1).tolist() == tx.select(0, 1).tolist()
    p, q = dl.tensor([True, False, True]), dl.tensor([True, True, False])
    assert p.logical_and(q).tolist() == [True, False, False]
    assert p.logical_or(q).tolist() == [True, True, True]
    probs = dl.tensor([[0.0, 1.0, 0.0]])
    assert probs.multinomial(1).tolist() == [[1]]
    assert probs.bernoulli().tolist() == [[0.0, 1.0, 0.0]]


# ------------------------------------------------------------------ in-place methods
def run_in_place(steps, *arrays, rtol=1e-8):
    """``steps(lib, h, *others)`` on ``h`` = first leaf · 1 (an intermediate) in deltaflow and
    torch: the written values and the leaves' gradients of Σ h ⊙ w must agree."""
    results = []
    for lib in (dl, torch):
        leaves = [lib.tensor(a, requires_grad=True) for a in arrays]
        h = leaves[0] * 1
        out = steps(lib, h, *leaves[1:])
        assert out is h, "an in-place method returns self"
        w = np.random.default_rng(1).standard_normal(h.shape)
        (h * lib.tensor(w)).sum().backward()
        results.append([h.detach().numpy()] + [np.zeros(t.shape) if t.grad is None else
                                               t.grad.numpy() for t in leaves])
    for k, (d, t) in enumerate(zip(*results)):
        np.testing.assert_allclose(d, t, rtol=rtol, atol=1e-12, err_msg=f"array {k}")


UNARY_IN_PLACE = ("sin_ cos_ tan_ asin_ acos_ atan_ sinh_ cosh_ arcsin_ arccos_ "
                  "arctan_ erf_ erfinv_ expm1_ log1p_ square_ sign_ sinc_ exp2_ erfc_ "
                  "deg2rad_ rad2deg_ negative_ absolute_ nan_to_num_ floor_ ceil_ trunc_ "
                  "fix_ frac_ round_").split()
POSITIVE_IN_PLACE = "log2_ log10_ lgamma_ digamma_ reciprocal_ rsqrt_ logit_".split()


@pytest.mark.parametrize("name", UNARY_IN_PLACE + POSITIVE_IN_PLACE)
def test_in_place_unary(name):
    rng = np.random.default_rng(0)
    x = rng.uniform(0.1, 0.9, (3, 4)) if name in POSITIVE_IN_PLACE else rng.uniform(
        -0.9, 0.9, (3, 4))
    run_in_place(lambda lib, h: getattr(h, name)(), x)


@pytest.mark.parametrize("name, shift", [("asinh_", 0), ("arcsinh_", 0), ("atanh_", 0),
                                         ("arctanh_", 0), ("acosh_", 2.0), ("arccosh_", 2.0)])
def test_in_place_without_a_torch_derivative(name, shift):
    """torch has no derivative for asinh_, acosh_ and atanh_ in place: compare with
    h.copy_(f(h.clone()))."""
    x = np.random.default_rng(0).uniform(-0.9, 0.9, (3, 4))
    torch_fn = getattr(torch, name.replace("arc", "a")[:-1])
    run_in_place(lambda lib, h: getattr(h.add_(shift), name)() if lib is dl else
                 h.add_(shift).copy_(torch_fn(h.clone())), x)


def test_in_place_round_decimals_and_chains():
    x = np.random.default_rng(0).uniform(-3, 3, (3, 4))
    run_in_place(lambda lib, h: h.round_(decimals=1), x)
    run_in_place(lambda lib, h: h.sin_().mul_(2).floor_(), x)
    run_in_place(lambda lib, h: h.frac_().mul_(2).cos_(), x)


@pytest.mark.parametrize("name", "atan2_ arctan2_ hypot_ xlogy_ copysign_ multiply_ subtract_ "
                                 "divide_ true_divide_".split())
def test_in_place_binary(name):
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0.5, 2, (3, 4)), rng.uniform(0.5, 2, (3, 4))
    run_in_place(lambda lib, h, o: getattr(h, name)(o), x, y)


def test_in_place_remainders_and_lerp_family():
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0.5, 2, (3, 4)), rng.uniform(1.0, 1.05, (3, 4))
    run_in_place(lambda lib, h, o: h.mul_(2.5).fmod_(o), x, y)
    run_in_place(lambda lib, h, o: h.mul_(2.5).remainder_(o), x, y)
    run_in_place(lambda lib, h, o: h.lerp_(o, 0.3), x, y)
    run_in_place(lambda lib, h, o: h.addcmul_(o, o, value=0.5), x, y)
    run_in_place(lambda lib, h, o: h.addcdiv_(o, o + 1, value=-2), x, y)
    run_in_place(lambda lib, h, o: h.clip_(0.8, 1.5), x, y)


def test_in_place_linear_algebra_and_scans():
    rng = np.random.default_rng(0)
    m, a, b = rng.standard_normal((3, 3)), rng.standard_normal((3, 4)), rng.standard_normal((4, 3))
    run_in_place(lambda lib, h, a, b: h.addmm_(a, b, alpha=2), m, a, b)
    run_in_place(lambda lib, h: h.tril_(-1), m)
    run_in_place(lambda lib, h: h.triu_(1), m)
    run_in_place(lambda lib, h: h.cumsum_(0), m)
    run_in_place(lambda lib, h: h.cumprod_(1), m)
    v, u = rng.standard_normal(3), rng.standard_normal(3)
    run_in_place(lambda lib, h, v, u: h.addr_(v, u, alpha=0.5), m, v, u)
    run_in_place(lambda lib, h, mat, vec: h.addmv_(mat, vec, alpha=-1), v, m, u)
    b1, b2 = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4, 3))
    run_in_place(lambda lib, h, b1, b2: h.addbmm_(b1, b2), m, b1, b2)
    run_in_place(lambda lib, h, b1, b2: h.baddbmm_(b1, b2, alpha=0.7),
                 rng.standard_normal((2, 3, 3)), b1, b2)


def test_in_place_comparisons_write_zero_or_one_in_self_dtype():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 3, (3, 4)).astype(np.float64), rng.integers(0, 3, (3, 4)).astype(
        np.float64)
    for name in ("eq_", "ne_", "lt_", "le_", "gt_", "ge_", "greater_", "less_equal_",
                 "not_equal_", "logical_xor_"):
        d, t = dl.tensor(a), torch.tensor(a)
        getattr(d, name)(dl.tensor(b))
        getattr(t, name)(torch.tensor(b))
        assert d.dtype == dl.float64
        np.testing.assert_array_equal(d.numpy(), t.numpy(), err_msg=name)
    d, t = dl.tensor(a), torch.tensor(a)
    d.logical_not_(), t.logical_not_()
    np.testing.assert_array_equal(d.numpy(), t.numpy())
    d, t = dl.tensor(a), torch.tensor(a)
    d.floor_divide_(dl.tensor(b + 1)), t.floor_divide_(torch.tensor(b + 1))
    d.heaviside_(dl.tensor(0.5)), t.heaviside_(torch.tensor(0.5, dtype=torch.float64))
    np.testing.assert_array_equal(d.numpy(), t.numpy())


@pytest.mark.parametrize("name, args", [
    ("relu_", ()), ("elu_", (0.5,)), ("leaky_relu_", (0.2,)), ("hardtanh_", (-0.5, 0.5)),
    ("selu_", ()), ("celu_", (0.7,)), ("threshold_", (0.1, -1.0)), ("rrelu_", (0.1, 0.3))])
def test_in_place_nn_functional_forms(name, args):
    x = np.random.default_rng(0).standard_normal((3, 4))
    nf, tf = dl.nn.functional, torch.nn.functional
    run_in_place(lambda lib, h: (getattr(nf if lib is dl else tf, name)(h, *args), h)[1], x,
                 rtol=1e-6)  # elu's negative side: e^x − 1 here, expm1 in torch


def test_in_place_write_into_an_integer_tensor_is_refused():
    with pytest.raises(RuntimeError, match="sin_: the result has dtype"):
        dl.tensor([1, 2]).sin_()
