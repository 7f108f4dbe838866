"""ufunc_methods: the data-parallel scans that stand in for the ufunc methods CuPy lacks
(run here on NumPy arrays) equal NumPy's own accumulate / at / fancy assignment."""
import numpy as np
import pytest

from deltaflow.ufunc_methods import doubling_scan, last_writes, segmented_reduce_at

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("name", ["maximum", "minimum", "logaddexp"])
@pytest.mark.parametrize("shape,axis", [((1,), 0), ((7,), 0), ((3, 9), 1), ((17, 2, 3), 0),
                                        ((2, 33, 4), 1), ((4, 0), 1)])
def test_doubling_scan_equals_accumulate(name, shape, axis):
    a = RNG.standard_normal(shape)
    ufunc = getattr(np, name)
    got = doubling_scan(np, ufunc, a, axis)
    want = ufunc.accumulate(a, axis=axis)
    if name == "logaddexp":        # another order of the same additions: rounding apart
        np.testing.assert_allclose(got, want, rtol=1e-14, atol=0)
    else:
        assert got.tobytes() == want.tobytes()


def test_doubling_scan_keeps_nan_and_ints():
    a = np.array([1.0, np.nan, 3.0, 0.5, 4.0])
    np.testing.assert_array_equal(doubling_scan(np, np.maximum, a, 0),
                                  np.maximum.accumulate(a))
    ints = RNG.integers(-50, 50, (5, 6))
    assert (doubling_scan(np, np.minimum, ints, 1) == np.minimum.accumulate(ints, 1)).all()
    assert doubling_scan(np, np.maximum, np.array(2.0), 0) == 2.0


@pytest.mark.parametrize("name", ["maximum", "minimum", "multiply", "add"])
@pytest.mark.parametrize("n_values", [0, 1, 5, 40])
def test_segmented_reduce_at_equals_ufunc_at(name, n_values):
    ufunc = getattr(np, name)
    index = RNG.integers(0, 6, n_values)
    for values, out in [(RNG.standard_normal(n_values), RNG.standard_normal(6)),
                        (RNG.standard_normal((n_values, 3)), RNG.standard_normal((6, 3)))]:
        want = out.copy()
        ufunc.at(want, index, values)
        got = out.copy()
        segmented_reduce_at(np, ufunc, got, index, values)
        np.testing.assert_allclose(got, want, rtol=1e-14, atol=0)   # products/sums: order


def test_segmented_reduce_at_is_exact_for_extremes_and_nan():
    out = np.zeros(4)
    index = np.array([0, 2, 0, 2, 3, 0])
    values = np.array([1.5, -1.0, np.nan, -2.0, 7.0, 3.0])
    want = out.copy()
    with np.errstate(invalid="ignore"):
        np.maximum.at(want, index, values)
        segmented_reduce_at(np, np.maximum, out, index, values)
    np.testing.assert_array_equal(out, want)


def test_last_writes_lets_the_last_repeated_write_win():
    index = np.array([3, 1, 3, 0, 1, 3])
    values = np.arange(6.0) * 10
    want = np.full(5, -1.0)
    want[index] = values                      # NumPy: the last write wins
    got = np.full(5, -1.0)
    last_writes(np, got, index, values)
    np.testing.assert_array_equal(got, want)
    rows = np.full((5, 2), -1.0)
    last_writes(np, rows, index, 7.0)         # a broadcast value
    assert (rows[[0, 1, 3]] == 7).all() and (rows[[2, 4]] == -1).all()
