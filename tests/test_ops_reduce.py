"""Reductions: forward = NumPy, float64 gradcheck, forward + gradients = PyTorch's, and the
tie rules (amax/max() split the gradient evenly, max(dim) gives it to the returned index)."""
from __future__ import annotations

import numpy as np
import pytest

import deltaflow as dl
from opcheck import assert_gradcheck, assert_matches_torch, leaf, torch

GRADCHECKED = ("Sum", "Mean", "Prod", "MaxDim", "Amax", "Var", "Std", "LogSumExp", "Norm")


def np_logsumexp(x, axis=None, keepdims=False):
    m = x.max(axis=axis, keepdims=True)
    out = m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))
    return out if keepdims else (out.reshape(()) if axis is None else np.squeeze(out, axis))


def np_norm(x, p, axis=None, keepdims=False):
    a = np.abs(x)
    if p == np.inf:
        return a.max(axis=axis, keepdims=keepdims)
    return (a ** p).sum(axis=axis, keepdims=keepdims) ** (1 / p)


# name: (deltaflow fn, torch fn, NumPy fn); the input is 3-D, shape (2, 3, 4)
REDUCTIONS = {
    "sum": (lambda x: x.sum(), lambda x: x.sum(), np.sum),
    "sum_dim": (lambda x: x.sum(1), lambda x: x.sum(1), lambda x: x.sum(1)),
    "sum_neg_dim_keep": (lambda x: x.sum(dim=-1, keepdim=True),
                         lambda x: x.sum(dim=-1, keepdim=True),
                         lambda x: x.sum(-1, keepdims=True)),
    "sum_dims": (lambda x: dl.sum(x, dim=(0, 2)), lambda x: torch.sum(x, dim=(0, 2)),
                 lambda x: x.sum((0, 2))),
    "mean": (lambda x: x.mean(), lambda x: x.mean(), np.mean),
    "mean_dim_keep": (lambda x: x.mean(0, keepdim=True), lambda x: x.mean(0, keepdim=True),
                      lambda x: x.mean(0, keepdims=True)),
    "mean_dims": (lambda x: dl.mean(x, dim=[1, 2]), lambda x: torch.mean(x, dim=[1, 2]),
                  lambda x: x.mean((1, 2))),
    "prod": (lambda x: x.prod(), lambda x: x.prod(), np.prod),
    "prod_dim": (lambda x: x.prod(1), lambda x: x.prod(1), lambda x: x.prod(1)),
    "prod_dim_keep": (lambda x: dl.prod(x, -1, keepdim=True),
                      lambda x: torch.prod(x, -1, keepdim=True),
                      lambda x: x.prod(-1, keepdims=True)),
    "max": (lambda x: x.max(), lambda x: x.max(), np.max),
    "min": (lambda x: dl.min(x), lambda x: torch.min(x), np.min),
    "max_dim_values": (lambda x: x.max(1)[0], lambda x: x.max(1)[0], lambda x: x.max(1)),
    "max_dim_keep": (lambda x: x.max(dim=2, keepdim=True).values,
                     lambda x: x.max(dim=2, keepdim=True).values,
                     lambda x: x.max(2, keepdims=True)),
    "min_dim_values": (lambda x: dl.min(x, 0).values, lambda x: torch.min(x, 0).values,
                       lambda x: x.min(0)),
    "amax": (lambda x: x.amax(), lambda x: x.amax(), np.max),
    "amax_dims": (lambda x: dl.amax(x, dim=(0, 2)), lambda x: torch.amax(x, dim=(0, 2)),
                  lambda x: x.max((0, 2))),
    "amin_dim_keep": (lambda x: x.amin(1, keepdim=True), lambda x: x.amin(1, keepdim=True),
                      lambda x: x.min(1, keepdims=True)),
    "var": (lambda x: x.var(), lambda x: x.var(), lambda x: x.var(ddof=1)),
    "var_dim_biased": (lambda x: x.var(1, unbiased=False), lambda x: x.var(1, unbiased=False),
                       lambda x: x.var(1)),
    "var_dims_correction": (lambda x: dl.var(x, dim=(0, 2), correction=2, keepdim=True),
                            lambda x: torch.var(x, dim=(0, 2), correction=2, keepdim=True),
                            lambda x: x.var((0, 2), ddof=2, keepdims=True)),
    "std": (lambda x: x.std(), lambda x: x.std(), lambda x: x.std(ddof=1)),
    "std_dim_keep": (lambda x: x.std(2, keepdim=True), lambda x: x.std(2, keepdim=True),
                     lambda x: x.std(2, ddof=1, keepdims=True)),
    "std_dims_biased": (lambda x: dl.std(x, dim=(0, 1), unbiased=False),
                        lambda x: torch.std(x, dim=(0, 1), unbiased=False),
                        lambda x: x.std((0, 1))),
    "logsumexp": (lambda x: dl.logsumexp(x), lambda x: torch.logsumexp(x.reshape(-1), 0),
                  np_logsumexp),
    "logsumexp_dim": (lambda x: x.logsumexp(1), lambda x: x.logsumexp(1),
                      lambda x: np_logsumexp(x, 1)),
    "logsumexp_dims_keep": (lambda x: dl.logsumexp(x, (0, 2), keepdim=True),
                            lambda x: torch.logsumexp(x, (0, 2), keepdim=True),
                            lambda x: np_logsumexp(x, (0, 2), True)),
    "norm": (lambda x: x.norm(), lambda x: x.norm(), lambda x: np.sqrt((x * x).sum())),
    "norm_p1_dim": (lambda x: dl.norm(x, 1, dim=1), lambda x: torch.norm(x, 1, dim=1),
                    lambda x: np_norm(x, 1, 1)),
    "norm_p3_dims_keep": (lambda x: x.norm(3, dim=(0, 2), keepdim=True),
                          lambda x: x.norm(3, dim=(0, 2), keepdim=True),
                          lambda x: np_norm(x, 3, (0, 2), True)),
    "norm_inf_dim": (lambda x: dl.norm(x, float("inf"), dim=-1),
                     lambda x: torch.norm(x, float("inf"), dim=-1),
                     lambda x: np_norm(x, np.inf, -1)),
    "norm_fro_dim": (lambda x: x.norm("fro", dim=2), lambda x: x.norm("fro", dim=2),
                     lambda x: np_norm(x, 2, 2)),
}


