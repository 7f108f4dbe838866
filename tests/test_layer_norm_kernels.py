"""LayerNorm's fused loops (deltaflow.ops.layer_norm_kernels, compiled by Numba) give bit
for bit the output and gradients of the NumPy passes; non-contiguous inputs or gradients,
a norm without γ/β, and small inputs take the NumPy passes."""
from __future__ import annotations

import numpy as np
import pytest

import deltaflow as dl
from deltaflow.ops import layer_norm_kernels

pytest.importorskip("numba")


def _layer_norm(x, g, enabled, set_jit, shape=(128,), affine=True):
    set_jit(enabled)
    dl.manual_seed(0)
    norm = dl.nn.LayerNorm(shape, elementwise_affine=affine, dtype=x.dtype)
    if affine:
        rng = np.random.default_rng(2)
        norm.weight.data[...] = rng.standard_normal(norm.weight.shape).astype(x.dtype)
        norm.bias.data[...] = rng.standard_normal(norm.bias.shape).astype(x.dtype)
    xt = dl.tensor(x, requires_grad=True)
    y = norm(xt)
    y.backward(dl.tensor(g))
    grads = [xt.grad.numpy()] + ([norm.weight.grad.numpy(), norm.bias.grad.numpy()]
                                 if affine else [])
    return [y.numpy()] + grads


def _bits(a):
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(128,), (8, 16)])
def test_fused_layer_norm_is_bitwise_the_numpy_passes(dtype, shape, set_jit):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((16, 20) + shape) * 3 + 1).astype(dtype)   # 40 960 values
    g = rng.standard_normal(x.shape).astype(dtype)
    fused = _layer_norm(x, g, True, set_jit, shape)
    assert layer_norm_kernels.pick(x.reshape(-1, 128), ()).compiled
    passes = _layer_norm(x, g, False, set_jit, shape)
    assert len(fused) == len(passes) == 4
    for a, b in zip(fused, passes):
        np.testing.assert_array_equal(_bits(a), _bits(b))


def test_fused_layer_norm_matches_torch(set_jit):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((320, 128))
    g = rng.standard_normal(x.shape)
    y, gx, gw, gb = _layer_norm(x, g, True, set_jit)
    norm = torch.nn.LayerNorm(128, dtype=torch.float64)
    rng = np.random.default_rng(2)
    with torch.no_grad():
        norm.weight.copy_(torch.tensor(rng.standard_normal(128)))
        norm.bias.copy_(torch.tensor(rng.standard_normal(128)))
    xt = torch.tensor(x, requires_grad=True)
    yt = norm(xt)
    yt.backward(torch.tensor(g))
    for ours, theirs in ((y, yt), (gx, xt.grad), (gw, norm.weight.grad), (gb, norm.bias.grad)):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-10, atol=1e-10)


def test_fused_layer_norm_applies_only_to_large_c_ordered_rows(set_jit):
    set_jit(True)
    a = np.zeros((320, 128), np.float32)
    w = b = np.ones(128, np.float32)
    assert layer_norm_kernels.pick(a, (w, b), a).compiled
    assert not layer_norm_kernels.pick(a, (w, None)).compiled           # the loops need β
    assert not layer_norm_kernels.pick(np.asfortranarray(a), (w, b)).compiled
    assert not layer_norm_kernels.pick(a, (w, b), np.asfortranarray(a)).compiled
    assert not layer_norm_kernels.pick(a[:, ::2], (w, b)).compiled
    assert not layer_norm_kernels.pick(np.zeros((4, 128), np.float32), (w, b)).compiled


def test_layer_norm_without_affine_takes_the_numpy_path(set_jit):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((320, 128)).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    on = _layer_norm(x, g, True, set_jit, affine=False)
    off = _layer_norm(x, g, False, set_jit, affine=False)
    for a, b in zip(on, off):
        np.testing.assert_array_equal(a, b)
