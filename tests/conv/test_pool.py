"""max_pool1d/2d, avg_pool1d/2d, adaptive_avg_pool1d/2d, adaptive_max_pool1d/2d equal
PyTorch's in float64 (output, indices, input gradient) over kernel sizes, strides,
paddings, dilations, ceil_mode and count_include_pad; ties and NaN behave like PyTorch;
float64 gradchecks."""
from __future__ import annotations

import numpy as np
import pytest

import deltaflow as dl
import deltaflow.nn.functional as F
from opcheck import SECOND_ORDER, OpCase, assert_gradcheck, check_op, distinct

from .test_conv import check, rand

torch = pytest.importorskip("torch")
TF = torch.nn.functional

GRADCHECKED = ("MaxPooling", "AvgPooling", "MaxUnpooling")
GRADGRADCHECKED = ("MaxPooling", "AvgPooling", "MaxUnpooling")

MAX_GRID = [
    # kernel, stride, padding, dilation, ceil_mode
    (2, None, 0, 1, False),
    (3, 2, 1, 1, False),
    (3, 2, 1, 1, True),
    ((2, 3), (1, 2), (1, 0), (2, 1), True),
    ((3, 2), 1, (1, 1), 2, False),
    ((1, 4), (2, 3), (0, 2), 1, True),
    (4, 3, 2, 1, True),
]


@pytest.mark.parametrize("kernel,stride,padding,dilation,ceil_mode", MAX_GRID)
def test_max_pool2d_matches_torch(kernel, stride, padding, dilation, ceil_mode):
    x = rand(2, 3, 9, 11)
    kw = dict(kernel_size=kernel, stride=stride, padding=padding, dilation=dilation,
              ceil_mode=ceil_mode)
    check(lambda x: F.max_pool2d(x, **kw), lambda x: TF.max_pool2d(x, **kw), x)
    d_out, d_idx = F.max_pool2d(dl.tensor(x), return_indices=True, **kw)
    t_out, t_idx = TF.max_pool2d(torch.tensor(x), return_indices=True, **kw)
    np.testing.assert_array_equal(d_idx.numpy(), t_idx.numpy())
    assert d_idx.dtype == np.int64 and not d_idx.requires_grad


def test_max_pool2d_ties_route_the_gradient_to_the_first_maximum():
    x = np.random.default_rng(0).integers(0, 2, size=(2, 2, 6, 6)).astype(np.float64)
    for kw in (dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1)):
        check(lambda x, kw=kw: F.max_pool2d(x, **kw), lambda x, kw=kw: TF.max_pool2d(x, **kw), x)


def test_max_pool2d_propagates_nan():
    x = rand(1, 1, 4, 4)
    x[0, 0, 1, 2] = np.nan
    y = F.max_pool2d(dl.tensor(x), 2).numpy()
    ref = TF.max_pool2d(torch.tensor(x), 2).numpy()
    np.testing.assert_array_equal(np.isnan(y), np.isnan(ref))


def test_max_pool1d_matches_torch():
    x = rand(2, 3, 14)
    for kw in (dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
               dict(kernel_size=2, dilation=3, stride=1)):
        check(lambda x, kw=kw: F.max_pool1d(x, **kw), lambda x, kw=kw: TF.max_pool1d(x, **kw), x)
        np.testing.assert_array_equal(
            F.max_pool1d(dl.tensor(x), return_indices=True, **kw)[1].numpy(),
            TF.max_pool1d(torch.tensor(x), return_indices=True, **kw)[1].numpy())


def test_max_pool2d_on_integers_and_unbatched():
    x = np.random.default_rng(0).integers(-50, 50, size=(3, 7, 6))
    y = F.max_pool2d(dl.tensor(x), 3, 2, 1)
    np.testing.assert_array_equal(y.numpy(), TF.max_pool2d(torch.tensor(x).double(), 3, 2, 1)
                                  .numpy())
    assert y.dtype == np.int64


AVG_GRID = [
    # kernel, stride, padding, ceil_mode, count_include_pad, divisor_override
    (2, None, 0, False, True, None),
    (3, 2, 1, False, True, None),
    (3, 2, 1, True, False, None),
    ((2, 3), (3, 2), (1, 1), True, True, None),
    ((3, 2), 1, (1, 0), False, False, None),
    (3, 2, 1, True, True, 4),
    ((1, 4), (1, 3), (0, 2), True, False, None),
]


@pytest.mark.parametrize("kernel,stride,padding,ceil_mode,count_include_pad,divisor",
                         AVG_GRID)
def test_avg_pool2d_matches_torch(kernel, stride, padding, ceil_mode, count_include_pad,
                                  divisor):
    kw = dict(kernel_size=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode,
              count_include_pad=count_include_pad, divisor_override=divisor)
    check(lambda x: F.avg_pool2d(x, **kw), lambda x: TF.avg_pool2d(x, **kw), rand(2, 3, 9, 11))


