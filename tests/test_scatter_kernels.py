"""The compiled scatter of rows (deltaflow.ops.scatter_kernels) sums sequentially where the
NumPy passes (sort, gather, add.reduceat) sum pairwise: both agree with the float64 sums
within |Δ| ≤ 2·n·u·Σ|rows| (n the rows added into an output row, u the unit round-off),
with repeated and unused indices, NaN and ±Inf in the same places, rows of any trailing
shape, indices in order or not; so do the ops built on it (an embedding's gradient, an
embedding bag's forward and gradient) against each other; small arrays and non-integer
indices take the passes."""
from __future__ import annotations

import numpy as np
import pytest

import deltaflow as dl
from deltaflow.ops import scatter_kernels
from deltaflow.ops.embedding import scatter_rows

pytest.importorskip("numba")


@pytest.mark.parametrize("ordered", [False, True])
@pytest.mark.parametrize("trailing", [(128,), (4, 9)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_and_passes_scatter_within_the_bound(dtype, trailing, ordered, set_jit):
    rng = np.random.default_rng(0)
    n_rows, k = 70, 2048
    index = rng.integers(0, 65, k)                   # rows 65..69 receive nothing
    if ordered:
        index.sort()
    rows = rng.standard_normal((k,) + trailing).astype(dtype)
    first, second = np.flatnonzero(index == 4)[:2]
    rows[first], rows[second] = np.inf, -np.inf      # Inf − Inf: NaN
    rows[np.flatnonzero(index == 5)[0]] = np.nan
    set_jit(True)
    assert scatter_kernels.pick(rows, index).compiled
    with np.errstate(invalid="ignore"):
        compiled = scatter_rows(index, rows, n_rows, ordered)
        set_jit(False)
        passes = scatter_rows(index, rows, n_rows, ordered)
    assert compiled.shape == passes.shape == (n_rows,) + trailing
    assert compiled.dtype == dtype and not compiled[65:].any()
    np.testing.assert_array_equal(np.isnan(compiled), np.isnan(passes))
    finite = ~np.isin(np.arange(n_rows), [4, 5])
    exact = np.zeros((n_rows,) + trailing)
    magnitude = np.zeros((n_rows,) + trailing)
    with np.errstate(invalid="ignore"):
        np.add.at(exact, index, rows.astype(np.float64))
        np.add.at(magnitude, index, np.abs(rows.astype(np.float64)))
    n = np.bincount(index, minlength=n_rows).reshape((n_rows,) + (1,) * len(trailing))
    bound = 2 * n * np.finfo(dtype).eps / 2 * magnitude
    for got in (compiled, passes):
        with np.errstate(invalid="ignore"):
            assert (np.abs(got[finite] - exact[finite]) <= bound[finite]).all()


def _grads(enabled, set_jit, fn, weight):
    set_jit(enabled)
    w = dl.tensor(weight, requires_grad=True)
    out = fn(w)
    out.backward(dl.tensor(np.random.default_rng(1).standard_normal(out.shape)
                           .astype(weight.dtype)))
    return out.numpy(), w.grad.numpy()


INDEX = np.random.default_rng(2).integers(0, 65, (32, 64))
OPS = {
    "embedding": lambda w: dl.nn.functional.embedding(dl.tensor(INDEX), w),
    "embedding_bag sum": lambda w: dl.nn.functional.embedding_bag(dl.tensor(INDEX), w,
                                                                  mode="sum"),
    "embedding_bag mean": lambda w: dl.nn.functional.embedding_bag(dl.tensor(INDEX), w,
                                                                   mode="mean"),
}


@pytest.mark.parametrize("name", OPS)
def test_ops_over_the_scatter_agree_with_the_passes(name, set_jit):
    weight = np.random.default_rng(3).standard_normal((65, 128)).astype(np.float32)
    for a, b in zip(_grads(True, set_jit, OPS[name], weight),
                    _grads(False, set_jit, OPS[name], weight)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=64 * 2 * np.finfo(np.float32).eps)


def test_compiled_scatter_applies_to_large_c_ordered_rows_with_integer_indices(set_jit):
    set_jit(True)
    rows, index = np.zeros((2048, 128), np.float32), np.zeros(2048, np.int64)
    assert scatter_kernels.pick(rows, index).compiled
    assert scatter_kernels.pick(rows, index.astype(np.int32)).compiled
    assert not scatter_kernels.pick(rows, index.astype(np.float64)).compiled
    assert not scatter_kernels.pick(rows[:, ::2], index).compiled
    assert not scatter_kernels.pick(rows[:10], index[:10]).compiled
    set_jit(False)
    assert not scatter_kernels.pick(rows, index).compiled
