"""Tensor: properties, conversions, methods, operators and in-place updates."""
from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest

import deltaflow as dl
from opcheck import OpCase, check_op, leaf, torch


def test_properties():
    x = dl.tensor(np.arange(6.0).reshape(2, 3))
    assert x.shape == (2, 3) and x.ndim == 2 and x.dim() == 2 and len(x) == 2
    assert x.size() == (2, 3) and x.size(-1) == 3 and x.numel() == 6
    assert x.dtype == dl.float64 and x.device == "cpu" and x.element_size() == 8
    assert x.is_leaf and x.grad_fn is None and x.grad is None and not x.requires_grad
    assert x.is_floating_point() and not dl.arange(3).is_floating_point()
    assert x.T.shape == (3, 2) and x.mT.shape == (3, 2)
    assert dl.is_tensor(x) and not dl.is_tensor(x.data)
    with pytest.raises(TypeError, match="len"):
        len(dl.tensor(1.0))


def test_conversions():
    x = dl.tensor([[1.5, 2.0]])
    a = x.numpy()
    assert isinstance(a, np.ndarray) and np.shares_memory(a, x.data)
    assert x.tolist() == [[1.5, 2.0]]
    assert dl.tensor([2.5]).item() == 2.5 and isinstance(dl.tensor(3).item(), int)
    assert float(dl.tensor(2.5)) == 2.5 and int(dl.tensor(7)) == 7
    assert bool(dl.tensor([1.0])) and not bool(dl.tensor(0.0))
    assert [10, 20, 30][dl.tensor(1)] == 20
    np.testing.assert_array_equal(np.asarray(x), [[1.5, 2.0]])
    with pytest.raises(ValueError, match=r"item\(\).*shape \(1, 2\)"):
        x.item()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(x)
    with pytest.raises(TypeError, match="integer tensors"):
        [1, 2][dl.tensor(1.0)]


def test_to_and_type_conversions():
    x = dl.tensor([1.7, -2.2], requires_grad=True)
    assert x.to(dl.float64).dtype == dl.float64
    assert x.to("float64").dtype == dl.float64 and x.to(dtype="double").dtype == dl.float64
    assert x.to("cpu") is x and x.cpu() is x and x.to(x) is x and not x.is_cuda
    assert x.to("cpu", non_blocking=True) is x
    assert x.double().dtype == dl.float64 and x.half().dtype == dl.float16
    assert x.long().tolist() == [1, -2] and x.int().dtype == dl.int32
    assert x.bool().dtype == dl.bool and x.float() is x
    assert x.type(dl.float64).dtype == dl.float64
    assert x.type_as(dl.tensor([1])).dtype == dl.int64
    y = x.double()
    (y * 2).sum().backward()
    assert x.grad.dtype == dl.float32
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        x.to(device="tpu")
    with pytest.raises(TypeError, match="unknown dtype 'tpu'"):
        x.to("tpu")


def test_clone_is_independent_and_differentiable():
    x = leaf([1.0, 2.0])
    c = x.clone()
    assert not np.shares_memory(c.data, x.data) and c.grad_fn is not None
    (c * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_repr():
    assert repr(dl.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert "dtype=float64" in repr(dl.tensor(np.zeros(2)))
    assert "requires_grad=True" in repr(dl.ones(1, requires_grad=True))
    assert "grad_fn=<MulBackward>" in repr(dl.ones(1, requires_grad=True) * 2)


def test_operators_with_scalars_arrays_and_reversed_operands():
    x = dl.tensor([1.0, 2.0, 4.0])
    np.testing.assert_array_equal((2 - x).numpy(), [1, 0, -2])
    np.testing.assert_array_equal((2 / x).numpy(), [2, 1, 0.5])
    np.testing.assert_array_equal((2 ** x).numpy(), [2, 4, 16])
    np.testing.assert_array_equal((-x).numpy(), [-1, -2, -4])
    np.testing.assert_array_equal(abs(-x).numpy(), [1, 2, 4])
    out = np.array([1.0, 1.0, 1.0]) + x
    assert isinstance(out, dl.Tensor)
    np.testing.assert_array_equal(out.numpy(), [2, 3, 5])
    m = dl.tensor(np.eye(3))
    assert isinstance(np.ones((2, 3)) @ m, dl.Tensor)
    np.testing.assert_array_equal((x @ m).numpy(), [1, 2, 4])


def test_methods_mirror_torch():
    x = np.random.default_rng(0).standard_normal((3, 4))
    d = dl.tensor(x)
    assert d.view_as(dl.ones(4, 3)).shape == (4, 3)
    assert d.reshape_as(dl.ones(12)).shape == (12,)
    assert d.contiguous() is d
    np.testing.assert_array_equal(d.where(d > 0, 0.0).numpy(), np.where(x > 0, x, 0.0))
    if torch is not None:
        t = torch.tensor(x)
        for name, args in [("exp", ()), ("abs", ()), ("sigmoid", ()), ("softmax", (1,)),
                           ("sum", (1,)), ("mean", (0,)), ("std", (1,)), ("var", ()),
                           ("logsumexp", (1,)), ("clamp", (-0.5, 0.5)), ("square", ()),
                           ("relu", ()), ("tanh", ()), ("norm", ()), ("flip", (0,))]:
            np.testing.assert_allclose(getattr(d, name)(*args).numpy(),
                                       getattr(t, name)(*args).numpy(), rtol=1e-12)


def test_tensors_are_hashable_and_iterable():
    a, b = dl.ones(2), dl.ones(2)
    assert len({a, b}) == 2 and {a: 1}[a] == 1
    rows = list(dl.tensor(np.arange(6.0).reshape(3, 2)))
    assert len(rows) == 3 and rows[2].tolist() == [4.0, 5.0]
    with pytest.raises(TypeError, match="iteration over a 0-d tensor"):
        list(dl.tensor(1.0))
    x = leaf([1.0, 2.0])
    sum(x).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])