def test_avg_pool1d_matches_torch():
    for kw in (dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                                         count_include_pad=False)):
        check(lambda x, kw=kw: F.avg_pool1d(x, **kw), lambda x, kw=kw: TF.avg_pool1d(x, **kw),
              rand(2, 3, 14))


@pytest.mark.parametrize("size", [1, (3, 4), (4, 11), (5, None), (9, 2), (2, 7)])
def test_adaptive_avg_pool2d_matches_torch(size):
    check(lambda x: F.adaptive_avg_pool2d(x, size), lambda x: TF.adaptive_avg_pool2d(x, size),
          rand(2, 3, 9, 11))


def test_adaptive_avg_pool1d_matches_torch():
    for size in (1, 4, 5):
        check(lambda x, s=size: F.adaptive_avg_pool1d(x, s),
              lambda x, s=size: TF.adaptive_avg_pool1d(x, s), rand(2, 3, 14))


def test_pool_gradchecks():
    x = rand(1, 2, 5, 6)
    assert_gradcheck(lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True), x)
    assert_gradcheck(lambda x: F.max_pool2d(x, 2), x)
    assert_gradcheck(lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), x)
    assert_gradcheck(lambda x: F.avg_pool2d(x, 2), x)


def test_pooling_keeps_float32():
    x = dl.tensor(rand(2, 3, 8, 8).astype(np.float32), requires_grad=True)
    y = F.max_pool2d(x, 2) + F.avg_pool2d(x, 2) + F.adaptive_avg_pool2d(x, (4, 4))
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


@pytest.mark.parametrize("call,message", [
    (lambda: F.max_pool2d(dl.zeros(1, 1, 4, 4), 2, padding=2), "half of kernel"),
    (lambda: F.max_pool2d(dl.zeros(1, 1, 2, 2), 3), "too small"),
    (lambda: F.avg_pool2d(dl.zeros(1, 4, 4), (2, 2, 2)), "kernel_size"),
    (lambda: F.max_pool2d(dl.zeros(4, 4), 2), "expected a 4-D input"),
    (lambda: F.adaptive_avg_pool2d(dl.zeros(1, 1, 4, 4), (1, 2, 3)), "output_size"),
])
def test_pool_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_max_pool2d_with_more_than_256_window_elements():
    """Argmax offsets above 255 switch the tournament to int32 indices."""
    x = np.random.default_rng(0).integers(0, 3, size=(1, 2, 20, 19)).astype(np.float64)
    kw = dict(kernel_size=(17, 16), stride=(3, 2))
    check(lambda x: F.max_pool2d(x, **kw), lambda x: TF.max_pool2d(x, **kw), x)
    np.testing.assert_array_equal(
        F.max_pool2d(dl.tensor(x), return_indices=True, **kw)[1].numpy(),
        TF.max_pool2d(torch.tensor(x), return_indices=True, **kw)[1].numpy())


@pytest.mark.parametrize("size", [3, (2, 4), (None, 3), 1, (5, 7), (7, 9)], ids=str)
def test_adaptive_max_pool2d_matches_torch(size):
    """Uneven bins, output and flat H·W indices (return_indices) and the gradient."""
    check(lambda x: F.adaptive_max_pool2d(x, size), lambda x: TF.adaptive_max_pool2d(x, size),
          rand(2, 3, 7, 9))
    x = rand(2, 3, 7, 9, seed=1)
    _, d_idx = F.adaptive_max_pool2d(dl.tensor(x), size, return_indices=True)
    _, t_idx = TF.adaptive_max_pool2d(torch.tensor(x), size, return_indices=True)
    np.testing.assert_array_equal(d_idx.numpy(), t_idx.numpy())


@pytest.mark.parametrize("size", [1, 3, 5, 13])
def test_adaptive_max_pool1d_matches_torch_with_ties_and_modules(size):
    x = np.round(rand(2, 3, 13, seed=2))                 # many equal values: ties
    check(lambda x: F.adaptive_max_pool1d(x, size), lambda x: TF.adaptive_max_pool1d(x, size), x)
    d, t = dl.nn.AdaptiveMaxPool1d(size, True), torch.nn.AdaptiveMaxPool1d(size, True)
    assert repr(d) == repr(t)
    np.testing.assert_array_equal(d(dl.tensor(x[0]))[1].numpy(), t(torch.tensor(x[0]))[1].numpy())


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=3, stride=1)], ids=str)
def test_max_unpool2d_inverts_max_pool2d_like_torch(kw):
    """The values go back to the indices max_pool2d returned (overlapping windows repeat an
    index: the value is the same, and each copy gets the whole gradient, as in PyTorch)."""
    x = rand(2, 3, 7, 8, seed=3)
    _, d_idx = F.max_pool2d(dl.tensor(x), **kw, return_indices=True)
    _, t_idx = TF.max_pool2d(torch.tensor(x), **kw, return_indices=True)
    v = rand(*d_idx.shape, seed=4)
    check(lambda v: F.max_unpool2d(v, d_idx, output_size=(7, 8), **kw),
          lambda v: TF.max_unpool2d(v, t_idx, output_size=(7, 8), **kw), v)


