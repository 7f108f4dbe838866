"""Creation functions and the seeded global generator."""
from __future__ import annotations

import numpy as np
import pytest

import deltaflow as dl
from opcheck import torch


def test_tensor_infers_dtypes_like_torch():
    assert dl.tensor(1.5).dtype == dl.float32
    assert dl.tensor([1.0, 2]).dtype == dl.float32
    assert dl.tensor([1, 2]).dtype == dl.int64
    assert dl.tensor([True, False]).dtype == dl.bool
    assert dl.tensor(np.zeros(2, np.float64)).dtype == dl.float64   # arrays keep their dtype
    assert dl.tensor(np.zeros(2, np.int32)).dtype == dl.int32
    assert dl.tensor([]).dtype == dl.float32 and dl.tensor([]).shape == (0,)
    if torch is not None:
        for data in (1.5, [1.0, 2], [1, 2], [True, False]):
            assert str(dl.tensor(data).dtype) == str(torch.tensor(data).dtype).split(".")[1]


def test_tensor_copies_and_from_numpy_shares():
    a = np.zeros(3)
    t = dl.tensor(a)
    a[0] = 1
    assert t.tolist() == [0, 0, 0]
    s = dl.from_numpy(a)
    a[1] = 2
    assert s.tolist() == [1, 2, 0]
    assert dl.tensor(t).data is not t.data


@pytest.mark.parametrize("dtype", [dl.float64, "float64", "double", np.float64, "torch.float64"])
def test_dtype_spellings(dtype):
    for t in (dl.tensor([1, 2], dtype=dtype), dl.zeros(2, dtype=dtype), dl.ones(2, dtype=dtype),
              dl.full((2,), 1, dtype=dtype), dl.arange(2, dtype=dtype), dl.rand(2, dtype=dtype),
              dl.randn(2, dtype=dtype), dl.eye(2, dtype=dtype), dl.linspace(0, 1, 3, dtype=dtype),
              dl.empty(2, dtype=dtype), dl.zeros_like(dl.ones(2), dtype=dtype)):
        assert t.dtype == dl.float64


def test_bad_data_is_a_clear_error():
    with pytest.raises(ValueError, match="tensor: cannot make a tensor from this data"):
        dl.tensor([[1, 2], [3]])
    with pytest.raises(TypeError, match="tensor: expected numbers or bools, got data of type "
                                        "str"):
        dl.tensor("abc")
    with pytest.raises(TypeError, match="type NoneType"):
        dl.tensor(None)


def test_random_floats_need_a_float_dtype():
    with pytest.raises(TypeError, match="randn: expected a floating point dtype, got int64"):
        dl.randn(2, dtype=dl.int64)
    with pytest.raises(TypeError, match="rand: expected a floating point dtype"):
        dl.rand_like(dl.ones(2), dtype="int32")


def test_unknown_dtype_is_named():
    with pytest.raises(TypeError, match="unknown dtype 'float128'"):
        dl.zeros(2, dtype="float128")


@pytest.mark.parametrize("name", ["zeros", "ones", "empty", "rand", "randn"])
def test_size_forms_and_defaults(name):
    fn = getattr(dl, name)
    for t in (fn(2, 3), fn((2, 3)), fn([2, 3])):
        assert t.shape == (2, 3) and t.dtype == dl.float32 and not t.requires_grad
    assert fn().shape == ()
    assert fn(2, requires_grad=True).requires_grad


def test_values_match_torch():
    cases = [
        (dl.zeros(2, 3), np.zeros((2, 3))),
        (dl.ones(4), np.ones(4)),
        (dl.full((2, 2), 7.5), np.full((2, 2), 7.5)),
        (dl.arange(5), np.arange(5)),
        (dl.arange(1, 7, 2), np.arange(1, 7, 2)),
        (dl.arange(0.0, 1.0, 0.25), np.arange(0, 1, 0.25)),
        (dl.linspace(-1, 1, 5), np.linspace(-1, 1, 5)),
        (dl.eye(3), np.eye(3)),
        (dl.eye(2, 3), np.eye(2, 3)),
    ]
    for t, ref in cases:
        np.testing.assert_array_equal(t.numpy(), ref)
    assert dl.arange(5).dtype == dl.int64 and dl.arange(0.0, 1.0, 0.25).dtype == dl.float32
    assert dl.full((2,), 3).dtype == dl.int64 and dl.full((2,), True).dtype == dl.bool
    if torch is not None:
        pairs = [(dl.arange(5), torch.arange(5)), (dl.arange(1, 7, 2), torch.arange(1, 7, 2)),
                 (dl.linspace(-1, 1, 5), torch.linspace(-1, 1, 5)), (dl.eye(2, 3), torch.eye(2, 3)),
                 (dl.full((2,), 3), torch.full((2,), 3)), (dl.arange(0.0, 1.0, 0.25),
                                                          torch.arange(0.0, 1.0, 0.25))]
        for d, t in pairs:
            np.testing.assert_array_equal(d.numpy(), t.numpy())
            assert str(d.dtype) == str(t.dtype).split(".")[1]


def test_like_functions_follow_the_template():
    x = dl.ones(2, 3, dtype=dl.float64)
    for fn in (dl.zeros_like, dl.ones_like, dl.empty_like, dl.rand_like, dl.randn_like):
        t = fn(x)
        assert t.shape == (2, 3) and t.dtype == dl.float64
        assert fn(x, dtype=dl.float32).dtype == dl.float32
    assert dl.full_like(x, 4.0).tolist() == [[4.0] * 3] * 2
    assert dl.zeros_like(x, requires_grad=True).requires_grad


