"""matmul (1-D, 2-D, batched, broadcast batch dims) and its wrappers, addmm/addbmm/baddbmm,
triangles and diagonals (tril, triu, diag, diag_embed, diagonal, trace), cross, diff, kron:
forward = NumPy, float64 gradcheck, forward + gradients = PyTorch's; shape errors name the
op and shapes."""
from __future__ import annotations

import numpy as np
import pytest

import deltaflow as dl
from opcheck import OpCase, check_op, leaf, op_params, torch

GRADCHECKED = ("MatMul", "Tril", "Triu", "Diagonal", "DiagEmbed", "Cross")
GRADGRADCHECKED = GRADCHECKED   # second derivatives: opcheck.SECOND_ORDER on every row

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



def of_torch(name, *args, **kwargs):
    """``torch.<name>(t, ..., *args, **kwargs)``."""
    return lambda *t: getattr(torch, name)(*t, *args, **kwargs)


def np_diag_embed(x, offset=0, dim1=-2, dim2=-1):
    """NumPy's diag_embed: one diagonal matrix per row of x, its dims moved to (dim1, dim2)."""
    n = x.shape[-1] + abs(offset)
    out = np.zeros(x.shape[:-1] + (n, n))
    rows = np.arange(x.shape[-1]) + max(-offset, 0)
    out[..., rows, rows + offset] = x
    return np.moveaxis(out, (-2, -1), (dim1, dim2))


def np_kron(a, b):
    return np.kron(a, b)


PRODUCTS = [
    OpCase("addmm", dl.addmm, lambda c, a, b: c + a @ b, of_torch("addmm")
           ).at((3, 2), (3, 4), (4, 2)),
    OpCase("addmm_broadcast_scaled", lambda c, a, b: dl.addmm(c, a, b, beta=0.5, alpha=-2),
           lambda c, a, b: 0.5 * c - 2 * (a @ b), of_torch("addmm", beta=0.5, alpha=-2)
           ).at((2,), (3, 4), (4, 2)),
    OpCase("addmm_method", lambda c, a, b: c.addmm(a, b, alpha=3), lambda c, a, b: c + 3 * a @ b
           ).at((3, 1), (3, 4), (4, 2)),
    OpCase("baddbmm", lambda c, a, b: dl.baddbmm(c, a, b, beta=2, alpha=0.5),
           lambda c, a, b: 2 * c + 0.5 * (a @ b), of_torch("baddbmm", beta=2, alpha=0.5)
           ).at((2, 3, 5), (2, 3, 4), (2, 4, 5)),
    OpCase("baddbmm_broadcast", lambda c, a, b: c.baddbmm(a, b), lambda c, a, b: c + a @ b
           ).at((3, 5), (2, 3, 4), (2, 4, 5)),
    OpCase("addbmm", dl.addbmm, lambda c, a, b: c + (a @ b).sum(0), of_torch("addbmm")
           ).at((3, 5), (2, 3, 4), (2, 4, 5)),
    OpCase("addbmm_scaled", lambda c, a, b: c.addbmm(a, b, beta=-1, alpha=0.25),
           lambda c, a, b: -c + 0.25 * (a @ b).sum(0)).at((5,), (3, 2, 4), (3, 4, 5)),
    OpCase("kron", dl.kron, np_kron, of_torch("kron")).at((2, 3), (4, 2)),
    OpCase("kron_1d_2d", lambda a, b: a.kron(b), np_kron).at((3,), (2, 2)),
    OpCase("kron_3d", dl.kron, np_kron, of_torch("kron")).at((2, 1, 3), (2, 2, 1)),
]

