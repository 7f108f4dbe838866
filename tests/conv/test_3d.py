"""conv3d, conv_transpose3d, max_pool3d, avg_pool3d, adaptive_avg_pool3d (composed of the
gradchecked 2-D ops over the depth) and their modules equal PyTorch's in float64: output and
every gradient."""
from __future__ import annotations

import numpy as np
import pytest

import deltaflow as dl
import deltaflow.nn.functional as F
from opcheck import assert_gradcheck

from .test_conv import check, rand

torch = pytest.importorskip("torch")
TF = torch.nn.functional


@pytest.mark.parametrize("kw", [
    dict(), dict(stride=2, padding=1), dict(stride=(1, 2, 1), padding=(2, 0, 1),
                                            dilation=(2, 1, 1)),
    dict(padding="same", dilation=(1, 2, 1)), dict(padding="valid", stride=(2, 1, 3)),
    dict(groups=2),
], ids=str)
def test_conv3d_matches_torch(kw):
    groups = kw.get("groups", 1)
    check(lambda x, w, b: F.conv3d(x, w, b, **kw), lambda x, w, b: TF.conv3d(x, w, b, **kw),
          rand(2, 4, 7, 6, 8, seed=1), rand(6, 4 // groups, 3, 2, 3, seed=2), rand(6, seed=3))


@pytest.mark.parametrize("kw", [
    dict(), dict(stride=2, padding=1),
    dict(stride=(2, 1, 2), padding=(1, 0, 1), output_padding=(1, 0, 1)),
    dict(stride=(3, 1, 1), dilation=(2, 1, 1), output_padding=(2, 0, 0)),
    dict(stride=2, padding=2, output_padding=1), dict(groups=2),
], ids=str)
def test_conv_transpose3d_matches_torch(kw):
    groups = kw.get("groups", 1)
    check(lambda x, w, b: F.conv_transpose3d(x, w, b, **kw),
          lambda x, w, b: TF.conv_transpose3d(x, w, b, **kw),
          rand(2, 4, 4, 5, 3, seed=8), rand(4, 6 // groups, 3, 2, 3, seed=9), rand(6, seed=10))


def test_conv_transpose3d_module_with_output_size():
    t = torch.nn.ConvTranspose3d(2, 3, 3, stride=2).double()
    d = dl.nn.ConvTranspose3d(2, 3, 3, stride=2).double()
    d.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    assert repr(d) == repr(t)
    check(lambda x: d(x, output_size=(8, 10, 12)), lambda x: t(x, output_size=(8, 10, 12)),
          rand(1, 2, 3, 4, 5, seed=11))


def test_conv3d_module_matches_torch_with_padding_mode_and_unbatched_input():
    t = torch.nn.Conv3d(3, 4, (2, 3, 3), padding=1, padding_mode="reflect").double()
    d = dl.nn.Conv3d(3, 4, (2, 3, 3), padding=1, padding_mode="reflect").double()
    d.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    assert repr(d) == repr(t)
    check(d, t, rand(3, 5, 4, 6))                       # unbatched (C, D, H, W)


@pytest.mark.parametrize("kind,kw", [
    ("max", dict(kernel_size=2)),
    ("max", dict(kernel_size=(3, 2, 2), stride=(2, 1, 2), padding=(1, 1, 0))),
    ("max", dict(kernel_size=3, stride=2, padding=1, dilation=(2, 1, 1))),
    ("max", dict(kernel_size=2, stride=2, ceil_mode=True)),
    ("avg", dict(kernel_size=2)),
    ("avg", dict(kernel_size=3, stride=2, padding=1)),
    ("avg", dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
    ("avg", dict(kernel_size=(3, 2, 3), stride=2, padding=1, ceil_mode=True,
                 count_include_pad=False)),
    ("avg", dict(kernel_size=2, divisor_override=3)),
], ids=str)
def test_pool3d_matches_torch(kind, kw):
    fd, ft = getattr(F, f"{kind}_pool3d"), getattr(TF, f"{kind}_pool3d")
    check(lambda x: fd(x, **kw), lambda x: ft(x, **kw), rand(2, 3, 7, 6, 9, seed=4))


@pytest.mark.parametrize("kw", [dict(kernel_size=2),
                                dict(kernel_size=(3, 2, 2), stride=(2, 1, 2), padding=(1, 1, 0)),
                                dict(kernel_size=3, stride=2, padding=1, dilation=(2, 1, 1)),
                                dict(kernel_size=2, stride=2, ceil_mode=True)], ids=str)
def test_max_pool3d_indices_match_torch(kw):
    x = np.round(rand(2, 3, 7, 6, 9, seed=12), 1)      # ties among window values
    _, d_idx = F.max_pool3d(dl.tensor(x), **kw, return_indices=True)
    _, t_idx = TF.max_pool3d(torch.tensor(x), **kw, return_indices=True)
    np.testing.assert_array_equal(d_idx.numpy(), t_idx.numpy())


def test_max_pool3d_ties_route_the_gradient_like_torch():
    """After a ReLU many window values tie at 0: the gradient goes to the first maximum in
    (depth, height, width) order, as in PyTorch."""
    x = np.maximum(rand(1, 2, 4, 4, 4, seed=5), 0)
    x[0, 0, :2, :2, :2] = 1.0                            # a whole window of equal maxima
    check(lambda x: F.max_pool3d(x, 2), lambda x: TF.max_pool3d(x, 2), x)


def test_pool3d_modules_match_torch():
    for d, t in ((dl.nn.MaxPool3d(2, padding=1), torch.nn.MaxPool3d(2, padding=1)),
                 (dl.nn.AvgPool3d((3, 2, 2), stride=1, count_include_pad=False),
                  torch.nn.AvgPool3d((3, 2, 2), stride=1, count_include_pad=False))):
        assert repr(d) == repr(t)
        check(d, t, rand(2, 3, 5, 4, 6, seed=6))


@pytest.mark.parametrize("size", [1, 2, (2, 3, 4), (None, 2, 3), (3, 1, 5)], ids=str)
def test_adaptive_avg_pool3d_matches_torch(size):
    check(lambda x: F.adaptive_avg_pool3d(x, size), lambda x: TF.adaptive_avg_pool3d(x, size),
          rand(2, 3, 7, 6, 9, seed=7))


def test_adaptive_avg_pool3d_module_keeps_float32_and_unbatched_inputs():
    d, t = dl.nn.AdaptiveAvgPool3d((2, None, 3)), torch.nn.AdaptiveAvgPool3d((2, None, 3))
    assert repr(d) == repr(t)
    x = rand(3, 5, 4, 6).astype(np.float32)              # unbatched (C, D, H, W)
    y = d(dl.tensor(x))
    assert y.dtype == dl.float32
    np.testing.assert_allclose(y.numpy(), t(torch.tensor(x)).numpy(), atol=1e-6)


def test_gradcheck_3d():
    assert_gradcheck(lambda x, w: F.conv3d(x, w, stride=(2, 1, 1), padding=1),
                     rand(1, 2, 4, 3, 3), rand(2, 2, 2, 2, 2, seed=1))
    assert_gradcheck(lambda x: F.avg_pool3d(x, 2, padding=1, count_include_pad=False),
                     rand(1, 1, 3, 3, 4))


@pytest.mark.parametrize("call,message", [
    (lambda: F.conv3d(dl.zeros(2, 4, 4), dl.zeros(3, 2, 1, 1, 1)), "5-D input"),
    (lambda: dl.nn.MaxPool3d(2)(dl.zeros(1, 4, 4)), "D, H, W"),
])
def test_3d_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
