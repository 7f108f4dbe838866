"""deltaflow.sums: row and leading-axis sums as products with a vector of ones equal the
exact (float64) sums within the float32 bound n·u·Σ|a| (u = 2⁻²⁴, n the number of terms),
in every layout (C, F, strided), for integer and empty arrays (NumPy's own sum), and keep
the shapes of ``sum(axis=…)``."""
from __future__ import annotations

import numpy as np
import pytest

from deltaflow.sums import leading_sums, row_sums

U32 = 2.0 ** -24


def _within_bound(got, a, axis, keepdims=False):
    exact = a.astype(np.float64).sum(axis=axis, keepdims=keepdims)
    terms = np.prod([a.shape[i] for i in np.atleast_1d(axis)])
    bound = terms * U32 * np.abs(a.astype(np.float64)).sum(axis=axis, keepdims=keepdims)
    assert got.shape == exact.shape and got.dtype == a.dtype
    assert (np.abs(got - exact) <= bound).all()


LAYOUTS = {"C": lambda a: a, "F": np.asfortranarray, "strided": lambda a: a[::2]}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape", [(2048, 384), (7, 5), (1, 9), (64, 1)])
def test_leading_sums_of_a_matrix(shape, layout):
    a = LAYOUTS[layout](np.random.default_rng(0).standard_normal(shape).astype(np.float32))
    _within_bound(leading_sums(a), a, 0)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("n", [1, 2, 3])
def test_leading_sums_over_several_axes(n, layout):
    a = LAYOUTS[layout](np.random.default_rng(1).standard_normal((32, 6, 4, 5)).astype(np.float32))
    _within_bound(leading_sums(a, n), a, tuple(range(n)))


def test_leading_sums_of_every_axis_is_a_0d_sum():
    a = np.random.default_rng(2).standard_normal((4, 3)).astype(np.float32)
    got = leading_sums(a, 2)
    assert got.shape == ()
    _within_bound(got, a, (0, 1))
    assert leading_sums(a, 0) is a


@pytest.mark.parametrize("layout", LAYOUTS)
def test_row_sums(layout):
    a = LAYOUTS[layout](np.random.default_rng(3).standard_normal((16, 4, 64)).astype(np.float32))
    _within_bound(row_sums(a), a, -1, keepdims=True)


def test_integer_and_empty_arrays_use_numpy_sums():
    ints = np.arange(24).reshape(2, 3, 4)
    np.testing.assert_array_equal(leading_sums(ints, 2), ints.sum(axis=(0, 1)))
    np.testing.assert_array_equal(row_sums(ints), ints.sum(axis=-1, keepdims=True))
    for empty in (np.zeros((0, 3), np.float32), np.zeros((3, 0), np.float32)):
        np.testing.assert_array_equal(leading_sums(empty), empty.sum(axis=0))
        np.testing.assert_array_equal(row_sums(empty), empty.sum(axis=-1, keepdims=True))


def test_float64_keeps_float64_precision():
    a = np.random.default_rng(4).standard_normal((1000, 7))
    np.testing.assert_allclose(leading_sums(a), a.sum(axis=0), rtol=1e-12, atol=1e-12)