STRUCTURE = [
    OpCase("tril", dl.tril, np.tril, of_torch("tril")).at((4, 5)),
    OpCase("tril_below", lambda x: x.tril(-1), lambda x: np.tril(x, -1)).at((2, 4, 3)),
    OpCase("tril_above", lambda x: dl.tril(x, diagonal=2), lambda x: np.tril(x, 2),
           of_torch("tril", diagonal=2)).at((3, 5)),
    OpCase("triu", dl.triu, np.triu, of_torch("triu")).at((4, 5)),
    OpCase("triu_above", lambda x: x.triu(1), lambda x: np.triu(x, 1)).at((2, 3, 3)),
    OpCase("triu_below", lambda x: dl.triu(x, diagonal=-2), lambda x: np.triu(x, -2),
           of_torch("triu", diagonal=-2)).at((5, 3)),
    OpCase("diag_of_vector", dl.diag, np.diag, of_torch("diag")).at((4,)),
    OpCase("diag_of_vector_above", lambda x: dl.diag(x, 1), lambda x: np.diag(x, 1),
           of_torch("diag", 1)).at((3,)),
    OpCase("diag_of_vector_below", lambda x: x.diag(-2), lambda x: np.diag(x, -2)).at((3,)),
    OpCase("diag_of_matrix", dl.diag, np.diag, of_torch("diag")).at((3, 4)),
    OpCase("diag_of_matrix_above", lambda x: x.diag(2), lambda x: np.diag(x, 2)).at((3, 4)),
    OpCase("diag_of_matrix_below", lambda x: dl.diag(x, -1), lambda x: np.diag(x, -1),
           of_torch("diag", -1)).at((4, 3)),
    OpCase("diagonal", dl.diagonal, np.diagonal, of_torch("diagonal")).at((3, 4)),
    OpCase("diagonal_dims", lambda x: x.diagonal(1, 2, 0), lambda x: np.diagonal(x, 1, 2, 0)
           ).at((4, 2, 3)),
    OpCase("diagonal_negative_dims", lambda x: dl.diagonal(x, -1, -1, -2),
           lambda x: np.diagonal(x, -1, -1, -2), of_torch("diagonal", -1, -1, -2)).at((2, 3, 4)),
    OpCase("diagonal_out_of_range", lambda x: dl.diagonal(x, 5), lambda x: np.diagonal(x, 5),
           of_torch("diagonal", 5)).at((3, 4)),
    OpCase("diag_embed", dl.diag_embed, np_diag_embed, of_torch("diag_embed")).at((2, 3)),
    OpCase("diag_embed_offset_dims", lambda x: x.diag_embed(1, 0, 2),
           lambda x: np_diag_embed(x, 1, 0, 2)).at((2, 3)),
    OpCase("diag_embed_below", lambda x: dl.diag_embed(x, -2, 2, 0),
           lambda x: np_diag_embed(x, -2, 2, 0), of_torch("diag_embed", -2, 2, 0)).at((4, 2)),
    OpCase("trace", dl.trace, np.trace, of_torch("trace")).at((3, 3)),
    OpCase("trace_rectangular", lambda x: x.trace(), np.trace).at((2, 4)),
    OpCase("cross", lambda a, b: dl.cross(a, b, dim=1), lambda a, b: np.cross(a, b, axis=1),
           of_torch("cross", dim=1)).at((4, 3), (4, 3)),
    OpCase("cross_first_dim_of_size_3", dl.cross, lambda a, b: np.cross(a, b, axis=0),
           lambda a, b: torch.linalg.cross(a, b, dim=0)).at((3, 2), (3, 2)),
    OpCase("cross_broadcast", lambda a, b: a.cross(b, dim=-1), np.cross,
           lambda a, b: torch.linalg.cross(a, b)).at((2, 1, 3), (1, 4, 3)),
    OpCase("diff", dl.diff, np.diff, of_torch("diff")).at((5,)),
    OpCase("diff_twice_dim0", lambda x: x.diff(n=2, dim=0), lambda x: np.diff(x, 2, axis=0)
           ).at((5, 3)),
    OpCase("diff_n_too_large", lambda x: dl.diff(x, n=4), lambda x: np.diff(x, 4),
           of_torch("diff", n=4)).at((2, 3)),
    OpCase("diff_n_zero", lambda x: dl.diff(x, n=0), lambda x: np.diff(x, 0),
           of_torch("diff", n=0)).at((2, 3)),
    OpCase("diff_prepend_append", lambda x, p, a: dl.diff(x, dim=1, prepend=p, append=a),
           lambda x, p, a: np.diff(x, axis=1, prepend=p, append=a),
           lambda x, p, a: torch.diff(x, dim=1, prepend=p, append=a)).at((2, 3), (2, 1), (2, 2)),
]

