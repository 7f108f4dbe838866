"""Scans and order statistics: cumsum cumprod logcumsumexp cummax cummin, median mode
kthvalue quantile, nansum nanmean. Forward = NumPy, float64 gradcheck, forward + gradients =
PyTorch's; zeros in cumprod, ties and NaN compared with PyTorch."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import deltaflow as dl
from opcheck import OpCase, check_op, distinct, leaf, op_params, special, torch

GRADCHECKED = ("Cumsum", "Cumprod", "LogCumSumExp", "TiedValue")
GRADGRADCHECKED = GRADCHECKED   # second derivatives: opcheck.SECOND_ORDER on every row

NAN = np.nan


def np_logcumsumexp(x, axis):
    return np.logaddexp.accumulate(x, axis=axis)


def np_running(x, axis, mode):
    """NumPy's running max/min and the index of the latest element equal to it."""
    running = (np.maximum if mode == "max" else np.minimum).accumulate(x, axis=axis)
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]
    positions = np.arange(x.shape[axis]).reshape(shape)
    return running, np.maximum.accumulate(np.where(x == running, positions, 0), axis=axis)


def np_select(x, axis, k, keepdims=False):
    """The k-th smallest (from 0) along ``axis`` and its index (distinct values)."""
    order = np.take(np.argsort(x, axis=axis), [k], axis=axis)
    values = np.take_along_axis(x, order, axis)
    return (values, order) if keepdims else (values.squeeze(axis), order.squeeze(axis))


def lower_median(n):
    return (n - 1) // 2


def integers(rng, shape):
    return rng.integers(-3, 4, shape)


def few_values(rng, shape):
    """Floats from {0, 1, 2}: many ties, for mode."""
    return rng.integers(0, 3, shape).astype(np.float64)


QS = [0.1, 0.5, 0.95]
SCANS = [  # on (3, 4) and (2, 3, 4) inputs
    OpCase("cumsum_dim1", lambda x: x.cumsum(1), lambda x: np.cumsum(x, 1)),
    OpCase("cumsum_neg_dim", lambda x: dl.cumsum(x, -1), lambda x: np.cumsum(x, -1),
           lambda x: torch.cumsum(x, -1)),
    OpCase("cumprod_dim0", lambda x: x.cumprod(0), lambda x: np.cumprod(x, 0)),
    OpCase("cumprod_neg_dim", lambda x: dl.cumprod(x, dim=-1), lambda x: np.cumprod(x, -1),
           lambda x: torch.cumprod(x, dim=-1)),
    OpCase("logcumsumexp_dim1", lambda x: x.logcumsumexp(1), lambda x: np_logcumsumexp(x, 1)),
    OpCase("logcumsumexp_dim0", lambda x: dl.logcumsumexp(x, 0),
           lambda x: np_logcumsumexp(x, 0), lambda x: torch.logcumsumexp(x, 0)),
    OpCase("cummax_dim1", lambda x: x.cummax(1), lambda x: np_running(x, 1, "max")),
    OpCase("cummin_dim0", lambda x: dl.cummin(x, 0), lambda x: np_running(x, 0, "min"),
           lambda x: torch.cummin(x, 0)),
    OpCase("median", lambda x: x.median(), lambda x: np.sort(x, None)[lower_median(x.size)]),
    OpCase("median_dim1", lambda x: x.median(1),
           lambda x: np_select(x, 1, lower_median(x.shape[1]))),
    OpCase("median_dim0_keep", lambda x: dl.median(x, 0, keepdim=True),
           lambda x: np_select(x, 0, lower_median(x.shape[0]), True),
           lambda x: torch.median(x, 0, keepdim=True)),
    OpCase("kthvalue_2", lambda x: x.kthvalue(2), lambda x: np_select(x, -1, 1)),
    OpCase("kthvalue_dim0_keep", lambda x: dl.kthvalue(x, 2, 0, keepdim=True),
           lambda x: np_select(x, 0, 1, True), lambda x: torch.kthvalue(x, 2, 0, keepdim=True)),
    OpCase("quantile", lambda x: x.quantile(0.3), lambda x: np.quantile(x, 0.3)),
    OpCase("quantile_q_dim_keep", lambda x: x.quantile(dl.tensor(QS, dtype=dl.float64), dim=1,
                                                       keepdim=True),
           lambda x: np.quantile(x, QS, axis=1, keepdims=True),
           lambda x: x.quantile(torch.tensor(QS, dtype=torch.float64), dim=1, keepdim=True)),
    OpCase("quantile_q_keep", lambda x: dl.quantile(x, dl.tensor(QS[1:], dtype=dl.float64),
                                                    keepdim=True),
           lambda x: np.quantile(x, QS[1:], keepdims=True),
           lambda x: torch.quantile(x, torch.tensor(QS[1:], dtype=torch.float64), keepdim=True)),
    *[OpCase(f"quantile_{how}", lambda x, how=how: x.quantile(0.4, dim=-1, interpolation=how),
             lambda x, how=how: np.quantile(x, 0.4, axis=-1, method=how))
      for how in ("lower", "higher", "midpoint", "nearest")],
    OpCase("nansum", lambda x: x.nansum(), np.nansum),
    OpCase("nanmean_dim_keep", lambda x: x.nanmean(1, keepdim=True),
           lambda x: np.nanmean(x, 1, keepdims=True)),
]
SHAPES = [(3, 4), (2, 3, 4)]