def test_random_ranges_and_dtypes():
    dl.manual_seed(0)
    u = dl.rand(10_000)
    assert 0 <= u.min().item() and u.max().item() < 1 and abs(u.mean().item() - 0.5) < 0.02
    n = dl.randn(10_000, dtype=dl.float64)
    assert abs(n.mean().item()) < 0.05 and abs(n.std().item() - 1) < 0.05
    r = dl.randint(3, 7, (1000,))
    assert r.dtype == dl.int64 and set(r.tolist()) == {3, 4, 5, 6}
    assert dl.randint(10, (4,)).shape == (4,) and dl.randint(10, size=(2, 2)).shape == (2, 2)
    assert sorted(dl.randperm(6).tolist()) == list(range(6))
    g = dl.normal(2.0, 0.5, (10_000,))
    assert abs(g.mean().item() - 2) < 0.05 and abs(g.std().item() - 0.5) < 0.05
    m = dl.normal(dl.zeros(3, 2), 1.0)
    assert m.shape == (3, 2)


RANDOM = {
    "rand": lambda: dl.rand(3, 4),
    "randn": lambda: dl.randn(3, 4, dtype=dl.float64),
    "randint": lambda: dl.randint(0, 100, (5,)),
    "randperm": lambda: dl.randperm(10),
    "normal": lambda: dl.normal(1.0, 2.0, (4,)),
    "rand_like": lambda: dl.rand_like(dl.ones(3)),
    "randn_like": lambda: dl.randn_like(dl.ones(3)),
}


@pytest.mark.parametrize("name", list(RANDOM))
def test_manual_seed_gives_bit_identical_results(name):
    dl.manual_seed(1234)
    first = [RANDOM[name]().numpy().copy() for _ in range(2)]
    dl.manual_seed(1234)
    second = [RANDOM[name]().numpy().copy() for _ in range(2)]
    for a, b in zip(first, second):
        assert a.tobytes() == b.tobytes()
    assert first[0].tobytes() != first[1].tobytes()
    dl.manual_seed(4321)
    assert RANDOM[name]().numpy().tobytes() != first[0].tobytes()
    assert dl.initial_seed() == 4321


def test_rng_state_round_trip_resumes_bit_exactly():
    dl.manual_seed(7)
    dl.randn(5)
    state = dl.get_rng_state()
    a = dl.randn(5).numpy().copy()
    dl.randn(5)
    dl.set_rng_state(state)
    assert dl.randn(5).numpy().tobytes() == a.tobytes()


# ------------------------------------------------------------------- Tensor.new_*
NEW = {  # method call on a tensor, the same call on a torch tensor
    "new_zeros": lambda t: t.new_zeros(2, 3),
    "new_zeros_tuple": lambda t: t.new_zeros((2, 3)),
    "new_ones": lambda t: t.new_ones([4]),
    "new_full": lambda t: t.new_full((2,), 3),
    "new_full_float_into_int": lambda t: t.new_full((2,), 2.7),
    "new_empty_shape": lambda t: t.new_empty((3, 1)).new_zeros(()),
    "new_tensor": lambda t: t.new_tensor([1.5, -2.0]),
    "new_tensor_nested": lambda t: t.new_tensor([[1, 2], [3, 4]]),
    "new_ones_dtype": lambda t: t.new_ones(2, dtype=dl.int32 if isinstance(t, dl.Tensor)
                                           else torch.int32),
}


@pytest.mark.parametrize("template", ["float64", "int64", "float32", "bool"])
@pytest.mark.parametrize("name", list(NEW))
def test_new_methods_take_the_tensors_dtype_like_torch(name, template):
    if torch is None:
        pytest.skip("PyTorch not installed")
    d = NEW[name](dl.zeros(2, dtype=template))
    t = NEW[name](torch.zeros(2, dtype=getattr(torch, template)))
    assert d.shape == tuple(t.shape) and str(d.dtype) == str(t.dtype).split(".")[1]
    np.testing.assert_array_equal(d.numpy(), t.numpy())
    assert d.device == "cpu" and not d.requires_grad


def test_new_methods_options():
    x = dl.ones(3, dtype=dl.float64)
    for t in (x.new_zeros(2, requires_grad=True), x.new_ones((2,), requires_grad=True),
              x.new_full((2,), 1.0, requires_grad=True), x.new_tensor([1.0], requires_grad=True),
              x.new_empty(2, requires_grad=True)):
        assert t.requires_grad and t.is_leaf and t.dtype == dl.float64
    assert x.new_zeros(2, dtype=dl.float32).dtype == dl.float32
    data = np.arange(3.0)
    copy = x.new_tensor(data)
    data[0] = 9
    assert copy.tolist() == [0, 1, 2]
    with pytest.raises(TypeError, match="new_full: size must be a tuple of ints, got int"):
        x.new_full(2, 3.0)


def test_randperm_options_and_errors():
    p = dl.randperm(5, dtype=dl.float64, requires_grad=True)
    assert p.dtype == dl.float64 and p.requires_grad and sorted(p.tolist()) == list(range(5))
    assert dl.randperm(0).shape == (0,) and dl.randperm(3).dtype == dl.int64
    g = np.random.default_rng(3)
    assert dl.randperm(8, generator=g).tolist() == np.random.default_rng(3).permutation(8).tolist()
    with pytest.raises(RuntimeError, match="randperm: n must be non-negative, got -1"):
        dl.randperm(-1)