def x3(seed=0):
    """Distinct values with |x| in [0.5, 1.5] (no ties, no zero: every reduction is smooth)."""
    rng = np.random.default_rng(seed)
    mag = rng.permutation(np.linspace(0.5, 1.5, 24)).reshape(2, 3, 4)
    return mag * rng.choice([-1.0, 1.0], (2, 3, 4))


@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_forward_matches_numpy(name):
    x = x3()
    np.testing.assert_allclose(REDUCTIONS[name][0](leaf(x)).numpy(), REDUCTIONS[name][2](x),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_gradcheck(name):
    assert_gradcheck(REDUCTIONS[name][0], x3(1))


@pytest.mark.parametrize("seed", [2, 3])
@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_matches_torch(name, seed):
    assert_matches_torch(REDUCTIONS[name][0], REDUCTIONS[name][1], x3(seed))


@pytest.mark.parametrize("shape", [(), (5,), (4, 1)], ids=str)
@pytest.mark.parametrize("name", ["sum", "mean", "prod", "max", "amax", "logsumexp", "norm",
                                  "var_dim0", "std_dim0"])
def test_small_shapes_match_torch(name, shape):
    fns = dict(REDUCTIONS)
    fns["var_dim0"] = (lambda x: x.var(0), lambda x: x.var(0))
    fns["std_dim0"] = (lambda x: x.std(0), lambda x: x.std(0))
    if name in ("var_dim0", "std_dim0") and shape in ((), (4, 1)):
        shape = (5, 2)
    x = np.random.default_rng(0).uniform(0.5, 2.0, shape)
    assert_gradcheck(fns[name][0], x)
    assert_matches_torch(fns[name][0], fns[name][1], x)


def test_prod_gradient_with_zeros_matches_torch():
    x = np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 4.0], [1.0, 2.0, 3.0]])
    for dl_fn, t_fn in [(lambda t: t.prod(), lambda t: t.prod()),
                        (lambda t: t.prod(1), lambda t: t.prod(1)),
                        (lambda t: t.prod(0, keepdim=True), lambda t: t.prod(0, keepdim=True))]:
        assert_gradcheck(dl_fn, x)
        assert_matches_torch(dl_fn, t_fn, x)


