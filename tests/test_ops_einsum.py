"""einsum (string equations with implicit output, ``...``, repeated letters, size-1
broadcasting; the operand-list and sublist forms) and tensordot: forward = NumPy, float64
gradcheck, forward + gradients = PyTorch's; equation errors read as PyTorch's."""
from __future__ import annotations

import numpy as np
import pytest

import deltaflow as dl
from opcheck import OpCase, check_op, op_params, torch

GRADCHECKED = ("Einsum",)
GRADGRADCHECKED = GRADCHECKED   # second derivatives: opcheck.SECOND_ORDER on every row


def einsum_case(equation, *shapes, numpy=True):
    """A row for ``einsum(equation, ...)``; ``numpy=False`` where NumPy's einsum refuses
    what PyTorch accepts (size-1 broadcasting of a letter, ``...`` summed away)."""
    return OpCase(f"einsum[{equation}]", lambda *t: dl.einsum(equation, *t),
                  (lambda *a: np.einsum(equation, *a)) if numpy else None,
                  lambda *t: torch.einsum(equation, *t)).at(*shapes)


EINSUMS = [
    einsum_case("ij,jk->ik", (2, 3), (3, 4)),
    einsum_case("ij,jk", (2, 3), (3, 4)),                      # implicit output
    einsum_case("bij,bjk->bik", (2, 3, 4), (2, 4, 5)),
    einsum_case("ba,cb", (2, 3), (4, 2)),                      # implicit: sorted letters
    einsum_case("Ab,aB", (2, 3), (4, 5)),                      # upper case sorts first
    einsum_case("ij->ji", (2, 3)),
    einsum_case("ijk->kij", (2, 3, 4)),
    einsum_case("ij->", (2, 3)),
    einsum_case("ij->j", (2, 3)),
    einsum_case("i->", (4,)),
    einsum_case("ii->i", (3, 3)),                              # diagonal
    einsum_case("ii", (3, 3)),                                 # trace
    einsum_case("iji->j", (3, 2, 3)),
    einsum_case("iij,k->k", (3, 3, 2), (4,)),                  # repeated and alone
    einsum_case("i,j->ij", (3,), (4,)),
    einsum_case("i,i->", (4,), (4,)),
    einsum_case("ij,ij->ij", (2, 3), (2, 3)),
    einsum_case("ij,kl->ijkl", (2, 1), (3, 2)),
    einsum_case("ij,jk,kl->il", (2, 3), (3, 4), (4, 2)),       # a path of three
    einsum_case("bn,anm,bm->ba", (2, 3), (4, 3, 5), (2, 5)),   # bilinear
    einsum_case("...ij,...jk->...ik", (2, 3, 4), (4, 5)),
    einsum_case("...ij,...jk", (5, 2, 3), (3, 4)),
    einsum_case("...ii->...i", (2, 3, 3)),
    einsum_case("...i,...i->...", (2, 1, 3), (4, 3)),
    einsum_case("i...->...", (3, 2, 2)),
    einsum_case("...ij->ij", (2, 3, 4), numpy=False),           # '...' summed away
    einsum_case("ij,ij->ij", (1, 3), (2, 3), numpy=False),      # size-1 letter broadcast
    einsum_case("bij,bjk->bik", (1, 3, 4), (2, 4, 5), numpy=False),
    einsum_case("ii->", (1, 1), numpy=False),
]

FORMS = [
    OpCase("einsum_operand_list", lambda a, b: dl.einsum("ij,jk->ik", [a, b]), np.matmul,
           lambda a, b: torch.einsum("ij,jk->ik", [a, b])).at((2, 3), (3, 4)),
    OpCase("einsum_sublists", lambda a, b: dl.einsum(a, [0, 1], b, [1, 2], [0, 2]), np.matmul,
           lambda a, b: torch.einsum(a, [0, 1], b, [1, 2], [0, 2])).at((2, 3), (3, 4)),
    OpCase("einsum_sublists_implicit", lambda a, b: dl.einsum(a, [1, 0], b, [2, 1]),
           lambda a, b: np.einsum("ba,cb", a, b),
           lambda a, b: torch.einsum(a, [1, 0], b, [2, 1])).at((2, 3), (4, 2)),
    OpCase("einsum_sublists_implicit_order", lambda a, b: dl.einsum(a, [30, 0], b, [1, 30]),
           lambda a, b: np.einsum("aA,Ba", a, b),
           lambda a, b: torch.einsum(a, [30, 0], b, [1, 30])).at((2, 3), (4, 2)),
    OpCase("einsum_sublists_ellipsis", lambda a: dl.einsum(a, [..., 0, 0], [..., 0]),
           lambda a: np.einsum("...ii->...i", a),
           lambda a: torch.einsum(a, [..., 0, 0], [..., 0])).at((2, 3, 3)),
    OpCase("einsum_same_tensor_twice", lambda a: dl.einsum("ij,ij->", a, a),
           lambda a: np.sum(a * a), lambda a: torch.einsum("ij,ij->", a, a)).at((2, 3)),
    OpCase("einsum_spaces", lambda a, b: dl.einsum("i j , j k -> i k", a, b), np.matmul,
           lambda a, b: torch.einsum("i j , j k -> i k", a, b)).at((2, 3), (3, 4)),
]

