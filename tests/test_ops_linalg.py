"""matmul (1-D, 2-D, batched, broadcast batch dims) and its wrappers: forward = NumPy,
float64 gradcheck, forward + gradients = PyTorch's; shape errors name the op and shapes."""
from __future__ import annotations

import numpy as np
import pytest

import deltaflow as dl
from opcheck import OpCase, check_op, leaf, op_params, torch

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


MATMUL = OpCase("matmul", lambda a, b: a @ b, np.matmul)

WRAPPERS = [
    OpCase("mm", dl.mm, np.matmul, lambda a, b: torch.mm(a, b)).at((3, 4), (4, 2)),
    OpCase("bmm", dl.bmm, np.matmul, lambda a, b: torch.bmm(a, b)).at((2, 3, 4), (2, 4, 5)),
    OpCase("outer", dl.outer, np.outer, lambda a, b: torch.outer(a, b)).at((3,), (4,)),
    OpCase("dot", dl.dot, np.dot, lambda a, b: torch.dot(a, b)).at((4,), (4,)),
    OpCase("mm_T", lambda a, b: a.mm(b.T), lambda a, b: a @ b.T).at((3, 4), (2, 4)),
]

CASES = [MATMUL.at(*shapes) for shapes in MATMUL_SHAPES] + WRAPPERS


@pytest.mark.parametrize("case, check", op_params(CASES))
def test_op(case, check):
    check_op(case, check)


def operands(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shapes[0]), rng.standard_normal(shapes[1])


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