CASES = [MATMUL.at(*shapes) for shapes in MATMUL_SHAPES] + WRAPPERS + PRODUCTS + STRUCTURE


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


def test_addmm_with_beta_zero_ignores_the_input():
    c = dl.tensor([[np.nan, np.inf], [1.0, 2.0]])
    a, b = dl.ones(2, 3), dl.ones(3, 2)
    np.testing.assert_array_equal(dl.addmm(c, a, b, beta=0, alpha=2).numpy(), np.full((2, 2), 6))
    if torch is not None:
        t = torch.addmm(torch.tensor(c.numpy()), torch.ones(2, 3), torch.ones(3, 2), beta=0,
                        alpha=2)
        np.testing.assert_array_equal(t.numpy(), np.full((2, 2), 6))


def test_diagonal_gradient_fills_only_the_diagonal():
    x = leaf(np.ones((2, 3, 3)))
    dl.diagonal(x, 0, 1, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.broadcast_to(np.eye(3), (2, 3, 3)))


@pytest.mark.parametrize("fn, shapes, match", [
    (lambda a, b, c: dl.addmm(a, b, c), [(3, 3), (2, 3, 4), (4, 2)],
     r"addmm: expected 2-D matrices mat1 and mat2, got shapes \(2, 3, 4\) and \(4, 2\)"),
    (lambda a, b, c: dl.addmm(a, b, c), [(4, 4), (3, 4), (4, 2)],
     r"addmm: input of shape \(4, 4\) cannot be broadcast to the product's shape \(3, 2\)"),
    (lambda a, b, c: dl.addbmm(a, b, c), [(3, 5), (2, 3, 4), (3, 4, 5)],
     r"addbmm: expected two 3-D batches of the same size"),
    (lambda a, b, c: dl.baddbmm(a, b, c), [(3, 5), (3, 4), (4, 5)], r"bmm: expected 3-D"),
])
def test_product_shape_errors(fn, shapes, match):
    with pytest.raises((RuntimeError, ValueError), match=match):
        fn(*[dl.ones(*s) for s in shapes])


@pytest.mark.parametrize("fn, shape, match", [
    (dl.tril, (3,), r"tril: expected a tensor with at least 2 dims, got shape \(3,\)"),
    (dl.triu, (), r"triu: expected a tensor with at least 2 dims"),
    (dl.diag, (2, 2, 2), r"diag: expected a 1-D or 2-D tensor, got shape \(2, 2, 2\)"),
    (lambda x: dl.diagonal(x, 0, 1, -1), (2, 2), r"diagonal: dim1 and dim2 cannot be identical"),
    (dl.diag_embed, (), r"diag_embed: expected a tensor with at least 1 dim"),
    (dl.trace, (2, 2, 2), r"trace: expected a matrix, got shape \(2, 2, 2\)"),
    (lambda x: dl.cross(x, x), (2, 4), r"cross: no dimension of size 3 in shape \(2, 4\)"),
    (lambda x: dl.cross(x, x, dim=0), (2, 3), r"cross: dim 0 has size 2, expected 3"),
    (dl.diff, (), r"diff: expected a tensor with at least 1 dim"),
    (lambda x: dl.diff(x, n=-1), (3,), r"diff: order must be non-negative"),
])
def test_structure_errors_name_the_op(fn, shape, match):
    with pytest.raises((RuntimeError, IndexError), match=match):
        fn(dl.ones(*shape))


@pytest.mark.parametrize("a, b", [((2, 3), (4, 3)), ((2, 1, 3), (4, 3))], ids=str)
def test_cross_shapes_that_do_not_broadcast(a, b):
    with pytest.raises(RuntimeError, match=rf"cross: shapes \({a[0]}, .*\) and \(4, 3\) cannot"):
        dl.cross(dl.ones(*a), dl.ones(*b))