# ----------------------------------------------------------------------- in place
def test_in_place_updates_under_no_grad_keep_the_leaf():
    w = dl.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    ref = w
    with dl.no_grad():
        w -= 0.1 * w.grad
        w.add_(1.0).mul_(2.0)
        w.div_(2.0)
        w.sub_(dl.tensor([1.0, 1.0]), alpha=0.5)
    assert w is ref and w.requires_grad and w.is_leaf
    np.testing.assert_allclose(w.numpy(), np.array([0.8, 1.6]) + 1.0 - 0.5)


def test_in_place_on_tensors_outside_the_graph():
    x = dl.tensor([1.0, -2.0, 3.0])
    data = x.data
    x += 1
    x *= 2
    x /= 4
    x.clamp_(min=0.0)
    x.masked_fill_(x > 1.5, 9.0)
    x.pow_(2)
    assert x.data is data
    np.testing.assert_allclose(x.numpy(), [1.0, 0.0, 81.0])
    i = dl.tensor([1, 2])
    i += 1
    assert i.dtype == dl.int64 and i.tolist() == [2, 3]
    with pytest.raises(RuntimeError, match="__imul__: the result has dtype float32, which "
                                           "cannot be written in place into a tensor of "
                                           "dtype int64"):
        i *= 0.5


def test_in_place_on_a_leaf_that_requires_grad_is_refused_and_recorded_elsewhere():
    w = dl.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"__iadd__: a leaf tensor that requires grad.*"
                                           r"no_grad"):
        w += 1
    with pytest.raises(RuntimeError, match="mul_: a leaf tensor"):
        w.mul_(2)
    buf = dl.ones(2)
    buf.add_(w)                # a buffer written with a value that requires grad: recorded
    h = w * 2
    h2 = h
    h += 1                     # in place, as in torch: every name for h sees the new value
    assert h is h2 and h.grad_fn is not None
    (h + buf).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [3.0, 3.0])


def test_in_place_shape_mismatch_names_both_shapes():
    x = dl.ones(3)
    with pytest.raises(RuntimeError, match=r"add_: the result has shape \(2, 3\) but the "
                                           r"tensor written in place has shape \(3,\)"):
        x.add_(dl.ones(2, 3))


def test_zero_fill_copy_and_setitem():
    x = dl.ones(2, 2)
    x.fill_(3.0)
    assert x.tolist() == [[3, 3], [3, 3]]
    x.zero_()
    assert x.sum().item() == 0
    x.copy_(dl.tensor([[1.0, 2.0], [3.0, 4.0]]))
    x[1, 0] = -1.0
    assert x.tolist() == [[1, 2], [-1, 4]]


# ------------------------------------------------------------------------------ CUDA
MASK = np.arange(15).reshape(5, 3) % 2 == 0
DEVICE_CASES = [  # moves between devices: index arguments given as CPU tensors, .cpu(), .to()
    OpCase("to_cpu_and_back", lambda x: (x.cpu() * 2).to(x.device), lambda x: x * 2),
    OpCase("cpu_index_tensors", lambda x: x.masked_fill(dl.tensor(MASK), -1.0)[dl.tensor([2, 0])],
           lambda x: np.where(MASK, -1.0, x)[[2, 0]]),
]


def table_cases():
    """Every row of the tests/test_ops_*.py tables (each module's CASES), and DEVICE_CASES."""
    modules = [importlib.import_module(path.stem)
               for path in sorted(Path(__file__).parent.glob("test_ops_*.py"))]
    return ([case for module in modules for case in module.CASES]
            + [case.at((4, 5, 3)) for case in DEVICE_CASES])


@pytest.mark.skipif(not dl.cuda.is_available(), reason="needs CuPy and an NVIDIA GPU")
@pytest.mark.parametrize("case", table_cases(), ids=str)
def test_ops_agree_between_cpu_and_cuda(case):
    check_op(case, "cuda")


@pytest.mark.skipif(not dl.cuda.is_available(), reason="needs CuPy and an NVIDIA GPU")
def test_cuda_creation_seeding_and_in_place():
    dl.manual_seed(3)
    a = dl.randn(4, 5, device="cuda")
    dl.manual_seed(3)
    assert a.device == "cuda" and a.numpy().tobytes() == dl.randn(4, 5).numpy().tobytes()
    x = dl.zeros(3, device="cuda")
    x += 1
    x[1] = 5.0
    assert x.device == "cuda" and x.tolist() == [1.0, 5.0, 1.0]
    for make in (dl.tril_indices, dl.triu_indices):
        ij = make(4, 5, 1, device="cuda")
        assert ij.device == "cuda" and ij.tolist() == make(4, 5, 1).tolist()
