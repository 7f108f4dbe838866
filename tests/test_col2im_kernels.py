"""col2im's compiled loop (deltaflow.ops.col2im_kernels) gives bit for bit the image of the
NumPy passes for every geometry (stride, dilation, kernel shape, an image larger than the
windows cover), NaN and ±Inf included, and so do the ops built on it (a convolution's ∂L/∂x,
a transposed convolution, fold); small or strided columns take the passes."""
from __future__ import annotations

import numpy as np
import pytest

import deltaflow as dl
from deltaflow.ops import col2im_kernels
from deltaflow.ops.conv import col2im, out_size

pytest.importorskip("numba")

GEOMETRIES = [((3, 3), (1, 1), (1, 1)), ((3, 3), (2, 2), (1, 1)), ((3, 3), (1, 1), (2, 2)),
              ((5, 1), (2, 1), (1, 3)), ((2, 2), (2, 2), (1, 1))]


@pytest.mark.parametrize("kernel, stride, dilation", GEOMETRIES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_col2im_is_bitwise_the_passes(kernel, stride, dilation, dtype, set_jit):
    rng = np.random.default_rng(0)
    C, N, padded_hw = 12, 16, (17, 16)
    Ho, Wo = (out_size(n, k, s, 0, 0, d) for n, k, s, d in zip(padded_hw, kernel, stride,
                                                                 dilation))
    cols = rng.standard_normal((C,) + kernel + (Ho, Wo, N)).astype(dtype)
    cols[0, 0, 0, 0, 0, :3] = [np.nan, np.inf, -np.inf]
    cols[1, -1, -1, -1, -1, 0] = -0.0
    image_hw = (padded_hw[0] + 1, padded_hw[1] + 2)      # rows/columns no window covers
    set_jit(True)
    assert col2im_kernels.pick(cols).compiled
    compiled = col2im(cols, image_hw, stride, dilation)
    set_jit(False)
    passes = col2im(cols, image_hw, stride, dilation)
    assert compiled.shape == passes.shape == (C,) + image_hw + (N,)
    assert compiled.dtype == dtype
    np.testing.assert_array_equal(compiled.view(np.uint8), passes.view(np.uint8))


def _grads(enabled, set_jit, fn, *arrays):
    set_jit(enabled)
    tensors = [dl.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*tensors)
    out.backward(dl.tensor(np.random.default_rng(1).standard_normal(out.shape)
                           .astype(arrays[0].dtype)))
    return [out.numpy()] + [t.grad.numpy() for t in tensors]


OPS = {
    "conv2d": (lambda x, w: dl.nn.functional.conv2d(x, w, padding=1), (8, 4, 14, 14),
               (8, 4, 3, 3)),
    "conv2d strided": (lambda x, w: dl.nn.functional.conv2d(x, w, stride=2, dilation=2),
                       (8, 4, 15, 15), (6, 4, 3, 3)),
    "conv_transpose2d": (lambda x, w: dl.nn.functional.conv_transpose2d(x, w, stride=2),
                         (8, 6, 14, 14), (6, 4, 3, 3)),
    "fold": (lambda x: dl.nn.functional.fold(x, (14, 14), 3, padding=1), (8, 36, 196)),
}


@pytest.mark.parametrize("name", OPS)
def test_ops_over_col2im_are_bitwise_the_passes(name, set_jit):
    fn, *shapes = OPS[name]
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    compiled = _grads(True, set_jit, fn, *arrays)
    passes = _grads(False, set_jit, fn, *arrays)
    for a, b in zip(compiled, passes):
        np.testing.assert_array_equal(a, b)


def test_compiled_col2im_applies_only_to_large_c_ordered_columns(set_jit):
    set_jit(True)
    cols = np.zeros((8, 3, 3, 16, 16, 8), np.float32)
    assert col2im_kernels.pick(cols).compiled
    assert not col2im_kernels.pick(cols[..., ::2]).compiled
    assert not col2im_kernels.pick(np.zeros((1, 3, 3, 4, 4, 2), np.float32)).compiled
    set_jit(False)
    assert not col2im_kernels.pick(cols).compiled