ZERO_ROWS = np.array([[2.0, 0.0, 3.0, 0.0, 1.5], [0.0, 1.0, 2.0, 3.0, 4.0],
                      [1.0, 2.0, -3.0, 0.5, 0.0], [0.0, 0.0, 1.0, 2.0, 3.0]])
TIES = np.array([[1.0, 3.0, 3.0, 2.0, 3.0, 5.0, 5.0], [2.0, 1.0, 2.0, 1.0, 0.0, 2.0, 1.0]])
WITH_NAN = np.array([[1.0, NAN, 0.5, 2.0], [0.25, 3.0, -1.0, 4.0], [NAN, 1.0, NAN, 2.0]])

EXACT = [  # cumprod is a polynomial: finite differences hold at its zeros too
    replace(OpCase("cumprod_zeros_dim1", lambda x: x.cumprod(1), lambda x: np.cumprod(x, 1)),
            values=(ZERO_ROWS,)),
    replace(OpCase("cumprod_zeros_dim0", lambda x: x.cumprod(0), lambda x: np.cumprod(x, 0)),
            values=(ZERO_ROWS,)),
    replace(OpCase("logcumsumexp_far_apart", lambda x: x.logcumsumexp(1),
                   lambda x: np_logcumsumexp(x, 1)),
            # second derivatives at ±1000 apart: e^(−2000) terms, compared at smooth rows only
            values=(np.array([[-1000.0, 0.0, 1000.0, 999.0], [700.0, 710.0, -5.0, 720.0]]),),
            gradgrad=False),
    replace(OpCase("nansum_with_nan_dim", lambda x: x.nansum(1), lambda x: np.nansum(x, 1)),
            values=(WITH_NAN,)),
    replace(OpCase("nanmean_with_nan", lambda x: dl.nanmean(x), np.nanmean,
                   lambda x: torch.nanmean(x)), values=(WITH_NAN,)),
    replace(OpCase("nanmean_with_nan_dim0", lambda x: x.nanmean(0), lambda x: np.nanmean(x, 0)),
            values=(WITH_NAN,)),
]

INTEGER = [replace(op, grad=False, tol=0) for op in [
    OpCase("cumsum_int", lambda x: x.cumsum(0), lambda x: np.cumsum(x, 0)),
    OpCase("cumprod_int_dim1", lambda x: x.cumprod(1), lambda x: np.cumprod(x, 1)),
    OpCase("cummax_int", lambda x: x.cummax(1), lambda x: np_running(x, 1, "max")),
    OpCase("nansum_int", lambda x: x.nansum(0), lambda x: np.sum(x, 0)),
]]