# ------------------------------------------------------------------------------- ties
TIES = np.array([[1.0, 5.0, 5.0, 2.0], [3.0, 3.0, 3.0, 0.0]])


@pytest.mark.parametrize("dl_fn, torch_fn", [
    (lambda t: t.max(), lambda t: t.max()),
    (lambda t: t.min(), lambda t: t.min()),
    (lambda t: t.amax(), lambda t: t.amax()),
    (lambda t: t.amax(1), lambda t: t.amax(1)),
    (lambda t: t.amin(0), lambda t: t.amin(0)),
    (lambda t: t.amax((0, 1), keepdim=True), lambda t: t.amax((0, 1), keepdim=True)),
    (lambda t: t.norm(float("inf")), lambda t: t.norm(float("inf"))),
    (lambda t: t.norm(float("inf"), dim=1), lambda t: t.norm(float("inf"), dim=1)),
], ids=["max", "min", "amax", "amax_dim", "amin_dim", "amax_dims", "norm_inf", "norm_inf_dim"])
def test_ties_split_the_gradient_evenly_like_torch(dl_fn, torch_fn):
    assert_matches_torch(dl_fn, torch_fn, TIES)


def test_amax_tie_gradient_values():
    x = leaf(TIES)
    x.amax(1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0.5, 0.5, 0], [1 / 3, 1 / 3, 1 / 3, 0]])


@pytest.mark.parametrize("mode", ["max", "min"])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_max_dim_gives_the_gradient_to_the_returned_index_like_torch(mode, dim):
    x = leaf(TIES)
    values, indices = getattr(x, mode)(dim)
    w = np.random.default_rng(0).standard_normal(values.shape)
    (values * dl.tensor(w)).sum().backward()
    expected = np.zeros_like(TIES)
    np.put_along_axis(expected, np.expand_dims(indices.numpy(), dim), np.expand_dims(w, dim),
                      axis=dim)
    np.testing.assert_array_equal(x.grad.numpy(), expected)
    assert indices.dtype == dl.int64 and not indices.requires_grad
    if torch is not None:
        t = torch.tensor(TIES, requires_grad=True)
        tv, ti = getattr(t, mode)(dim)
        (tv * torch.tensor(w)).sum().backward()
        np.testing.assert_array_equal(indices.numpy(), ti.numpy())
        np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())


def test_max_dim_keepdim_returns_named_tuple():
    out = dl.tensor(TIES).max(dim=1, keepdim=True)
    assert out.values.shape == (2, 1) and out.indices.shape == (2, 1)
    values, indices = out
    np.testing.assert_array_equal(indices.numpy(), [[1], [0]])


@pytest.mark.parametrize("fn", ["argmax", "argmin"])
@pytest.mark.parametrize("kw", [{}, {"dim": 0}, {"dim": 1}, {"dim": -1, "keepdim": True}],
                         ids=str)
def test_argmax_argmin_match_numpy_and_torch(fn, kw):
    x = np.random.default_rng(0).standard_normal((3, 4))
    out = getattr(dl.tensor(x), fn)(**kw)
    ref = getattr(np, fn)(x, axis=kw.get("dim"), keepdims=kw.get("keepdim", False))
    np.testing.assert_array_equal(out.numpy(), ref)
    assert out.dtype == dl.int64
    if torch is not None:
        np.testing.assert_array_equal(out.numpy(), getattr(torch.tensor(x), fn)(**kw).numpy())


