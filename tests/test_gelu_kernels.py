"""The fused loop of float32 GELU (deltaflow.ops.gelu_kernels, compiled by Numba) gives bit
for bit the output and derivative of the NumPy passes, in C and F order and a
convolution output's permuted layout, at the edges (±0,
±Inf, NaN, huge |z|) too; small, float64 or strided arrays take the NumPy passes."""
from __future__ import annotations

import numpy as np
import pytest

from deltaflow.ops import gelu_kernels
from deltaflow.ops.activation import gelu_and_slope
from opcheck import in_layout

pytest.importorskip("numba")


@pytest.mark.parametrize("order", ["C", "F", "K"])
def test_fused_gelu_and_slope_are_bitwise_the_numpy_passes(order, set_jit):
    rng = np.random.default_rng(0)
    z = (rng.standard_normal((16, 16, 200)) * 4).astype(np.float32)
    z[0, 0, :8] = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30, 1e-40]
    z = in_layout(z, order)
    set_jit(True)
    assert gelu_kernels.pick(z).compiled
    with np.errstate(over="ignore", invalid="ignore"):
        fused = gelu_and_slope(z)
        set_jit(False)
        passes = gelu_and_slope(z)
    for a, b in zip(fused, passes):
        assert a.dtype == b.dtype == np.float32 and a.shape == z.shape
        np.testing.assert_array_equal(a.view(np.uint32), b.view(np.uint32))


def test_fused_gelu_applies_only_to_large_contiguous_float32(set_jit):
    set_jit(True)
    big = np.zeros((256, 200), np.float32)
    assert gelu_kernels.pick(big).compiled
    assert gelu_kernels.pick(big.T).compiled
    assert not gelu_kernels.pick(big[:, ::2]).compiled
    assert not gelu_kernels.pick(big.astype(np.float64)).compiled
    assert not gelu_kernels.pick(np.zeros(100, np.float32)).compiled


def _gelu_grad(z, g, enabled, set_jit):
    import deltaflow as dl
    set_jit(enabled)
    x = dl.tensor(z, requires_grad=True)
    with np.errstate(over="ignore", invalid="ignore"):
        dl.gelu(x).backward(dl.tensor(g))
    return x.grad.numpy()


@pytest.mark.parametrize("order", ["C", "F", "K"])
def test_fused_gelu_backward_is_bitwise_the_numpy_passes(order, set_jit):
    rng = np.random.default_rng(1)
    z = (rng.standard_normal((16, 16, 200)) * 4).astype(np.float32)
    g = rng.standard_normal((16, 16, 200)).astype(np.float32)
    z[0, 0, :3] = [np.nan, np.inf, -0.0]
    g[0, 1, :2] = [np.inf, np.nan]
    z, g = in_layout(z, order), in_layout(g, order)
    fused, passes = (_gelu_grad(z, g, e, set_jit) for e in (True, False))
    np.testing.assert_array_equal(fused.view(np.uint32), passes.view(np.uint32))


@pytest.mark.parametrize("order", ["C", "F", "K"])
def test_compiled_half_square_is_bitwise_the_passes(order, set_jit):
    z = (np.random.default_rng(2).standard_normal((16, 16, 200)) * 4).astype(np.float32)
    z[0, 0, :6] = [np.nan, np.inf, -np.inf, -0.0, 1e30, 1e-40]
    z = in_layout(z, order)
    set_jit(True)
    compiled = gelu_kernels.pick(z)
    set_jit(False)
    passes = gelu_kernels.pick(z)
    assert compiled.compiled and not passes.compiled
    with np.errstate(over="ignore"):
        got, want = compiled.half_square(z), passes.half_square(z)
    assert got.strides == z.strides
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))
