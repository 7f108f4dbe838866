"""Conv/pool/fold modules: PyTorch's parameter names, shapes, state_dict keys (weights load
both ways), default initialisation bounds, repr, padding modes and output_size."""
from __future__ import annotations

import math

import numpy as np
import pytest

import deltaflow as dl
from deltaflow import nn

from .test_conv import check, rand

torch = pytest.importorskip("torch")

PAIRS = [
    (lambda m: m.Conv2d(3, 8, (3, 5), stride=2, padding=1, bias=False)),
    (lambda m: m.Conv2d(4, 6, 3, padding="same", dilation=2, groups=2)),
    (lambda m: m.Conv2d(3, 6, (2, 3), padding=(2, 1), padding_mode="reflect")),
    (lambda m: m.Conv2d(3, 6, 3, padding="same", padding_mode="circular")),
    (lambda m: m.Conv2d(3, 4, 3, padding=1, padding_mode="replicate")),
    (lambda m: m.Conv1d(3, 4, 3, stride=2, padding=1)),
    (lambda m: m.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)),
    (lambda m: m.ConvTranspose1d(3, 2, 4, stride=2)),
]


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("make", PAIRS)
def test_module_matches_torch_with_loaded_weights(make):
    t_m = make(torch.nn).double()
    d_m = make(nn).double()
    assert repr(d_m) == repr(t_m)
    assert list(d_m.state_dict()) == list(t_m.state_dict())
    assert [tuple(p.shape) for p in d_m.parameters()] == \
        [tuple(p.shape) for p in t_m.parameters()]
    d_m.load_state_dict(t_m.state_dict())
    x = rand(2, t_m.in_channels, *((9,) if "1d" in type(t_m).__name__ else (7, 6)))
    check(d_m, t_m, x)
    # and back: torch loads deltaflow's weights
    t2 = make(torch.nn).double()
    t2.load_state_dict({k: torch.tensor(v.numpy()) for k, v in d_m.state_dict().items()})
    np.testing.assert_allclose(t2(torch.tensor(x)).detach().numpy(),
                               d_m(dl.tensor(x)).numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("make,fan_in", [
    (lambda: nn.Conv2d(6, 8, (3, 5), groups=2), 3 * 15),
    (lambda: nn.ConvTranspose2d(6, 8, 4, groups=2), 4 * 16),
    (lambda: nn.Conv1d(5, 7, 3), 15),
])
def test_default_init_is_uniform_with_pytorch_bounds(make, fan_in):
    dl.manual_seed(0)
    m = make()
    bound = 1 / math.sqrt(fan_in)
    for p in (m.weight, m.bias):
        v = p.numpy()
        assert v.dtype == np.float32
        assert np.abs(v).max() <= bound and np.abs(v).max() > 0.8 * bound


def test_conv_transpose2d_output_size():
    t_m = torch.nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1).double()
    d_m = nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1).double()
    d_m.load_state_dict(t_m.state_dict())
    x = rand(2, 3, 5, 6)
    for size in [(9, 11), (10, 12), (2, 4, 10, 11)]:
        check(lambda x, s=size: d_m(x, output_size=s), lambda x, s=size: t_m(x, output_size=s), x)


def test_pool_and_fold_module_reprs_match_torch():
    for name, args in [("MaxPool2d", (2,)), ("MaxPool2d", (3, 2, 1)), ("AvgPool2d", (3, 1)),
                       ("MaxPool1d", (2,)), ("AvgPool1d", (3,)), ("AdaptiveAvgPool2d", ((1, 1),)),
                       ("AdaptiveAvgPool1d", (4,)), ("Unfold", ((2, 3),)),
                       ("Fold", ((4, 5), 2))]:
        assert repr(getattr(nn, name)(*args)) == repr(getattr(torch.nn, name)(*args))


def test_pool_modules_match_torch():
    x = rand(2, 3, 9, 8)
    for name, args, kw in [("MaxPool2d", (3, 2, 1), dict(ceil_mode=True)),
                           ("AvgPool2d", (3, 2, 1), dict(count_include_pad=False)),
                           ("AdaptiveAvgPool2d", ((4, 3),), {}), ("Unfold", ((2, 3),), {})]:
        check(getattr(nn, name)(*args, **kw), getattr(torch.nn, name)(*args, **kw), x)
    d_y, d_i = nn.MaxPool2d(2, return_indices=True)(dl.tensor(x))
    t_y, t_i = torch.nn.MaxPool2d(2, return_indices=True)(torch.tensor(x))
    np.testing.assert_array_equal(d_i.numpy(), t_i.numpy())


@pytest.mark.parametrize("make,message", [
    (lambda: nn.Conv2d(3, 4, 3, groups=2), "in_channels"),
    (lambda: nn.Conv2d(4, 3, 3, groups=2), "out_channels"),
    (lambda: nn.Conv2d(4, 4, 3, padding="full"), "padding"),
    (lambda: nn.Conv2d(4, 4, 3, padding_mode="mirror"), "padding_mode"),
    (lambda: nn.ConvTranspose2d(4, 4, 3, padding_mode="reflect"), "zeros"),
])
def test_module_constructor_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()
