"""Dtype rules: float32 by default, Python scalars never upcast a tensor, mixed operands
promote like PyTorch; gradients come back in each leaf's dtype."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import deltaflow as dl
from opcheck import torch

DTYPES = ["float16", "float32", "float64", "int32", "int64", "bool"]
SCALARS = [2, 2.5, True]


def dl_t(dtype):
    return dl.tensor(np.array([1, 3, 2]).astype(dtype))


def torch_t(dtype):
    return torch.tensor(np.array([1, 3, 2]).astype(dtype))


def name(dtype):
    return str(dtype).replace("torch.", "")


def test_dtype_objects():
    assert dl.float32 is np.dtype("float32") and dl.float64 == np.float64
    assert dl.float is dl.float32 and dl.double is dl.float64 and dl.long is dl.int64
    assert dl.half is dl.float16 and dl.bool == np.bool_ and dl.int is dl.int32
    assert dl.get_default_dtype() == dl.float32


@pytest.mark.parametrize("op", ["add", "mul", "sub", "div", "maximum"])
@pytest.mark.parametrize("a, b", list(itertools.product(DTYPES, DTYPES)))
def test_tensor_tensor_promotion_matches_torch(op, a, b):
    if torch is None:
        pytest.skip("PyTorch not installed")
    if op == "sub" and "bool" in (a, b):
        return  # PyTorch refuses subtraction of bools
    d = getattr(dl, op)(dl_t(a), dl_t(b))
    t = getattr(torch, op)(torch_t(a), torch_t(b))
    assert name(d.dtype) == name(t.dtype)
    np.testing.assert_allclose(d.numpy().astype(float), t.numpy().astype(float))


@pytest.mark.parametrize("scalar", SCALARS, ids=repr)
@pytest.mark.parametrize("dtype", DTYPES)
def test_python_scalars_never_upcast(dtype, scalar):
    if torch is None:
        pytest.skip("PyTorch not installed")
    for d, t in [(dl_t(dtype) * scalar, torch_t(dtype) * scalar),
                 (scalar + dl_t(dtype), scalar + torch_t(dtype)),
                 (dl_t(dtype) / scalar, torch_t(dtype) / scalar)]:
        assert name(d.dtype) == name(t.dtype), (dtype, scalar)
        np.testing.assert_allclose(d.numpy().astype(float), t.numpy().astype(float))


def test_documented_rules():
    x32 = dl.ones(2)
    assert (x32 * 2.0).dtype == dl.float32 and (x32 + 1).dtype == dl.float32
    assert (x32 + dl.ones(2, dtype=dl.float64)).dtype == dl.float64
    assert (dl.tensor([1, 2]) * 0.5).dtype == dl.float32
    assert (dl.tensor([1, 2]) + x32).dtype == dl.float32
    assert (dl.tensor([1, 2]) / dl.tensor([2, 2])).dtype == dl.float32
    assert (dl.tensor([True]) + 1).tolist() == [2]
    assert dl.where(dl.tensor([True, False]), dl.tensor([1, 2]), x32).dtype == dl.float32
    assert (dl.tensor([1, 2]) > 1.5).tolist() == [False, True]


def test_gradients_come_back_in_each_leaf_dtype():
    a = dl.ones(2, requires_grad=True)
    b = dl.ones(2, dtype=dl.float64, requires_grad=True)
    c = dl.ones(2, dtype=dl.float16, requires_grad=True)
    ((a * b + c) ** 2).sum().backward()
    assert (a.grad.dtype, b.grad.dtype, c.grad.dtype) == (dl.float32, dl.float64, dl.float16)


def test_float32_stays_float32_through_a_network_like_chain():
    x = dl.randn(4, 3)
    w = dl.randn(3, 2, requires_grad=True)
    y = dl.log_softmax(dl.relu(x @ w) * 0.5 + 1, dim=1).mean()
    assert y.dtype == dl.float32
    y.backward()
    assert w.grad.dtype == dl.float32


def test_set_default_dtype():
    try:
        dl.set_default_dtype(dl.float64)
        assert dl.tensor(1.5).dtype == dl.float64 and dl.zeros(2).dtype == dl.float64
        assert dl.randn(2).dtype == dl.float64 and (dl.tensor([1]) * 0.5).dtype == dl.float64
        with pytest.raises(TypeError, match="floating point"):
            dl.set_default_dtype(dl.int64)
    finally:
        dl.set_default_dtype("float32")
    assert dl.tensor(1.5).dtype == dl.float32
