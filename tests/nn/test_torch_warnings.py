"""The warnings PyTorch gives, given by deltaflow the same way: a regression loss whose
target would broadcast against its input, softmax without ``dim`` (and PyTorch's legacy
choice of dim), the deprecated ``size_average``/``reduce`` flags; and no warning otherwise."""
import re
import warnings

import numpy as np
import pytest

import deltaflow as dl
from deltaflow import nn
from deltaflow.nn import functional as F

from .helpers import rand, torch

TF = torch.nn.functional
REGRESSION = ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"]


def broadcast_message(target_shape, input_shape):
    return re.escape(f"Using a target size ({target_shape}) that is different to the input "
                     f"size ({input_shape}). This will likely lead to incorrect results due "
                     "to broadcasting. Please ensure they have the same size.")


def no_warnings(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn(*args, **kwargs)


@pytest.mark.parametrize("name", REGRESSION)
def test_regression_losses_warn_when_the_target_broadcasts(name):
    x, y = rand(3), rand(3, 1, seed=1)
    with pytest.warns(UserWarning, match=broadcast_message((3, 1), (3,))) as record:
        d = getattr(F, name)(dl.tensor(x), dl.tensor(y))
    assert len(record) == 1 and record[0].filename == __file__     # points at the caller
    with pytest.warns(UserWarning, match="Using a target size"):
        t = getattr(TF, name)(torch.tensor(x), torch.tensor(y))
    np.testing.assert_allclose(d.item(), t.item(), rtol=1e-12)       # and broadcasts as torch


@pytest.mark.parametrize("name", REGRESSION)
def test_regression_losses_with_equal_sizes_do_not_warn(name):
    no_warnings(getattr(F, name), dl.tensor(rand(3, 2)), dl.tensor(rand(3, 2, seed=1)))


def test_smooth_l1_with_beta_0_warns_once_and_modules_warn():
    x, y = dl.tensor(rand(4)), dl.tensor(rand(1, 4, seed=1))
    with pytest.warns(UserWarning, match=broadcast_message((1, 4), (4,))) as record:
        F.smooth_l1_loss(x, y, beta=0.0)
    assert len(record) == 1
    for module in (nn.MSELoss(), nn.L1Loss(), nn.SmoothL1Loss(), nn.HuberLoss()):
        with pytest.warns(UserWarning, match="Using a target size"):
            module(x, y)
        no_warnings(module, x, x)


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "softmin"])
@pytest.mark.parametrize("shape", [(), (5,), (3, 4), (2, 3, 4), (2, 3, 2, 2)])
def test_softmax_without_dim_warns_and_picks_torchs_dim(name, shape):
    x = rand(*shape)
    message = re.escape(f"Implicit dimension choice for {name} has been deprecated. Change the "
                        "call to include dim=X as an argument.")
    with pytest.warns(UserWarning, match=message) as record:
        d = getattr(F, name)(dl.tensor(x))
    assert len(record) == 1 and record[0].filename == __file__
    with pytest.warns(UserWarning, match=message):
        t = getattr(TF, name)(torch.tensor(x))
    np.testing.assert_allclose(d.numpy(), t.numpy(), rtol=1e-12)
    legacy = 0 if len(shape) in (0, 1, 3) else 1
    np.testing.assert_allclose(d.numpy(), getattr(F, name)(dl.tensor(x), legacy).numpy())


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "softmin"])
def test_softmax_with_dim_does_not_warn(name):
    x = dl.tensor(rand(2, 3))
    no_warnings(getattr(F, name), x, -1)
    no_warnings(getattr(F, name), x, dim=0, dtype=dl.float32)


def test_softmax_modules_without_dim_warn():
    for module in (nn.Softmax(), nn.LogSoftmax(), nn.Softmin()):
        with pytest.warns(UserWarning, match="Implicit dimension choice"):
            module(dl.tensor(rand(2, 3)))
        no_warnings(type(module)(dim=1), dl.tensor(rand(2, 3)))


@pytest.mark.parametrize("size_average, reduce, reduction",
                         [(False, None, "sum"), (None, False, "none"), (True, True, "mean")])
def test_legacy_reduction_flags_warn(size_average, reduce, reduction):
    message = re.escape("size_average and reduce args will be deprecated, please use "
                        f"reduction='{reduction}' instead.")
    x = dl.tensor(rand(3))
    with pytest.warns(UserWarning, match=message) as record:
        F.mse_loss(x, x, size_average=size_average, reduce=reduce)
    assert len(record) == 1 and record[0].filename == __file__
    with pytest.warns(UserWarning, match=message):
        assert nn.L1Loss(size_average=size_average, reduce=reduce).reduction == reduction
    no_warnings(F.mse_loss, x, x, reduction=reduction)
