"""Reductions: forward = NumPy, float64 gradcheck, forward + gradients = PyTorch's, and the
tie rules (amax/max() split the gradient evenly, max(dim) gives it to the returned index)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import deltaflow as dl
from opcheck import OpCase, check_op, distinct, leaf, normal, op_params, special, torch

GRADCHECKED = ("Sum", "Mean", "Prod", "MaxDim", "Amax", "Var", "Std", "LogSumExp", "Norm")
GRADGRADCHECKED = GRADCHECKED   # second derivatives: opcheck.SECOND_ORDER on every row


def np_logsumexp(x, axis=None, keepdims=False):
    m = x.max(axis=axis, keepdims=True)
    out = m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))
    return out if keepdims else (out.reshape(()) if axis is None else np.squeeze(out, axis))


def np_norm(x, p, axis=None, keepdims=False):
    a = np.abs(x)
    if p == np.inf:
        return a.max(axis=axis, keepdims=keepdims)
    return (a ** p).sum(axis=axis, keepdims=keepdims) ** (1 / p)


REDUCTIONS = [replace(op, draw=distinct) for op in [  # on 3-D inputs
    OpCase("sum", lambda x: x.sum(), np.sum),
    OpCase("sum_dim", lambda x: x.sum(1), lambda x: x.sum(1)),
    OpCase("sum_neg_dim_keep", lambda x: x.sum(dim=-1, keepdim=True),
           lambda x: x.sum(-1, keepdims=True)),
    OpCase("sum_dims", lambda x: dl.sum(x, dim=(0, 2)), lambda x: x.sum((0, 2)),
           lambda x: torch.sum(x, dim=(0, 2))),
    OpCase("mean", lambda x: x.mean(), np.mean),
    OpCase("mean_dim_keep", lambda x: x.mean(0, keepdim=True), lambda x: x.mean(0, keepdims=True)),
    OpCase("mean_dims", lambda x: dl.mean(x, dim=[1, 2]), lambda x: x.mean((1, 2)),
           lambda x: torch.mean(x, dim=[1, 2])),
    OpCase("prod", lambda x: x.prod(), np.prod),
    OpCase("prod_dim", lambda x: x.prod(1), lambda x: x.prod(1)),
    OpCase("prod_dim_keep", lambda x: dl.prod(x, -1, keepdim=True),
           lambda x: x.prod(-1, keepdims=True), lambda x: torch.prod(x, -1, keepdim=True)),
    OpCase("max", lambda x: x.max(), np.max),
    OpCase("min", lambda x: dl.min(x), np.min, lambda x: torch.min(x)),
    OpCase("max_dim_values", lambda x: x.max(1)[0], lambda x: x.max(1)),
    OpCase("max_dim_keep", lambda x: x.max(dim=2, keepdim=True).values,
           lambda x: x.max(2, keepdims=True)),
    OpCase("min_dim", lambda x: dl.min(x, 0), lambda x: (x.min(0), x.argmin(0)),
           lambda x: torch.min(x, 0)),
    OpCase("amax", lambda x: x.amax(), np.max),
    OpCase("amax_dims", lambda x: dl.amax(x, dim=(0, 2)), lambda x: x.max((0, 2)),
           lambda x: torch.amax(x, dim=(0, 2))),
    OpCase("amin_dim_keep", lambda x: x.amin(1, keepdim=True), lambda x: x.min(1, keepdims=True)),
    OpCase("var", lambda x: x.var(), lambda x: x.var(ddof=1)),
    OpCase("var_dim_biased", lambda x: x.var(1, unbiased=False), lambda x: x.var(1)),
    OpCase("var_dims_correction", lambda x: dl.var(x, dim=(0, 2), correction=2, keepdim=True),
           lambda x: x.var((0, 2), ddof=2, keepdims=True),
           lambda x: torch.var(x, dim=(0, 2), correction=2, keepdim=True)),
    OpCase("std", lambda x: x.std(), lambda x: x.std(ddof=1)),
    OpCase("std_dim_keep", lambda x: x.std(2, keepdim=True),
           lambda x: x.std(2, ddof=1, keepdims=True)),
    OpCase("std_dims_biased", lambda x: dl.std(x, dim=(0, 1), unbiased=False),
           lambda x: x.std((0, 1)), lambda x: torch.std(x, dim=(0, 1), unbiased=False)),
    OpCase("logsumexp", lambda x: dl.logsumexp(x), np_logsumexp,
           lambda x: torch.logsumexp(x.reshape(-1), 0)),
    OpCase("logsumexp_dim", lambda x: x.logsumexp(1), lambda x: np_logsumexp(x, 1)),
    OpCase("logsumexp_dims_keep", lambda x: dl.logsumexp(x, (0, 2), keepdim=True),
           lambda x: np_logsumexp(x, (0, 2), True),
           lambda x: torch.logsumexp(x, (0, 2), keepdim=True)),
    OpCase("norm", lambda x: x.norm(), lambda x: np.sqrt((x * x).sum())),
    OpCase("norm_p1_dim", lambda x: dl.norm(x, 1, dim=1), lambda x: np_norm(x, 1, 1),
           lambda x: torch.norm(x, 1, dim=1)),
    OpCase("norm_p3_dims_keep", lambda x: x.norm(3, dim=(0, 2), keepdim=True),
           lambda x: np_norm(x, 3, (0, 2), True)),
    OpCase("norm_inf_dim", lambda x: dl.norm(x, float("inf"), dim=-1),
           lambda x: np_norm(x, np.inf, -1), lambda x: torch.norm(x, float("inf"), dim=-1)),
    OpCase("norm_fro_dim", lambda x: x.norm("fro", dim=2), lambda x: np_norm(x, 2, 2)),
]]
SHAPES = [(2, 3, 4), (3, 2, 5)]

OF_SMALL_SHAPES = [op for op in REDUCTIONS if op.name in
                   ("sum", "mean", "prod", "max", "amax", "logsumexp", "norm")]
SMALL_SHAPES = [(), (5,), (4, 1)]
DIM0 = [
    OpCase("var_dim0", lambda x: x.var(0), lambda x: x.var(0, ddof=1)),
    OpCase("std_dim0", lambda x: x.std(0), lambda x: x.std(0, ddof=1)),
]

WITH_ZEROS = np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 4.0], [1.0, 2.0, 3.0]])
PROD_WITH_ZEROS = [replace(op, values=(WITH_ZEROS,)) for op in [
    OpCase("prod_with_zeros", lambda x: x.prod(), np.prod),
    OpCase("prod_dim_with_zeros", lambda x: x.prod(1), lambda x: x.prod(1)),
    OpCase("prod_dim_keep_with_zeros", lambda x: x.prod(0, keepdim=True),
           lambda x: x.prod(0, keepdims=True)),
]]

TIES = np.array([[1.0, 5.0, 5.0, 2.0], [3.0, 3.0, 3.0, 0.0]])
# ties: amax/amin, max()/min() and the ∞-norm split the gradient evenly among the tied
# elements, max(dim)/min(dim) give it to the returned index, as in PyTorch
AT_TIES = [replace(op, values=(TIES,), gradcheck=False) for op in [
    OpCase("max_ties", lambda t: t.max(), np.max),
    OpCase("min_ties", lambda t: t.min(), np.min),
    OpCase("max_dim_ties", lambda t: t.max(1), lambda x: (x.max(1), x.argmax(1))),
    OpCase("min_dim0_ties", lambda t: t.min(0), lambda x: (x.min(0), x.argmin(0))),
    OpCase("amax_ties", lambda t: t.amax(), np.max),
    OpCase("amax_dim_ties", lambda t: t.amax(1), lambda x: x.max(1)),
    OpCase("amin_dim_ties", lambda t: t.amin(0), lambda x: x.min(0)),
    OpCase("amax_dims_ties", lambda t: t.amax((0, 1), keepdim=True),
           lambda x: x.max((0, 1), keepdims=True)),
    OpCase("norm_inf_ties", lambda t: t.norm(float("inf")), lambda x: np.abs(x).max()),
    OpCase("norm_inf_dim_ties", lambda t: t.norm(float("inf"), dim=1), lambda x: np.abs(x).max(1)),
]]

ARG = [replace(op, grad=False) for op in [
    OpCase("argmax", lambda x: x.argmax(), np.argmax),
    OpCase("argmax_dim0", lambda x: x.argmax(dim=0), lambda x: x.argmax(0)),
    OpCase("argmax_dim1", lambda x: x.argmax(dim=1), lambda x: x.argmax(1)),
    OpCase("argmax_keep", lambda x: x.argmax(dim=-1, keepdim=True),
           lambda x: x.argmax(-1, keepdims=True)),
    OpCase("argmin", lambda x: x.argmin(), np.argmin),
    OpCase("argmin_dim0", lambda x: x.argmin(dim=0), lambda x: x.argmin(0)),
    OpCase("argmin_dim1", lambda x: x.argmin(dim=1), lambda x: x.argmin(1)),
    OpCase("argmin_keep", lambda x: x.argmin(dim=-1, keepdim=True),
           lambda x: x.argmin(-1, keepdims=True)),
]]


NINF = -np.inf
SPECIAL = [  # values where a formula has a 0/0 or ±inf that PyTorch resolves
    special("norm_of_zeros", lambda x: x.norm(), np.zeros(3)),
    special("norm_zero_row", lambda x: x.norm(dim=1), [[0.0, 0.0], [3.0, 4.0]]),
    special("norm1_with_zero", lambda x: x.norm(1), [0.0, 1.0, -2.0]),
    special("norm3_with_zero", lambda x: x.norm(3), [0.0, 1.0, -2.0]),
    special("logsumexp_with_-inf", lambda x: x.logsumexp(1),
            [[NINF, 0.0, 1.0], [2.0, NINF, NINF]]),
    special("amax_all_-inf_row", lambda x: x.amax(1), [[NINF, NINF], [1.0, 2.0]]),
    special("std_of_constant", lambda x: x.std(1), np.ones((2, 3))),
    special("sum_of_empty", lambda x: x.sum(0), np.zeros((0, 3))),
    special("mean_of_empty", lambda x: x.mean(), np.zeros((0, 3))),
    special("prod_of_empty", lambda x: x.prod(0), np.zeros((0, 3))),
    special("var_of_one_element", lambda x: x.var(), [1.5]),
    special("std_of_one_element", lambda x: x.std(0), np.ones((1, 3))),
    special("norm_inf_tie", lambda x: x.norm(float("inf")), [-2.0, 2.0, 1.0]),
    special("logsumexp_with_inf", lambda x: x.logsumexp(0), [np.inf, 1.0]),
]



def np_cdist(a, b, p):
    diff = np.abs(a[..., :, None, :] - b[..., None, :, :])
    if p == 0:
        return (diff != 0).sum(-1).astype(a.dtype)
    return diff.max(-1) if p == np.inf else (diff ** p).sum(-1) ** (1 / p)


CDIST = [  # the gradients are compared with torch.cdist's
    *[OpCase(f"cdist_p{p}", lambda a, b, p=p: dl.cdist(a, b, p),
             lambda a, b, p=p: np_cdist(a, b, p), lambda a, b, p=p: torch.cdist(a, b, p),
             tol=1e-10).at((4, 3), (5, 3), seed=k) for k, p in enumerate((2.0, 1.0, 3.0, 0.5,
                                                                          np.inf))],
    OpCase("cdist_batched", lambda a, b: dl.cdist(a, b), lambda a, b: np_cdist(a, b, 2),
           lambda a, b: torch.cdist(a, b), tol=1e-10).at((2, 4, 3), (2, 2, 3)),
    OpCase("cdist_broadcast_batch", lambda a, b: dl.cdist(a, b, 1.5),
           lambda a, b: np_cdist(a, b, 1.5), lambda a, b: torch.cdist(a, b, 1.5),
           tol=1e-10).at((1, 3, 2), (2, 4, 2)),
    replace(OpCase("cdist_p0", lambda a, b: dl.cdist(a, b, 0), lambda a, b: np_cdist(a, b, 0),
                   lambda a, b: torch.cdist(a, b, 0)).at((3, 2), (4, 2)), grad=False),
    special("cdist_same_points", lambda a: dl.cdist(a, a), [[0.0, 1.0], [3.0, 4.0], [1.0, 1.0]],
            torch_fn=lambda a: torch.cdist(a, a)),
]

SPARSE = np.array([[0.0, 1.5, 0.0, 2.0], [-2.0, 0.0, 0.0, 0.0], [0.0, 0.0, 3.0, 1.0]])
SORTED = np.array([-1.0, -0.25, 0.0, 0.5, 1.5])
SORTED_ROWS = np.array([[-1.0, 0.0, 0.5, 2.0], [-0.5, -0.25, 0.75, 1.0]])
AT_EDGES = np.array([[-1.0, 0.3, 0.5, 2.5], [-3.0, 0.0, 1.5, -0.25]])  # on and off the edges
RUNS = np.array([1, 1, 2, 2, 2, 3, 1, 1, 2])
ROW_RUNS = np.array([[1, 2], [1, 2], [0, 2], [1, 2], [1, 2], [1, 3]])
CLOSE = (np.array([1.0, np.nan, np.inf, 2.0, -np.inf, 1e-9]),
         np.array([1.0 + 1e-7, np.nan, np.inf, 2.1, np.inf, 0.0]))


def np_histc(x, bins, lo=0.0, hi=0.0):
    if lo == hi:
        lo, hi = x.min(), x.max()
    return np.histogram(x, bins, (lo, hi))[0].astype(x.dtype)


COUNTING = [replace(op, grad=False, tol=0) for op in [  # no gradient, compared with torch
    OpCase("count_nonzero", lambda x: x.count_nonzero(), np.count_nonzero, values=(SPARSE,)),
    OpCase("count_nonzero_dim", lambda x: dl.count_nonzero(x, 0),
           lambda x: np.count_nonzero(x, 0), lambda x: torch.count_nonzero(x, 0),
           values=(SPARSE,)),
    OpCase("count_nonzero_dims", lambda x: x.count_nonzero((0, 1)),
           lambda x: np.count_nonzero(x, (0, 1)), values=(SPARSE.astype(np.int64),)),
    OpCase("bincount", lambda x: x.bincount(), np.bincount, values=(RUNS,)),
    OpCase("bincount_weights_minlength", lambda x, w: dl.bincount(x, w, minlength=6),
           lambda x, w: np.bincount(x, w, 6), lambda x, w: torch.bincount(x, w, minlength=6),
           values=(RUNS, np.linspace(-1, 1, RUNS.size))),
    OpCase("histc", lambda x: x.histc(5, -1, 1), lambda x: np_histc(x, 5, -1, 1),
           values=(normal(np.random.default_rng(0), (30,)),)),
    OpCase("histc_data_range", lambda x: dl.histc(x, 4), lambda x: np_histc(x, 4),
           lambda x: torch.histc(x, 4), values=(normal(np.random.default_rng(1), (3, 10)),)),
    OpCase("searchsorted", lambda s, v: dl.searchsorted(s, v), np.searchsorted,
           lambda s, v: torch.searchsorted(s, v), values=(SORTED, AT_EDGES)),
    OpCase("searchsorted_right", lambda s, v: dl.searchsorted(s, v, right=True),
           lambda s, v: np.searchsorted(s, v, "right"),
           lambda s, v: torch.searchsorted(s, v, right=True), values=(SORTED, AT_EDGES)),
    OpCase("searchsorted_rows_side", lambda s, v: dl.searchsorted(s, v, side="right"),
           lambda s, v: np.stack([np.searchsorted(r, w, "right") for r, w in zip(s, v)]),
           lambda s, v: torch.searchsorted(s, v, side="right"), values=(SORTED_ROWS, AT_EDGES)),
    OpCase("searchsorted_rows_int32", lambda s, v: dl.searchsorted(s, v, out_int32=True),
           lambda s, v: np.stack([np.searchsorted(r, w) for r, w in zip(s, v)]).astype(np.int32),
           lambda s, v: torch.searchsorted(s, v, out_int32=True), values=(SORTED_ROWS, AT_EDGES)),
    OpCase("searchsorted_sorter", lambda s, o: dl.searchsorted(s, dl.tensor(0.6), sorter=o),
           lambda s, o: np.searchsorted(s, 0.6, sorter=o),
           lambda s, o: torch.searchsorted(s, torch.tensor(0.6, dtype=torch.float64), sorter=o),
           values=(SORTED[::-1].copy(), np.arange(5)[::-1].copy())),
    OpCase("bucketize", lambda x, b: dl.bucketize(x, b), lambda x, b: np.searchsorted(b, x),
           lambda x, b: torch.bucketize(x, b), values=(AT_EDGES, SORTED)),
    OpCase("bucketize_right", lambda x, b: dl.bucketize(x, b, right=True),
           lambda x, b: np.searchsorted(b, x, "right"),
           lambda x, b: torch.bucketize(x, b, right=True), values=(AT_EDGES, SORTED)),
    OpCase("unique_consecutive", lambda x: x.unique_consecutive(), None, values=(RUNS,)),
    OpCase("unique_consecutive_all", lambda x: dl.unique_consecutive(x, True, True), None,
           lambda x: torch.unique_consecutive(x, True, True), values=(RUNS.reshape(3, 3),)),
    OpCase("unique_consecutive_counts", lambda x: x.unique_consecutive(return_counts=True), None,
           values=(RUNS.astype(np.float64),)),
    OpCase("unique_consecutive_dim0", lambda x: x.unique_consecutive(True, True, dim=0), None,
           values=(ROW_RUNS,)),
    OpCase("unique_consecutive_dim1", lambda x: x.unique_consecutive(return_inverse=True, dim=1),
           None, values=(ROW_RUNS.T.copy(),)),
    OpCase("isclose", lambda a, b: a.isclose(b), np.isclose, values=CLOSE),
    OpCase("isclose_equal_nan_tols", lambda a, b: dl.isclose(a, b, 0.1, 1e-8, equal_nan=True),
           lambda a, b: np.isclose(a, b, 0.1, 1e-8, equal_nan=True),
           lambda a, b: torch.isclose(a, b, 0.1, 1e-8, equal_nan=True), values=CLOSE),
]]

CASES = ([op.at(shape) for op in REDUCTIONS for shape in SHAPES]
         + [op.at(shape) for op in OF_SMALL_SHAPES for shape in SMALL_SHAPES]
         + [op.at(shape) for op in DIM0 for shape in [(5,), (5, 2)]]
         + PROD_WITH_ZEROS + AT_TIES + [op.at((3, 4)) for op in ARG] + SPECIAL + CDIST
         + COUNTING)


@pytest.mark.filterwarnings("ignore:Mean of empty slice", "ignore:.*degrees of freedom")
@pytest.mark.parametrize("case, check", op_params(CASES))
def test_op(case, check):
    check_op(case, check)


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


@pytest.mark.parametrize("a, b", [(np.ones(3), np.ones(3) + 1e-9), (np.ones(3), np.ones(3) + 1e-3),
                                  (np.array([1.0, np.nan]), np.array([1.0, np.nan])),
                                  (np.ones(3), np.ones((2, 3)))])
def test_allclose_and_equal_like_torch(a, b):
    ta, tb, da, db = torch.tensor(a), torch.tensor(b), dl.tensor(a), dl.tensor(b)
    for equal_nan in (False, True):
        assert da.allclose(db, equal_nan=equal_nan) == torch.allclose(ta, tb, equal_nan=equal_nan)
    assert dl.equal(da, db) == torch.equal(ta, tb) == da.equal(db)


@pytest.mark.parametrize("call, error, match", [
    (lambda: dl.cdist(dl.ones(3), dl.ones(2, 3)), RuntimeError, "cdist: expected x1"),
    (lambda: dl.cdist(dl.ones(2, 3), dl.ones(2, 3), -1), RuntimeError, "cdist: p must be"),
    (lambda: dl.bincount(dl.tensor([0, -1])), RuntimeError, "bincount: the input must not"),
    (lambda: dl.bincount(dl.ones(3)), RuntimeError, "bincount: expected a 1-D integer"),
    (lambda: dl.histc(dl.tensor([1, 2])), TypeError, "histc: expected a floating point"),
    (lambda: dl.histc(dl.ones(3), 4, 2, 1), RuntimeError, "histc: max 1.0 must be larger"),
    (lambda: dl.searchsorted(dl.ones(3), dl.ones(2), side="middle"), ValueError,
     "searchsorted: side must be"),
    (lambda: dl.searchsorted(dl.ones(3), dl.ones(2), right=True, side="left"), RuntimeError,
     "searchsorted: side='left' and right=True contradict"),
    (lambda: dl.searchsorted(dl.ones(2, 3), dl.ones(3, 2)), RuntimeError,
     "searchsorted: the sorted sequence of shape"),
    (lambda: dl.bucketize(dl.ones(2), dl.ones(2, 2)), RuntimeError,
     "bucketize: boundaries must be 1-D"),
])
def test_counting_errors_name_the_op(call, error, match):
    with pytest.raises(error, match=match):
        call()
