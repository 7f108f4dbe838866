"""Random in-place fills (``uniform_ normal_ exponential_ bernoulli_``), ``dl.bernoulli`` and
``dl.multinomial``: shapes, dtypes, ranges, statistics, seeded repeatability, torch's errors."""
from __future__ import annotations

import numpy as np
import pytest

import deltaflow as dl
from opcheck import torch

N = 20_000

DRAWS = {
    "uniform_": lambda: dl.empty(3, 4).uniform_(-2, 5),
    "normal_": lambda: dl.empty(5, dtype=dl.float64).normal_(1, 3),
    "exponential_": lambda: dl.empty(6).exponential_(2.0),
    "bernoulli_": lambda: dl.empty(7).bernoulli_(0.3),
    "bernoulli_tensor_p": lambda: dl.zeros(2, 3).bernoulli_(dl.rand(3)),
    "bernoulli": lambda: dl.bernoulli(dl.rand(8)),
    "bernoulli_p": lambda: dl.bernoulli(dl.ones(8), 0.5),
    "multinomial": lambda: dl.multinomial(dl.rand(2, 10), 4),
    "multinomial_replacement": lambda: dl.multinomial(dl.rand(10), 20, replacement=True),
}


@pytest.mark.parametrize("name", list(DRAWS))
def test_manual_seed_makes_draws_repeatable(name):
    dl.manual_seed(99)
    first = [DRAWS[name]().numpy().copy() for _ in range(3)]
    dl.manual_seed(99)
    second = [DRAWS[name]().numpy().copy() for _ in range(3)]
    assert all(a.tobytes() == b.tobytes() for a, b in zip(first, second))
    assert any(a.tobytes() != first[0].tobytes() for a in first[1:])


@pytest.mark.parametrize("name", ["uniform_", "normal_", "exponential_", "bernoulli_"])
def test_a_numpy_generator_may_be_given(name):
    draw = [getattr(dl.zeros(50), name)(generator=np.random.default_rng(5)).numpy()
            for _ in range(2)]
    assert draw[0].tobytes() == draw[1].tobytes()


def test_fills_write_in_place_with_the_tensors_dtype_and_statistics():
    dl.manual_seed(0)
    x = dl.zeros(N, dtype=dl.float64)
    assert x.uniform_(-2, 5) is x and x.dtype == dl.float64
    assert -2 <= x.min().item() and x.max().item() < 5 and abs(x.mean().item() - 1.5) < 0.05
    assert abs(x.var().item() - 49 / 12) < 0.15
    u = dl.zeros(N).uniform_()
    assert u.dtype == dl.float32 and 0 <= u.min().item() and u.max().item() < 1
    n = dl.zeros(N, dtype=dl.float64).normal_(1.0, 3.0)
    assert abs(n.mean().item() - 1) < 0.1 and abs(n.std().item() - 3) < 0.1
    assert dl.zeros(4).normal_(2.0, 0.0).tolist() == [2.0] * 4
    e = dl.zeros(N, dtype=dl.float64).exponential_(4.0)
    assert e.min().item() >= 0 and abs(e.mean().item() - 0.25) < 0.01
    assert abs(e.std().item() - 0.25) < 0.01
    b = dl.zeros(N).bernoulli_(0.3)
    assert set(np.unique(b.numpy())) <= {0.0, 1.0} and abs(b.mean().item() - 0.3) < 0.02
    assert dl.zeros(3).bernoulli_(0.0).tolist() == [0, 0, 0]
    assert dl.zeros(3).bernoulli_(1).tolist() == [1, 1, 1]


def test_bernoulli_fill_takes_any_dtype_and_a_tensor_of_probabilities():
    assert dl.zeros(5, dtype=dl.int64).bernoulli_(0.5).dtype == dl.int64
    assert dl.zeros(5, dtype=dl.bool).bernoulli_(0.5).dtype == dl.bool
    b = dl.zeros(N, 2).bernoulli_(dl.tensor([0.0, 1.0]))
    assert b[:, 0].sum().item() == 0 and b[:, 1].sum().item() == N
    with pytest.raises(RuntimeError, match="bernoulli_: p of shape \\(3,\\) cannot be broadcast"):
        dl.zeros(2, 2).bernoulli_(dl.rand(3))


def test_fills_keep_the_version_clock_and_refuse_leaves_that_require_grad():
    x = dl.zeros(3)
    before = x._version
    x.normal_()
    assert x._version > before
    w = dl.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="uniform_: a leaf tensor that requires grad"):
        w.uniform_()
    with dl.no_grad():
        w.uniform_(1, 2)                                 # initialisation
    assert 1 <= w.min().item() and w.requires_grad


