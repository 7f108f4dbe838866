"""Max pooling's compiled 2 × 2 loops (deltaflow.ops.pool_kernels, Numba) give exactly the
outputs (with and without the arg-max), arg-maxes and gradients of the NumPy passes — NaN,
ties, ±0 and ±Inf included, odd sizes, ceil_mode, strided inputs, float32 and float64 —
and PyTorch's; other windows and small images take the passes."""
from __future__ import annotations

import numpy as np
import pytest

import deltaflow as dl
from deltaflow.ops import pool_kernels

pytest.importorskip("numba")

F = dl.nn.functional


def _image(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    x[0, 0, :2, :2] = [[np.nan, 1.0], [2.0, 3.0]]         # NaN first: y NaN, its k
    x[0, 0, :2, 2:4] = [[1.0, 2.0], [np.nan, 0.5]]        # NaN third
    x[0, 1, :2, :2] = [[5.0, 5.0], [5.0, 5.0]]            # all tied: the first
    x[0, 1, :2, 2:4] = [[-0.0, 0.0], [0.0, -0.0]]         # signed zeros
    x[0, 2, :2, :2] = [[-np.inf, -np.inf], [-np.inf, -np.inf]]
    x[1, 0, :2, :2] = [[1.0, 4.0], [4.0, 2.0]]            # tie across the two pairs
    return x


def _pool(x, g, enabled, set_jit, **kw):
    set_jit(enabled)
    t = dl.tensor(x, requires_grad=True)
    y, idx = F.max_pool2d(t, 2, return_indices=True, **kw)
    with np.errstate(invalid="ignore"):      # the passes: ∞·0 where g is ±∞
        y.backward(dl.tensor(g))
    with dl.no_grad():
        y_inference = F.max_pool2d(dl.tensor(x), 2, **kw).numpy()
    return y.numpy(), idx.numpy(), t.grad.numpy(), y_inference


def _same(a, b):
    """Bitwise equality (NaN == NaN, −0 ≠ +0)."""
    assert a.dtype == b.dtype and a.shape == b.shape
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    assert np.array_equal(a.view(np.uint8), b.view(np.uint8))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,ceil_mode", [((8, 16, 28, 28), False), ((8, 16, 15, 29), False),
                                             ((8, 16, 15, 29), True)])
def test_compiled_max_pool_equals_numpy_passes(dtype, shape, ceil_mode, set_jit):
    x = _image(shape, dtype)
    n, c, h, w = shape
    ho, wo = (-(-h // 2), -(-w // 2)) if ceil_mode else (h // 2, w // 2)
    g = np.random.default_rng(1).standard_normal((n, c, ho, wo)).astype(dtype)
    g[0, 3, 0, :3] = [np.inf, -np.inf, -0.0]
    set_jit(True)
    xb = np.ascontiguousarray(x.transpose(1, 2, 3, 0))
    assert pool_kernels.pick(xb, pool_kernels.TWO_BY_TWO).compiled
    fused = _pool(x, g, True, set_jit, ceil_mode=ceil_mode)
    passes = _pool(x, g, False, set_jit, ceil_mode=ceil_mode)
    for a, b in zip(fused, passes):
        _same(a, b)
    _same(fused[3], fused[0])                  # inference's max-only loop: training's y
    assert np.isnan(fused[0][0, 0, 0, 0]) and fused[1][0, 0, 0, 0] == 0
    assert fused[1][0, 1, 0, 0] == 0 and fused[1][1, 0, 0, 0] == 1     # x₁ = 4 ties x₂ = 4


def test_compiled_max_pool_on_a_strided_input(set_jit):
    x = _image((6, 12, 30, 28), np.float32)[:, ::2, 1:29]     # a view: odd strides
    g = np.random.default_rng(2).standard_normal((6, 6, 14, 14)).astype(np.float32)
    for a, b in zip(_pool(x, g, True, set_jit), _pool(x, g, False, set_jit)):
        _same(a, b)


def test_compiled_max_pool_equals_torch(set_jit):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 16, 28, 28))
    g = rng.standard_normal((8, 16, 14, 14))
    y, idx, gx, _ = _pool(x, g, True, set_jit)
    xt = torch.tensor(x, requires_grad=True)
    yt, it = torch.nn.functional.max_pool2d(xt, 2, return_indices=True)
    yt.backward(torch.tensor(g))
    np.testing.assert_array_equal(y, yt.detach().numpy())
    np.testing.assert_array_equal(idx, it.numpy())
    np.testing.assert_array_equal(gx, xt.grad.numpy())


def test_loops_apply_only_to_large_two_by_two_pooling(set_jit):
    set_jit(True)
    big = np.zeros((16, 28, 28, 8), np.float32)
    assert pool_kernels.pick(big, pool_kernels.TWO_BY_TWO).compiled
    assert not pool_kernels.pick(big, ((3, 3), (2, 2), (1, 1), (0, 0))).compiled
    assert not pool_kernels.pick(big, ((2, 2), (2, 2), (1, 1), (1, 1))).compiled
    assert not pool_kernels.pick(np.zeros((2, 8, 8, 2), np.float32),
                                 pool_kernels.TWO_BY_TWO).compiled
    set_jit(False)
    assert not pool_kernels.pick(big, pool_kernels.TWO_BY_TWO).compiled
