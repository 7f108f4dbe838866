"""The padding modules (Zero/Constant/Reflection/Replication/CircularPad1d/2d/3d) and F.pad's
modes equal PyTorch's in float64 (forward and input gradient), on batched and unbatched
inputs, with negative (cropping) entries; F.pad refuses what PyTorch refuses."""
from __future__ import annotations

import numpy as np
import pytest

import deltaflow as dl
import deltaflow.nn as nn
import deltaflow.nn.functional as F
from opcheck import assert_matches_torch

from .helpers import rand, torch

tnn, TF = torch.nn, torch.nn.functional

SHAPES = {1: [(2, 3, 5), (3, 5)], 2: [(2, 3, 4, 5), (3, 4, 5)],
          3: [(1, 2, 3, 4, 5), (2, 3, 4, 5)]}
PADDINGS = {1: [2, (1, 3), (0, 2)], 2: [1, (1, 0, 2, 3)], 3: [1, (1, 2, 0, 2, 2, 1)]}


def layers(dims):
    yield f"ZeroPad{dims}d", ()
    yield f"ConstantPad{dims}d", (1.5,)
    for kind in ("Reflection", "Replication", "Circular"):
        yield f"{kind}Pad{dims}d", ()


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_padding_modules_match_torch(dims):
    for name, extra in layers(dims):
        for padding in PADDINGS[dims]:
            d, t = getattr(nn, name)(padding, *extra), getattr(tnn, name)(padding, *extra)
            assert repr(d) == repr(t)
            for shape in SHAPES[dims]:
                assert_matches_torch(d, t, rand(*shape))


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("pad", [(-1, 2), (2, -1, -1, 1), (0, 0, 0, 0), (3, 2, 1, 0),
                                 (-2, -1), (1, -2, 1, -2)])
def test_pad_modes_and_negative_pads_match_torch(mode, pad):
    x = rand(2, 3, 5) if len(pad) == 2 else rand(2, 3, 4, 5)
    assert_matches_torch(lambda x: F.pad(x, pad, mode=mode), lambda x: TF.pad(x, pad, mode=mode),
                         x)


def test_pad_constant_any_dims_and_value():
    assert_matches_torch(lambda x: F.pad(x, (1, 1, 0, 2, 2, 1), value=-2.0),
                         lambda x: TF.pad(x, (1, 1, 0, 2, 2, 1), value=-2.0), rand(2, 3, 2))


def test_pad_keeps_dtype_and_modules_need_no_parameters():
    out = nn.ReflectionPad2d(1)(dl.zeros(1, 2, 3, dtype=dl.float32))
    assert out.dtype == np.float32 and out.shape == (1, 4, 5)
    assert not list(nn.ZeroPad2d(1).parameters())


@pytest.mark.parametrize("call,error,message", [
    (lambda: F.pad(dl.zeros(3, 4), (4, 1), mode="reflect"), ValueError, "smaller than its size"),
    (lambda: F.pad(dl.zeros(3, 4), (5, 1), mode="circular"), ValueError, "at most its size"),
    (lambda: F.pad(dl.zeros(3, 0), (1, 1), mode="replicate"), ValueError, "non-empty"),
    (lambda: F.pad(dl.zeros(4), (1, 1), mode="reflect"), NotImplementedError,
     "last 1, 2 or 3 dims"),
    (lambda: F.pad(dl.zeros(2, 3, 4, 5), (1, 1), mode="replicate"), NotImplementedError,
     "is 4-D"),
    (lambda: F.pad(dl.zeros(3, 4), (1, 1), mode="reflect", value=1.0), ValueError,
     "takes no value"),
    (lambda: F.pad(dl.zeros(3, 4), (-5, 0)), ValueError, "negative size"),
    (lambda: nn.ZeroPad2d((1, 2, 3)), ValueError, "tuple of 4 ints"),
])
def test_pad_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()