def test_max_dim_of_a_0d_tensor_like_torch():
    x = leaf(2.5)
    values, indices = x.min(0)
    values.backward()
    assert values.item() == 2.5 and indices.item() == 0 and x.grad.item() == 1.0
    if torch is not None:
        assert torch.tensor(2.5).min(0).indices.item() == 0


def test_max_of_two_tensors_is_elementwise():
    a, b = dl.tensor([1.0, 4.0]), dl.tensor([3.0, 2.0])
    np.testing.assert_array_equal(dl.max(a, b).numpy(), [3.0, 4.0])
    np.testing.assert_array_equal(a.min(b).numpy(), [1.0, 2.0])


def test_integer_and_bool_sums_and_mean_errors():
    assert dl.tensor([True, True, False]).sum().item() == 2
    assert dl.tensor([1, 2, 3], dtype=dl.int32).sum().dtype == dl.int64
    with pytest.raises(TypeError, match="mean"):
        dl.tensor([1, 2]).mean()
    assert dl.tensor([1, 2]).mean(dtype=dl.float64).item() == 1.5


def test_bad_dims_are_named():
    x = dl.ones(2, 3)
    with pytest.raises(IndexError, match=r"sum: dim 2 is out of range.*2 dimensions"):
        x.sum(2)
    with pytest.raises(TypeError, match="max: dim must be an int"):
        x.max(dim=(0, 1))
    with pytest.raises(RuntimeError, match="max: cannot reduce an empty tensor"):
        dl.ones(0).max()


NINF = -np.inf
SPECIAL = {  # values where a formula has a 0/0 or ±inf that PyTorch resolves
    "norm_of_zeros": (lambda x: x.norm(), lambda t: t.norm(), np.zeros(3)),
    "norm_zero_row": (lambda x: x.norm(dim=1), lambda t: t.norm(dim=1),
                      np.array([[0.0, 0.0], [3.0, 4.0]])),
    "norm1_with_zero": (lambda x: x.norm(1), lambda t: t.norm(1), np.array([0.0, 1.0, -2.0])),
    "norm3_with_zero": (lambda x: x.norm(3), lambda t: t.norm(3), np.array([0.0, 1.0, -2.0])),
    "logsumexp_with_-inf": (lambda x: x.logsumexp(1), lambda t: t.logsumexp(1),
                            np.array([[NINF, 0.0, 1.0], [2.0, NINF, NINF]])),
    "amax_all_-inf_row": (lambda x: x.amax(1), lambda t: t.amax(1),
                          np.array([[NINF, NINF], [1.0, 2.0]])),
    "std_of_constant": (lambda x: x.std(1), lambda t: t.std(1), np.ones((2, 3))),
    "sum_of_empty": (lambda x: x.sum(0), lambda t: t.sum(0), np.zeros((0, 3))),
    "mean_of_empty": (lambda x: x.mean(), lambda t: t.mean(), np.zeros((0, 3))),
    "prod_of_empty": (lambda x: x.prod(0), lambda t: t.prod(0), np.zeros((0, 3))),
    "var_of_one_element": (lambda x: x.var(), lambda t: t.var(), np.array([1.5])),
    "std_of_one_element": (lambda x: x.std(0), lambda t: t.std(0), np.ones((1, 3))),
    "norm_inf_tie": (lambda x: x.norm(float("inf")), lambda t: t.norm(float("inf")),
                     np.array([-2.0, 2.0, 1.0])),
    "logsumexp_with_inf": (lambda x: x.logsumexp(0), lambda t: t.logsumexp(0),
                           np.array([np.inf, 1.0])),
}


@pytest.mark.filterwarnings("ignore:Mean of empty slice", "ignore:.*degrees of freedom")
@pytest.mark.parametrize("name", list(SPECIAL))
def test_special_values_match_torch(name):
    dl_fn, torch_fn, x = SPECIAL[name]
    with np.errstate(divide="ignore", invalid="ignore"):
        assert_matches_torch(dl_fn, torch_fn, x)