def test_max_unpool_modules_and_1d():
    x = rand(2, 3, 9, seed=5)
    d_pool, t_pool = dl.nn.MaxPool1d(3, 2, 1, return_indices=True), \
        torch.nn.MaxPool1d(3, 2, 1, return_indices=True)
    d_un, t_un = dl.nn.MaxUnpool1d(3, 2, 1), torch.nn.MaxUnpool1d(3, 2, 1)
    assert repr(d_un) == repr(t_un) and repr(dl.nn.MaxUnpool2d(2)) == repr(torch.nn.MaxUnpool2d(2))
    np.testing.assert_array_equal(d_un(*d_pool(dl.tensor(x))).numpy(),
                                  t_un(*t_pool(torch.tensor(x))).numpy())


def test_max_unpool_gradcheck_and_errors():
    idx = dl.tensor(np.array([[[0, 3, 4]]]))
    assert_gradcheck(lambda v: F.max_unpool1d(v, idx, 2), rand(1, 1, 3))
    with pytest.raises(ValueError, match="indices must lie in"):
        F.max_unpool1d(dl.ones(1, 1, 3), dl.tensor(np.array([[[0, 3, 9]]])), 2)
    with pytest.raises(ValueError, match="within one stride"):
        F.max_unpool1d(dl.ones(1, 1, 3), idx, 2, output_size=(9,))
    with pytest.raises(ValueError, match="do not match"):
        F.max_unpool1d(dl.ones(1, 1, 3), dl.tensor(np.array([[0, 1]])), 2)


# ------------------------------------------------------------------- second derivatives
def pool_case(name, op, shape, **kw):
    """``F.<op>`` against PyTorch's on distinct values (no ties between window elements)."""
    return OpCase(name, lambda x: getattr(F, op)(x, **kw), None,
                  lambda x: getattr(TF, op)(x, **kw), draw=distinct).at(shape)


UNPOOL_INDEX = np.array([[[[0, 3], [9, 14]], [[5, 2], [8, 15]]]])
SECOND_ORDER_CASES = [
    pool_case("max_pool2d", "max_pool2d", (2, 2, 5, 6), kernel_size=(2, 3), stride=(1, 2),
              padding=1),
    pool_case("max_pool2d_ceil_dilation", "max_pool2d", (1, 2, 7, 6), kernel_size=2,
              stride=2, dilation=2, ceil_mode=True),
    pool_case("max_pool1d", "max_pool1d", (2, 3, 7), kernel_size=3, stride=2, padding=1),
    pool_case("max_pool3d", "max_pool3d", (1, 2, 3, 3, 4), kernel_size=2, stride=1, padding=1),
    pool_case("avg_pool2d", "avg_pool2d", (2, 2, 5, 6), kernel_size=(2, 3), stride=(1, 2),
              padding=1, ceil_mode=True, count_include_pad=False),
    pool_case("avg_pool2d_divisor", "avg_pool2d", (1, 2, 4, 5), kernel_size=2,
              divisor_override=3),
    pool_case("avg_pool1d", "avg_pool1d", (2, 3, 7), kernel_size=3, stride=2, padding=1),
    pool_case("avg_pool3d", "avg_pool3d", (1, 2, 3, 3, 4), kernel_size=2, stride=1, padding=1),
    pool_case("adaptive_avg_pool2d", "adaptive_avg_pool2d", (1, 2, 5, 7), output_size=(2, 3)),
    pool_case("adaptive_avg_pool3d", "adaptive_avg_pool3d", (1, 2, 3, 5, 4),
              output_size=(2, 2, 3)),
    pool_case("adaptive_max_pool2d", "adaptive_max_pool2d", (1, 2, 5, 7), output_size=(2, 3)),
    pool_case("adaptive_max_pool1d", "adaptive_max_pool1d", (1, 2, 7), output_size=3),
    OpCase("max_unpool2d", lambda x: F.max_unpool2d(x, dl.tensor(UNPOOL_INDEX), 2), None,
           lambda x: TF.max_unpool2d(x, torch.tensor(UNPOOL_INDEX), 2)).at((1, 2, 2, 2)),
]


@pytest.mark.parametrize("check", SECOND_ORDER)
@pytest.mark.parametrize("case", SECOND_ORDER_CASES, ids=str)
def test_second_order(case, check):
    """create_graph: pooling is linear near the point (max pooling: a gather of the saved
    arg-max elements), so what is checked is that its gradient is differentiable again."""
    check_op(case, check)


@pytest.mark.parametrize("op", ["max_pool2d", "avg_pool2d"])
def test_second_order_through_a_nonlinearity_matches_torch(op):
    from opcheck import assert_second_order_matches_torch
    x = distinct(np.random.default_rng(0), (2, 2, 4, 6))
    assert_second_order_matches_torch(lambda x: getattr(F, op)(x.tanh(), 2) ** 2,
                                      lambda x: getattr(TF, op)(x.tanh(), 2) ** 2, x)
