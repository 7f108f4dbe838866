"""interpolate (nearest, nearest-exact, linear, bilinear and bicubic with/without
align_corners, area)
equals PyTorch's in float64 (output and input gradient); float64 gradcheck of Resample."""
from __future__ import annotations

import pytest

import deltaflow as dl
import deltaflow.nn.functional as F
from opcheck import assert_gradcheck, assert_gradgradcheck, assert_second_order_matches_torch

from .test_conv import check, rand

torch = pytest.importorskip("torch")
TF = torch.nn.functional

GRADCHECKED = ("Resample",)
GRADGRADCHECKED = ("Resample",)

CASES = [
    dict(scale_factor=2), dict(scale_factor=3), dict(size=(5, 17)),
    dict(scale_factor=(1.7, 0.6)), dict(size=(20, 7), mode="nearest-exact"),
    dict(scale_factor=2, mode="bilinear"), dict(scale_factor=1.5, mode="bilinear"),
    dict(size=(4, 23), mode="bilinear", align_corners=True),
    dict(size=(1, 3), mode="bilinear", align_corners=True),
    dict(scale_factor=2.5, mode="bilinear", recompute_scale_factor=True),
    dict(size=(3, 4), mode="area"), dict(size=(9, 11), mode="bilinear"),
    dict(scale_factor=2, mode="bicubic"), dict(scale_factor=1.5, mode="bicubic"),
    dict(size=(4, 23), mode="bicubic", align_corners=True),
    dict(size=(1, 3), mode="bicubic", align_corners=True),
    dict(scale_factor=0.4, mode="bicubic"), dict(size=(9, 11), mode="bicubic"),
    dict(scale_factor=2.5, mode="bicubic", recompute_scale_factor=True),
]


@pytest.mark.parametrize("kw", CASES)
def test_interpolate_matches_torch(kw):
    check(lambda x: F.interpolate(x, **kw), lambda x: TF.interpolate(x, **kw), rand(2, 3, 9, 11))


@pytest.mark.parametrize("kw", [dict(scale_factor=2.5, mode="linear"), dict(size=7),
                                dict(size=30, mode="linear", align_corners=True),
                                dict(size=4, mode="area")])
def test_interpolate_1d_matches_torch(kw):
    check(lambda x: F.interpolate(x, **kw), lambda x: TF.interpolate(x, **kw), rand(2, 3, 13))


def test_upsample_modules_match_torch():
    x = rand(2, 3, 5, 4)
    for d_m, t_m in ((dl.nn.Upsample(scale_factor=2), torch.nn.Upsample(scale_factor=2)),
                     (dl.nn.UpsamplingBilinear2d(size=(7, 9)),
                      torch.nn.UpsamplingBilinear2d(size=(7, 9))),
                     (dl.nn.UpsamplingNearest2d(scale_factor=3),
                      torch.nn.UpsamplingNearest2d(scale_factor=3))):
        check(d_m, t_m, x)
        assert repr(d_m) == repr(t_m)


def test_resample_gradcheck():
    assert_gradcheck(lambda x: F.interpolate(x, scale_factor=1.5, mode="bilinear"),
                     rand(1, 2, 3, 4))
    assert_gradcheck(lambda x: F.interpolate(x, size=5), rand(1, 2, 3))
    assert_gradcheck(lambda x: F.interpolate(x, size=(5, 2), mode="bicubic"),
                     rand(1, 2, 3, 4))


@pytest.mark.parametrize("call,message", [
    (lambda: F.interpolate(dl.zeros(1, 1, 4, 4)), "exactly one"),
    (lambda: F.interpolate(dl.zeros(1, 1, 4), scale_factor=2, mode="bilinear"), "4-D"),
    (lambda: F.interpolate(dl.zeros(1, 1, 4, 4), scale_factor=2, mode="trilinear"),
     "not supported"),
    (lambda: F.interpolate(dl.zeros(1, 1, 4), scale_factor=2, mode="bicubic"), "4-D"),
    (lambda: F.interpolate(dl.zeros(1, 1, 4, 4), scale_factor=2, align_corners=True),
     "align_corners"),
])
def test_interpolate_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("kw", [dict(scale_factor=2, mode="bilinear"), dict(size=(5, 3),
                                mode="bicubic"), dict(scale_factor=1.5), dict(size=(2, 3),
                                mode="area")])
def test_second_order(kw):
    """create_graph: y = A_h·x·A_wᵀ is linear, its gradient A_hᵀ·g·A_w is differentiable
    again (gradgradcheck; second derivatives of tanh(y)² equal PyTorch's)."""
    x = rand(1, 2, 3, 4)
    assert_gradgradcheck(lambda x: F.interpolate(x, **kw), x)
    assert_second_order_matches_torch(lambda x: F.interpolate(x, **kw).tanh() ** 2,
                                      lambda x: TF.interpolate(x, **kw).tanh() ** 2, x)
