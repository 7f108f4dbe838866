"""The fused Φ/φ loop of float32 GELU (deltaflow.ops.normal_kernels, compiled by Numba)
gives bit for bit the numbers of the NumPy passes, in C and F order, at the edges (±0,
±Inf, NaN, huge |z|) too; small, float64 or strided arrays take the NumPy path."""
from __future__ import annotations

import numpy as np
import pytest

from deltaflow import jit
from deltaflow.ops import normal_kernels
from deltaflow.ops.activation import normal_cdf_pdf

pytest.importorskip("numba")


@pytest.mark.parametrize("order", ["C", "F"])
def test_fused_cdf_pdf_is_bitwise_the_numpy_passes(order, monkeypatch):
    rng = np.random.default_rng(0)
    z = (rng.standard_normal((256, 200)) * 4).astype(np.float32)
    z[0, :8] = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30, 1e-40]
    z = np.asarray(z, order=order)
    assert normal_kernels.for_array(z) is not None
    monkeypatch.setattr(jit, "ENABLED", True)
    with np.errstate(over="ignore"):
        fused = normal_cdf_pdf(z)
        monkeypatch.setattr(jit, "ENABLED", False)
        passes = normal_cdf_pdf(z)
    for a, b in zip(fused, passes):
        assert a.dtype == b.dtype == np.float32 and a.shape == z.shape
        np.testing.assert_array_equal(a.view(np.uint32), b.view(np.uint32))


def test_fused_cdf_pdf_applies_only_to_large_contiguous_float32(monkeypatch):
    monkeypatch.setattr(jit, "ENABLED", True)
    big = np.zeros((256, 200), np.float32)
    assert normal_kernels.for_array(big) is not None
    assert normal_kernels.for_array(big.T) is not None
    assert normal_kernels.for_array(big[:, ::2]) is None
    assert normal_kernels.for_array(big.astype(np.float64)) is None
    assert normal_kernels.for_array(np.zeros(100, np.float32)) is None


def _gelu_grad(z, g, enabled, monkeypatch):
    import deltaflow as dl
    monkeypatch.setattr(jit, "ENABLED", enabled)
    x = dl.tensor(z, requires_grad=True)
    with np.errstate(over="ignore", invalid="ignore"):
        dl.gelu(x).backward(dl.tensor(g))
    return x.grad.numpy()


@pytest.mark.parametrize("order", ["C", "F"])
def test_fused_gelu_backward_is_bitwise_the_numpy_passes(order, monkeypatch):
    rng = np.random.default_rng(1)
    z = np.asarray((rng.standard_normal((256, 200)) * 4).astype(np.float32), order=order)
    g = np.asarray(rng.standard_normal((256, 200)).astype(np.float32), order=order)
    z[0, :3] = [np.nan, np.inf, -0.0]
    g[1, :2] = [np.inf, np.nan]
    fused, passes = (_gelu_grad(z, g, e, monkeypatch) for e in (True, False))
    np.testing.assert_array_equal(fused.view(np.uint32), passes.view(np.uint32))


def test_fused_gelu_backward_needs_one_layout():
    z = np.zeros((256, 200), np.float32)
    assert normal_kernels.for_array(z, z, z) is not None
    assert normal_kernels.for_array(z, z, np.asfortranarray(z)) is None
    assert normal_kernels.for_array(z, z[:, :100]) is None
