"""pixel_shuffle / pixel_unshuffle, affine_grid and grid_sample (bilinear/trilinear and
nearest; padding zeros, border, reflection; align_corners both ways; 4-D and 5-D) and the
PixelShuffle modules equal PyTorch's in float64: forward, input and grid gradients; float64
gradcheck of the GridSample op."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import deltaflow as dl
import deltaflow.nn as nn
import deltaflow.nn.functional as F
from opcheck import OpCase, check_op, op_params

from .helpers import rand, torch

tnn, TF = torch.nn, torch.nn.functional

GRADCHECKED = ("GridSample",)
GRADGRADCHECKED = ("GridSample",)  # the table's second-order checks


def grid_points(rng, shape):
    """Grid values in [−1.3, 1.3] (some outside the image) away from pixel boundaries."""
    return rng.uniform(-1.3, 1.3, shape)


def sample_case(mode, padding, align, x_shape, grid_shape):
    kw = dict(mode=mode, padding_mode=padding, align_corners=align)
    return OpCase(f"grid_sample_{mode}_{padding}_{align}",
                  lambda x, g: F.grid_sample(x, g, **kw), None,
                  lambda x, g: TF.grid_sample(x, g, **kw),
                  draw=(lambda rng, s: rng.standard_normal(s), grid_points),
                  gradcheck=mode == "bilinear").at(x_shape, grid_shape)


GRID_CASES = [sample_case(mode, padding, align, (2, 3, 4, 5), (2, 3, 2, 2))
              for mode, padding, align in itertools.product(
                  ("bilinear", "nearest"), ("zeros", "border", "reflection"), (False, True))]
GRID_CASES += [sample_case("bilinear", padding, align, (1, 2, 3, 4, 2), (1, 2, 2, 3, 3))
               for padding, align in itertools.product(("zeros", "border", "reflection"),
                                                       (False, True))]
GRID_CASES.append(sample_case("bilinear", "reflection", True, (1, 2, 1, 5), (1, 4, 2, 2)))

CASES = GRID_CASES + [
    OpCase("pixel_shuffle", lambda x: F.pixel_shuffle(x, 2), None,
           lambda x: TF.pixel_shuffle(x, 2)).at((2, 8, 3, 2)),
    OpCase("pixel_shuffle_batch_dims", lambda x: F.pixel_shuffle(x, 3), None,
           lambda x: TF.pixel_shuffle(x, 3)).at((2, 1, 9, 2, 1)),
    OpCase("pixel_unshuffle", lambda x: F.pixel_unshuffle(x, 2), None,
           lambda x: TF.pixel_unshuffle(x, 2)).at((2, 3, 4, 6)),
    OpCase("pixel_unshuffle_unbatched", lambda x: F.pixel_unshuffle(x, 3), None,
           lambda x: TF.pixel_unshuffle(x, 3)).at((1, 3, 6)),
    OpCase("affine_grid", lambda t: F.affine_grid(t, (2, 3, 4, 5), align_corners=False), None,
           lambda t: TF.affine_grid(t, (2, 3, 4, 5), align_corners=False)).at((2, 2, 3)),
    OpCase("affine_grid_align", lambda t: F.affine_grid(t, (1, 1, 1, 3), align_corners=True),
           None, lambda t: TF.affine_grid(t, (1, 1, 1, 3), align_corners=True)).at((1, 2, 3)),
    OpCase("affine_grid_3d", lambda t: F.affine_grid(t, (2, 1, 2, 3, 4), align_corners=False),
           None, lambda t: TF.affine_grid(t, (2, 1, 2, 3, 4), align_corners=False)
           ).at((2, 3, 4)),
]


@pytest.mark.filterwarnings("ignore:.*unit-size grid")
@pytest.mark.parametrize("case,check", op_params(CASES))
def test_op(case, check):
    check_op(case, check)


def test_affine_grid_then_grid_sample_rotation():
    angle = 0.3
    theta = np.array([[[np.cos(angle), -np.sin(angle), 0.1], [np.sin(angle), np.cos(angle), 0]]])
    x = rand(1, 2, 5, 6)

    def run(lib, F_, t, img):
        grid = F_.affine_grid(t, (1, 2, 5, 6), align_corners=False)
        return F_.grid_sample(img, grid, align_corners=False)

    d_t, d_x = dl.tensor(theta, requires_grad=True), dl.tensor(x, requires_grad=True)
    t_t, t_x = torch.tensor(theta, requires_grad=True), torch.tensor(x, requires_grad=True)
    d_out, t_out = run(dl, F, d_t, d_x), run(torch, TF, t_t, t_x)
    np.testing.assert_allclose(d_out.numpy(), t_out.detach().numpy(), rtol=1e-10, atol=1e-12)
    d_out.sum().backward()
    t_out.sum().backward()
    np.testing.assert_allclose(d_t.grad.numpy(), t_t.grad.numpy(), rtol=1e-9)
    np.testing.assert_allclose(d_x.grad.numpy(), t_x.grad.numpy(), rtol=1e-9)


def test_grid_sample_identity_grid_reproduces_the_input():
    x = dl.tensor(rand(1, 2, 3, 4))
    grid = F.affine_grid(dl.tensor(np.array([[[1.0, 0, 0], [0, 1, 0]]])), (1, 2, 3, 4),
                         align_corners=True)
    np.testing.assert_allclose(F.grid_sample(x, grid, align_corners=True).numpy(), x.numpy(),
                               atol=1e-12)


def test_align_corners_none_warns_like_torch():
    with pytest.warns(UserWarning, match="align_corners"):
        F.grid_sample(dl.randn(1, 1, 2, 2), dl.zeros(1, 1, 1, 2))


@pytest.mark.parametrize("call,error,message", [
    (lambda: F.grid_sample(dl.randn(1, 1, 2, 2), dl.zeros(1, 1, 1, 3), align_corners=False),
     ValueError, r"grid of shape \(N, \*output_size, 2\)"),
    (lambda: F.grid_sample(dl.randn(1, 1, 2, 2), dl.zeros(1, 1, 1, 2), mode="bicubic",
                           align_corners=False), ValueError, "mode 'bicubic'"),
    (lambda: F.grid_sample(dl.randn(1, 1, 2, 2), dl.zeros(1, 1, 1, 2, dtype=dl.float64),
                           align_corners=False), TypeError, "same dtype"),
    (lambda: F.affine_grid(dl.zeros(2, 2, 3), (1, 1, 2, 2), align_corners=False),
     ValueError, r"expected theta of shape \(1, 2, 3\)"),
    (lambda: F.pixel_shuffle(dl.zeros(1, 5, 2, 2), 2), ValueError, "divisible by"),
    (lambda: F.pixel_unshuffle(dl.zeros(1, 1, 3, 2), 2), ValueError, "divisible by"),
    (lambda: F.pixel_shuffle(dl.zeros(4, 2), 2), ValueError, "at least 3 dims"),
])
def test_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_pixel_shuffle_modules():
    x = rand(2, 8, 4, 2)
    for d, t in ((nn.PixelShuffle(2), tnn.PixelShuffle(2)),
                 (nn.PixelUnshuffle(2), tnn.PixelUnshuffle(2))):
        assert repr(d) == repr(t)
        np.testing.assert_array_equal(d(dl.tensor(x)).numpy(), t(torch.tensor(x)).numpy())
    back = nn.PixelUnshuffle(2)(nn.PixelShuffle(2)(dl.tensor(x)))
    np.testing.assert_array_equal(back.numpy(), x)