@pytest.mark.parametrize("call, error, message", [
    (lambda: dl.zeros(3, dtype=dl.int64).uniform_(), TypeError,
     "uniform_: expected a floating point dtype, got int64"),
    (lambda: dl.zeros(3, dtype=dl.int64).normal_(), TypeError, "normal_: expected a floating"),
    (lambda: dl.zeros(3, dtype=dl.int64).exponential_(), TypeError, "exponential_: expected"),
    (lambda: dl.zeros(3).uniform_(2, 1), RuntimeError, "uniform_: expects a <= b"),
    (lambda: dl.zeros(3).normal_(0, -1), RuntimeError, "normal_: expects std >= 0.0, got std=-1"),
    (lambda: dl.zeros(3).exponential_(0), RuntimeError,
     "exponential_: expects lambda > 0.0, got lambda=0"),
    (lambda: dl.zeros(3).bernoulli_(1.5), RuntimeError,
     "bernoulli_: expects p to be in \\[0, 1\\], got p=1.5"),
    (lambda: dl.zeros(3).bernoulli_(dl.tensor([0.5, 2.0, 0.1])), RuntimeError,
     "bernoulli_: expects every probability to be in \\[0, 1\\], got values from 0.1 to 2"),
])
def test_fill_errors_name_the_method(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ----------------------------------------------------------------------- dl.bernoulli
def test_bernoulli_draws_with_the_given_probabilities():
    dl.manual_seed(1)
    p = dl.tensor([0.0, 0.2, 0.9, 1.0], dtype=dl.float64).reshape(4, 1).expand(4, N // 4)
    b = dl.bernoulli(p)
    assert b.shape == p.shape and b.dtype == dl.float64
    np.testing.assert_allclose(b.mean(1).numpy(), [0.0, 0.2, 0.9, 1.0], atol=0.03)
    assert b[0].sum().item() == 0 and b[3].sum().item() == N // 4
    q = dl.bernoulli(dl.zeros(N), 0.25)
    assert abs(q.mean().item() - 0.25) < 0.02
    assert not dl.bernoulli(dl.rand(3, requires_grad=True)).requires_grad


def test_bernoulli_errors():
    with pytest.raises(RuntimeError, match="bernoulli: expects every probability to be in"):
        dl.bernoulli(dl.tensor([0.5, 1.5]))
    with pytest.raises(TypeError, match="bernoulli: expected a floating point input"):
        dl.bernoulli(dl.ones(3, dtype=dl.int64))
    assert dl.bernoulli(dl.ones(3, dtype=dl.int64), 1.0).tolist() == [1, 1, 1]


# --------------------------------------------------------------------- dl.multinomial
def test_multinomial_without_replacement_gives_distinct_indices_in_weight_order():
    dl.manual_seed(2)
    w = dl.rand(50, 8) + 0.01
    s = dl.multinomial(w, 8)
    assert s.shape == (50, 8) and s.dtype == dl.int64
    assert all(sorted(row) == list(range(8)) for row in s.tolist())
    one = dl.multinomial(dl.tensor([1.0, 0.0, 3.0, 0.0]), 2)
    assert sorted(one.tolist()) == [0, 2]                  # zero weights are never drawn first
    assert dl.multinomial(dl.tensor([1.0, 0.0, 0.0]), 2).tolist()[0] == 0
    first = dl.multinomial(dl.tensor([1.0, 3.0]).expand(N, 2), 1)
    assert abs(first.float().mean().item() - 0.75) < 0.02  # P(first draw = 1) = 3/4


def test_multinomial_with_replacement_matches_the_distribution():
    dl.manual_seed(3)
    w = dl.tensor([[1.0, 0.0, 2.0, 7.0], [0.0, 0.0, 0.0, 5.0]], dtype=dl.float64)
    s = dl.multinomial(w, N, replacement=True)
    assert s.shape == (2, N) and s.dtype == dl.int64
    counts = np.stack([np.bincount(row, minlength=4) for row in s.numpy()]) / N
    np.testing.assert_allclose(counts[0], [0.1, 0.0, 0.2, 0.7], atol=0.015)
    assert counts[0, 1] == 0 and counts[1].tolist() == [0, 0, 0, 1]
    assert dl.multinomial(dl.tensor([0.0, 1.0, 0.0]), 10, True).tolist() == [1] * 10


@pytest.mark.parametrize("call, message", [
    (lambda: dl.multinomial(dl.ones(3), 4), "cannot sample n_sample > prob_dist.size\\(-1\\) "
                                            "samples without replacement \\(4 > 3\\)"),
    (lambda: dl.multinomial(dl.ones(2, 2, 2), 1), "prob_dist must be 1 or 2 dim, got 3 dims"),
    (lambda: dl.multinomial(dl.tensor([1.0, -1.0]), 1), "probability tensor contains either "
                                                        "`inf`, `nan` or element < 0"),
    (lambda: dl.multinomial(dl.tensor([1.0, float("nan")]), 1), "probability tensor"),
    (lambda: dl.multinomial(dl.tensor([[1.0, 1.0], [0.0, 0.0]]), 1),
     "invalid multinomial distribution \\(sum of probabilities <= 0\\)"),
    (lambda: dl.multinomial(dl.ones(3), 0), "cannot sample n_sample <= 0 samples"),
    (lambda: dl.multinomial(dl.ones(3, dtype=dl.int64), 1), "only floating point input"),
])
def test_multinomial_errors_like_torch(call, message):
    with pytest.raises(RuntimeError, match="multinomial: " + message):
        call()


@pytest.mark.skipif(torch is None, reason="PyTorch not installed")
def test_shapes_and_dtypes_match_torch():
    pairs = [
        (dl.multinomial(dl.rand(3, 5), 2), torch.multinomial(torch.rand(3, 5), 2)),
        (dl.multinomial(dl.rand(5), 7, True), torch.multinomial(torch.rand(5), 7, True)),
        (dl.bernoulli(dl.rand(2, 3, dtype=dl.float64)),
         torch.bernoulli(torch.rand(2, 3, dtype=torch.float64))),
        (dl.zeros(4, dtype=dl.int32).bernoulli_(0.5),
         torch.zeros(4, dtype=torch.int32).bernoulli_(0.5)),
        (dl.zeros(2, 2, dtype=dl.float64).exponential_(),
         torch.zeros(2, 2, dtype=torch.float64).exponential_()),
    ]
    for d, t in pairs:
        assert d.shape == tuple(t.shape) and str(d.dtype) == str(t.dtype).split(".")[1]