# ties and NaN: cummax/cummin's index is the latest element equal to the running extreme
# (NaN sticks), median() splits its gradient among the elements equal to it, mode takes the
# smallest of the most frequent values and its last index; all as PyTorch
AT_SPECIAL_POINTS = [
    special("cummax_ties", lambda x: x.cummax(1), TIES),
    special("cummin_ties", lambda x: x.cummin(1), TIES),
    special("cummax_nan", lambda x: x.cummax(1), WITH_NAN),
    special("cummin_nan_dim0", lambda x: x.cummin(0), WITH_NAN),
    special("median_ties", lambda x: x.median(), TIES),
    special("median_nan", lambda x: x.median(), WITH_NAN),
    special("median_dim_nan", lambda x: x.median(1).values, WITH_NAN),
    special("mode_ties", lambda x: x.mode(1), TIES),
    special("mode_ties_keep", lambda x: x.mode(0, keepdim=True), TIES.T),
    special("quantile_nan", lambda x: x.quantile(0.5, dim=1), WITH_NAN),
    special("quantile_ties_midpoint", lambda x: x.quantile(0.25, interpolation="midpoint"),
            TIES),
    special("cumsum_0d", lambda x: x.cumsum(0), 2.5),
    special("cummax_0d", lambda x: x.cummax(-1), 2.5),
]

CASES = ([replace(op, draw=distinct).at(shape) for op in SCANS for shape in SHAPES]
         + [replace(op, draw=few_values, gradcheck=False).at((4, 7), seed=s)  # ties
            for s in range(2) for op in [
                OpCase("mode", lambda x: x.mode(), None),
                OpCase("mode_dim0", lambda x: dl.mode(x, 0), None, lambda x: torch.mode(x, 0))]]
         + EXACT + [replace(op, draw=integers).at((3, 4)) for op in INTEGER]
         + AT_SPECIAL_POINTS)


@pytest.mark.parametrize("case, check", op_params(CASES))
def test_op(case, check):
    check_op(case, check)


def test_cumprod_gradient_at_zeros_is_the_product_of_the_others():
    x = leaf([2.0, 0.0, 3.0, 0.0])
    x.cumprod(0).sum().backward()  # y = (2, 0, 0, 0): ∂y₁/∂x₁ = 2, ∂y₂/∂x₁ = 6, x₃ never counts
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 2.0 + 6.0, 0.0, 0.0])


def test_median_ties_split_the_gradient_evenly():
    x = leaf([1.0, 3.0, 3.0, 2.0, 3.0, 5.0])
    x.median().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0, 1 / 3, 1 / 3, 0, 1 / 3, 0])


def test_cummax_gradient_adds_up_at_a_repeated_index():
    x = leaf([1.0, 4.0, 2.0, 3.0])
    values, indices = x.cummax(0)
    values.sum().backward()
    assert indices.tolist() == [0, 1, 1, 1]
    np.testing.assert_array_equal(x.grad.numpy(), [1, 3, 0, 0])


def test_scan_dtypes_follow_torch():
    assert dl.tensor([1, 2], dtype=dl.int32).cumsum(0).dtype == dl.int64
    assert dl.tensor([True, True]).cumsum(0).tolist() == [1, 2]
    assert dl.tensor([1, 2]).cumsum(0, dtype=dl.float64).dtype == dl.float64
    assert dl.tensor([1.0, 2.0]).cumprod(0).dtype == dl.float32


@pytest.mark.parametrize("call, error, match", [
    (lambda x: x.cumsum(2), IndexError, "cumsum: dim 2 is out of range"),
    (lambda x: dl.tensor([1, 2]).logcumsumexp(0), TypeError, "logcumsumexp: expected a float"),
    (lambda x: x.kthvalue(5), RuntimeError, "kthvalue: k=5 is out of range for dim 1 of size 4"),
    (lambda x: x.quantile(1.5), RuntimeError, r"quantile: q values must be in the range"),
    (lambda x: x.quantile(0.5, interpolation="cubic"), ValueError, "quantile: interpolation"),
    (lambda x: x.quantile(dl.tensor([0.5], dtype=dl.float64)), TypeError, "quantile: q must"),
    (lambda x: dl.ones(0).median(), RuntimeError, "median: cannot take the median of an empty"),
    (lambda x: dl.tensor([1, 2]).nanmean(), TypeError, "nanmean: expected a float"),
])
def test_errors_name_the_op(call, error, match):
    with pytest.raises(error, match=match):
        call(dl.ones(3, 4))
