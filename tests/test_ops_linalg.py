"""matmul (1-D, 2-D, batched, broadcast batch dims) and its wrappers: forward = NumPy,
float64 gradcheck, forward + gradients = PyTorch's; shape errors name the op and shapes."""
from __future__ import annotations

import numpy as np
import pytest

import deltaflow as dl
from opcheck import assert_gradcheck, assert_matches_torch, leaf, torch

GRADCHECKED = ("MatMul",)

MATMUL_SHAPES = [
    ((4,), (4,)),              # dot
    ((3, 4), (4,)),            # matrix · vector
    ((4,), (4, 2)),            # vector · matrix
    ((3, 4), (4, 2)),          # matrix · matrix
    ((2, 3, 4), (2, 4, 5)),    # batched
    ((2, 3, 4), (4, 5)),       # batch · shared matrix
    ((3, 4), (2, 4, 5)),       # shared matrix · batch
    ((2, 1, 3, 4), (5, 4, 2)),  # broadcast batch dims
    ((4,), (2, 4, 3)),         # vector · batch
    ((2, 3, 4), (4,)),         # batch · vector
    ((1, 3, 4), (2, 1, 4, 2)),  # broadcast both ways
]


def operands(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shapes[0]), rng.standard_normal(shapes[1])


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul_forward_matches_numpy(shapes):
    a, b = operands(shapes)
    out = leaf(a) @ leaf(b)
    np.testing.assert_allclose(out.numpy(), a @ b, rtol=1e-12, atol=1e-12)
    assert out.shape == np.shape(a @ b)


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul_gradcheck(shapes):
    assert_gradcheck(dl.matmul, *operands(shapes, 1))


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul_matches_torch(shapes):
    assert_matches_torch(lambda a, b: a @ b, lambda a, b: a @ b, *operands(shapes, 2))


@pytest.mark.parametrize("shapes", [((3, 4), (4, 2)), ((2, 3, 4), (4, 5))], ids=str)
def test_matmul_with_one_constant_operand(shapes):
    a, b = operands(shapes, 3)
    x = leaf(a)
    (x @ dl.tensor(b)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.ones(np.shape(a @ b)) @ np.swapaxes(b, -1, -2))
    y = leaf(b)
    (dl.tensor(a) @ y).sum().backward()
    ga = np.swapaxes(a, -1, -2) @ np.ones(np.shape(a @ b))
    np.testing.assert_allclose(y.grad.numpy(), ga.reshape(-1, *b.shape).sum(0))


@pytest.mark.parametrize("dl_fn, torch_fn, np_fn, shapes", [
    (dl.mm, lambda a, b: torch.mm(a, b), np.matmul, ((3, 4), (4, 2))),
    (dl.bmm, lambda a, b: torch.bmm(a, b), np.matmul, ((2, 3, 4), (2, 4, 5))),
    (dl.outer, lambda a, b: torch.outer(a, b), np.outer, ((3,), (4,))),
    (dl.dot, lambda a, b: torch.dot(a, b), np.dot, ((4,), (4,))),
    (lambda a, b: a.mm(b.T), lambda a, b: a.mm(b.T), lambda a, b: a @ b.T, ((3, 4), (2, 4))),
], ids=["mm", "bmm", "outer", "dot", "mm_T"])
def test_wrappers(dl_fn, torch_fn, np_fn, shapes):
    a, b = operands(shapes, 4)
    np.testing.assert_allclose(dl_fn(leaf(a), leaf(b)).numpy(), np_fn(a, b), rtol=1e-12)
    assert_gradcheck(dl_fn, a, b)
    assert_matches_torch(dl_fn, torch_fn, a, b)


def test_matmul_float32_stays_float32_and_mixed_promotes():
    a, b = dl.ones(2, 3), dl.ones(3, 2)
    assert (a @ b).dtype == dl.float32
    assert (a @ b.double()).dtype == dl.float64


@pytest.mark.parametrize("fn, a, b, match", [
    (dl.matmul, (3, 4), (5, 2), r"^matmul: shapes \(3, 4\) and \(5, 2\) cannot be multiplied "
                                r"\(4 != 5\)$"),
    (dl.matmul, (4,), (3,), r"matmul: shapes \(4,\) and \(3,\) cannot be multiplied"),
    (dl.matmul, (2, 3, 4), (3, 4, 2), r"matmul: shapes \(2, 3, 4\) and \(3, 4, 2\) have batch "
                                      r"dims \(2,\) and \(3,\)"),
    (dl.matmul, (), (3,), r"matmul: both arguments need at least 1 dimension"),
    (dl.mm, (2, 3, 4), (4, 2), r"mm: expected 2-D tensors, got shapes \(2, 3, 4\) and \(4, 2\)"),
    (dl.bmm, (3, 4), (4, 2), r"bmm: expected 3-D tensors"),
])
def test_shape_errors_name_op_and_both_shapes(fn, a, b, match):
    with pytest.raises((ValueError, RuntimeError), match=match):
        fn(dl.ones(*a), dl.ones(*b))