TENSORDOTS = [
    OpCase("tensordot_2", dl.tensordot, lambda a, b: np.tensordot(a, b, 2),
           lambda a, b: torch.tensordot(a, b)).at((2, 3, 4), (3, 4, 5)),
    OpCase("tensordot_0", lambda a, b: dl.tensordot(a, b, 0), lambda a, b: np.tensordot(a, b, 0),
           lambda a, b: torch.tensordot(a, b, 0)).at((2, 3), (4,)),
    OpCase("tensordot_lists", lambda a, b: dl.tensordot(a, b, ([1, 0], [0, 2])),
           lambda a, b: np.tensordot(a, b, ([1, 0], [0, 2])),
           lambda a, b: torch.tensordot(a, b, ([1, 0], [0, 2]))).at((3, 4, 5), (4, 2, 3)),
    OpCase("tensordot_ints", lambda a, b: dl.tensordot(a, b, (1, 0)),
           lambda a, b: np.tensordot(a, b, (1, 0)),
           lambda a, b: torch.tensordot(a, b, ([1], [0]))).at((3, 4), (4, 2)),
]

CASES = EINSUMS + FORMS + TENSORDOTS


@pytest.mark.parametrize("case, check", op_params(CASES))
def test_op(case, check):
    check_op(case, check)


# ------------------------------------------------------------------- ordinary tests
@pytest.mark.parametrize("equation, shapes, match", [
    ("ij,jk", [(2, 3), (4, 5)], "subscript j has size 4 for operand 1 which does not "
                                "broadcast with previously seen size 3"),
    ("ij,jk,kl", [(2, 3), (3, 4)], "fewer operands were provided than specified"),
    ("ij", [(2, 3), (3, 4)], "more operands were provided than specified"),
    ("ij", [(2, 3, 4)], r"the number of subscripts in the equation \(2\) does not match the "
                        r"number of dimensions \(3\) for operand 0 and no ellipsis was given"),
    ("i.j", [(2, 3)], "found '.' for operand 0 that is not part of any ellipsis"),
    ("i...j...", [(2, 3)], "found '.' for operand 0 for which an ellipsis was already found"),
    ("ii->i", [(2, 3)], "subscript i is repeated for operand 0 but the sizes don't match, "
                        "3 != 2"),
    ("ij->ii", [(2, 2)], "output subscript i appears more than once in the output"),
    ("ij->k", [(2, 2)], "output subscript k does not appear in the equation for any input"),
    ("ij->ij->i", [(2, 2)], "invalid subscript given at index 6 in the equation string"),
    ("i1", [(2, 2)], "invalid subscript given at index 1"),
])
def test_equation_errors_read_as_pytorchs(equation, shapes, match):
    with pytest.raises(ValueError, match="einsum\\(\\): " + match):
        dl.einsum(equation, *[dl.ones(*s) for s in shapes])
    if torch is not None:
        with pytest.raises(RuntimeError):
            torch.einsum(equation, *[torch.ones(*s) for s in shapes])


def test_einsum_keeps_the_dtype_and_refuses_mixed_dtypes():
    a, b = dl.ones(2, 3), dl.ones(3, 4)
    assert dl.einsum("ij,jk->ik", a, b).dtype == dl.float32
    with pytest.raises(TypeError, match="einsum\\(\\): all operands must have the same dtype"):
        dl.einsum("ij,jk->ik", a, b.double())


def test_einsum_gradient_of_a_constant_operand_is_not_computed():
    a = dl.tensor(np.ones((2, 3)), requires_grad=True)
    b = dl.tensor(np.arange(12.0).reshape(3, 4))
    dl.einsum("ij,jk->ik", a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), np.ones((2, 4)) @ b.numpy().T)
    assert b.grad is None


def test_tensordot_errors():
    with pytest.raises(RuntimeError, match="tensordot: contracted dimensions need to match"):
        dl.tensordot(dl.ones(2, 3), dl.ones(4, 2), ([1], [0]))
    with pytest.raises(RuntimeError, match="tensordot: both dim lists should have the same"):
        dl.tensordot(dl.ones(2, 3), dl.ones(3, 2), ([1, 0], [0]))
