"""ReLU's compiled forward and backward loops (deltaflow.ops.relu_kernels, Numba) give
exactly the output and gradient of the NumPy passes and of PyTorch, NaN, ±0 and ±Inf
included, in C and F layouts and a convolution output's permuted layout (the output keeps
the input's layout); small or mixed-layout arrays take the NumPy passes."""
from __future__ import annotations

import numpy as np
import pytest

import deltaflow as dl
from deltaflow.ops import relu_kernels
from opcheck import in_layout

pytest.importorskip("numba")

SHAPE = (16, 10, 16, 16)             # 40 960 elements: above relu_kernels.MIN_SIZE


def _inputs(dtype, order):
    rng = np.random.default_rng(0)
    z = rng.standard_normal(SHAPE).astype(dtype)
    g = rng.standard_normal(SHAPE).astype(dtype)
    z[0, 0, 0, :4] = [np.nan, 0.0, -0.0, np.inf]      # NaN passes g, 0 and -0 block it
    g[0, 0, 1, :3] = [np.inf, -np.inf, np.nan]
    z[0, 0, 1, :3] = [-1.0, 2.0, -3.0]                 # Inf where blocked: 0, not NaN
    return in_layout(z, order), in_layout(g, order)


def _relu_grad(z, g, enabled, set_jit):
    set_jit(enabled)
    x = dl.tensor(z, requires_grad=True)
    dl.nn.functional.relu(x).backward(dl.tensor(g))
    return x.grad.numpy()


@pytest.mark.parametrize("order", ["C", "F", "K"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_relu_backward_equals_numpy_passes(dtype, order, set_jit):
    z, g = _inputs(dtype, order)
    fused = _relu_grad(z, g, True, set_jit)
    assert relu_kernels.pick(g, np.maximum(z, 0)).compiled
    passes = _relu_grad(z, g, False, set_jit)
    np.testing.assert_array_equal(fused, passes)
    assert fused[0, 0, 0, 0] == g[0, 0, 0, 0] and fused[0, 0, 0, 1] == 0
    assert fused[0, 0, 1, 0] == 0


@pytest.mark.parametrize("order", ["C", "F", "K"])
def test_fused_relu_backward_equals_torch(order, set_jit):
    torch = pytest.importorskip("torch")
    z, g = _inputs(np.float64, order)
    zt = torch.tensor(z, requires_grad=True)
    torch.relu(zt).backward(torch.tensor(g))
    np.testing.assert_array_equal(_relu_grad(z, g, True, set_jit), zt.grad.numpy())


def test_fused_relu_applies_only_to_large_arrays_of_one_layout(set_jit):
    set_jit(True)
    a = np.zeros(SHAPE, np.float32)
    assert relu_kernels.pick(a, a).compiled
    assert relu_kernels.pick(a.T, a.T).compiled                          # both F-ordered
    k = in_layout(a, "K")
    assert relu_kernels.pick(k, np.empty_like(k)).compiled               # one permutation
    assert not relu_kernels.pick(k, np.ascontiguousarray(k)).compiled
    assert not relu_kernels.pick(a, np.asfortranarray(a)).compiled
    assert not relu_kernels.pick(a[:, ::2], a[:, ::2]).compiled
    small = np.zeros(100, np.float32)
    assert not relu_kernels.pick(small, small).compiled
    batch1 = np.zeros((1, 32, 28, 28), np.float32)        # a batch-1 convolution's output
    assert relu_kernels.pick(batch1, batch1).compiled
    set_jit(False)
    assert not relu_kernels.pick(a, a).compiled


@pytest.mark.parametrize("order", ["C", "F", "K"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_relu_forward_equals_numpy_maximum(dtype, order, set_jit):
    z, _ = _inputs(dtype, order)
    set_jit(True)
    kernels = relu_kernels.pick(z)
    assert kernels.compiled
    out = kernels.forward(z)
    want = np.maximum(z, 0)
    assert out.strides == z.strides                        # the input's layout
    assert out.tobytes(order="A") == in_layout(want, order).tobytes(order="A")  # bitwise
    assert np.isnan(out[0, 0, 0, 0]) and np.signbit(out[0, 0, 0, 2]) == np.signbit(want[0, 0, 0, 2])
    set_jit(False)
    assert dl.nn.functional.relu(dl.tensor(z)).numpy().tobytes() == want.tobytes()


def test_compiled_relu_forward_equals_torch(set_jit):
    torch = pytest.importorskip("torch")
    z, _ = _inputs(np.float32, "C")
    set_jit(True)
    got = dl.nn.functional.relu(dl.tensor(z)).numpy()
    want = torch.relu(torch.tensor(z)).numpy()
    np.testing.assert_array_equal(got, want)               # -0 == +0: PyTorch keeps -0
