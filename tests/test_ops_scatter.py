"""The scatter and index family: scatter (src or value, reduce), scatter_reduce, index_add,
index_fill, index_copy, masked_scatter, masked_select, nonzero/argwhere, and their in-place
forms. Forward = NumPy, float64 gradcheck, forward + gradients = PyTorch's; repeated
indices add up in backward."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import deltaflow as dl
from opcheck import OpCase, check_op, distinct, leaf, op_params, torch

GRADCHECKED = ("Scatter", "ScatterReduce", "IndexAdd")
GRADGRADCHECKED = GRADCHECKED   # second derivatives: opcheck.SECOND_ORDER on every row

RNG = np.random.default_rng(0)
X = distinct(RNG, (3, 5))
SRC = distinct(RNG, (2, 5))
BIG_SRC = distinct(RNG, (3, 6))
UNIQUE_ROWS = np.array([[0, 1, 2, 0, 1], [2, 0, 1, 1, 0]])   # no column repeats a row
REPEATS = np.array([[0, 1, 2, 0, 1], [0, 1, 0, 0, 2]])       # columns 0, 1, 3 repeat a row


def np_scatter(x, dim, index, src, reduce=None, include_self=True):
    """The reference loop: every index position writes or reduces into its target."""
    members = {}
    for at in np.ndindex(index.shape):
        target = list(at)
        target[dim] = index[at]
        members.setdefault(tuple(target), []).append(src[at])
    out = x.copy()
    for target, values in members.items():
        if reduce is None:
            out[target] = values[-1]
            continue
        values = ([x[target]] if include_self else []) + values
        out[target] = {"sum": np.sum, "prod": np.prod, "mean": np.mean, "amax": np.max,
                       "amin": np.min}[reduce](values)
    return out


def used(src, index):
    """The part of src that index covers (PyTorch's scatter backward wants no more)."""
    return src[tuple(slice(0, n) for n in index.shape)]


def scatter(name, index, src, fn, torch_fn, reduce=None, include_self=True, dim=0):
    return OpCase(name, fn, lambda x, i, s: np_scatter(x, dim, i, s, reduce, include_self),
                  torch_fn, values=(X, index, src))


SCATTERS = [
    scatter("scatter", UNIQUE_ROWS, SRC, lambda x, i, s: x.scatter(0, i, s), None),
    scatter("scatter_src_larger", UNIQUE_ROWS, BIG_SRC, lambda x, i, s: dl.scatter(x, 0, i, s),
            lambda x, i, s: torch.scatter(x, 0, i, used(s, i))),
    scatter("scatter_dim1", UNIQUE_ROWS[:, :3], SRC, lambda x, i, s: x.scatter(-1, i, s),
            lambda x, i, s: x.scatter(-1, i, used(s, i)), dim=1),
    replace(scatter("scatter_twice", REPEATS[:1].repeat(2, 0), SRC,  # the first write loses
                    lambda x, i, s: x.scatter(0, i, s), None), gradcheck=False),
    scatter("scatter_reduce_add", REPEATS, SRC, lambda x, i, s: x.scatter(0, i, s, reduce="add"),
            lambda x, i, s: x.scatter_reduce(0, i, s, "sum"), reduce="sum"),
    scatter("scatter_reduce_multiply", REPEATS, SRC,
            lambda x, i, s: x.scatter(0, i, s, reduce="multiply"),
            lambda x, i, s: x.scatter_reduce(0, i, s, "prod"), reduce="prod"),
    scatter("scatter_", UNIQUE_ROWS, SRC, lambda x, i, s: (x * 1).scatter_(0, i, s),
            lambda x, i, s: (x * 1).scatter_(0, i, s)),
    scatter("scatter_add_", REPEATS, SRC, lambda x, i, s: (x * 1).scatter_add_(0, i, s),
            lambda x, i, s: (x * 1).scatter_add_(0, i, s), reduce="sum"),
    OpCase("scatter_value", lambda x, i: x.scatter(1, i, -2.5),
           lambda x, i: np_scatter(x, 1, i, np.full(i.shape, -2.5)),
           lambda x, i: x.scatter(1, i, -2.5), values=(X, UNIQUE_ROWS[:, :3])),
    *[scatter(f"scatter_reduce_{how}{'' if keep else '_without_self'}", REPEATS, SRC,
              lambda x, i, s, how=how, keep=keep: x.scatter_reduce(0, i, s, how,
                                                                   include_self=keep),
              None, reduce=how, include_self=keep)
      for how in ("sum", "prod", "mean", "amax", "amin") for keep in (True, False)],
    scatter("scatter_reduce_dim1", REPEATS, SRC,
            lambda x, i, s: dl.scatter_reduce(x, 1, i, s, "mean", include_self=False),
            lambda x, i, s: torch.scatter_reduce(x, 1, i, s, "mean", include_self=False),
            reduce="mean", include_self=False, dim=1),
    scatter("scatter_reduce_", REPEATS, SRC,
            lambda x, i, s: (x * 1).scatter_reduce_(0, i, s, "amax"),
            lambda x, i, s: (x * 1).scatter_reduce_(0, i, s, "amax"), reduce="amax"),
]

ZEROS_X = np.array([[0.0, 2.0, 0.0, 1.5], [3.0, 0.0, 1.0, -2.0]])
ZEROS_SRC = np.array([[0.0, 1.0, 0.0, 0.5], [2.0, 0.0, 0.0, 3.0], [1.5, 0.0, 2.0, 0.0]])
ZEROS_INDEX = np.array([[0, 0, 1, 1], [0, 1, 1, 1], [1, 1, 0, 0]])
PROD_WITH_ZEROS = [  # a polynomial: finite differences hold at the zeros
    OpCase(f"scatter_reduce_prod_zeros{'' if keep else '_without_self'}",
           lambda x, i, s, keep=keep: x.scatter_reduce(0, i, s, "prod", include_self=keep),
           lambda x, i, s, keep=keep: np_scatter(x, 0, i, s, "prod", keep),
           values=(ZEROS_X, ZEROS_INDEX, ZEROS_SRC))
    for keep in (True, False)]

TIES_X = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
TIES_SRC = np.array([[1.0, 2.0, 3.0], [1.0, 0.5, 3.0]])
AT_TIES = [replace(op, gradcheck=False) for op in [  # amax/amin split among tied members
    OpCase(f"scatter_reduce_{how}_ties", lambda x, i, s, how=how: x.scatter_reduce(0, i, s, how),
           lambda x, i, s, how=how: np_scatter(x, 0, i, s, how),
           values=(TIES_X, np.zeros((2, 3), np.int64), TIES_SRC))
    for how in ("amax", "amin")]]

def np_index_add(x, dim, index, src):
    out = np.moveaxis(x.copy(), dim, 0)
    np.add.at(out, index, np.moveaxis(src, dim, 0))
    return np.moveaxis(out, 0, dim)


def np_index_fill(x, dim, index, value):
    out = np.moveaxis(x.copy(), dim, 0)
    out[index] = value
    return np.moveaxis(out, 0, dim)


def np_index_copy(x, dim, index, src):
    out = np.moveaxis(x.copy(), dim, 0)
    out[index] = np.moveaxis(src, dim, 0)
    return np.moveaxis(out, 0, dim)


SOURCE = distinct(RNG, (3, 2))
SLICES = [
    OpCase("index_add", lambda x, s: x.index_add(1, dl.tensor([4, 0]), s),
           lambda x, s: np_index_add(x, 1, [4, 0], s),
           lambda x, s: x.index_add(1, torch.tensor([4, 0]), s), values=(X, SOURCE)),
    OpCase("index_add_repeats_alpha", lambda x, s: dl.index_add(x, 1, dl.tensor([2, 2]), s,
                                                                alpha=-1.5),
           lambda x, s: np_index_add(x, 1, [2, 2], -1.5 * s),
           lambda x, s: torch.index_add(x, 1, torch.tensor([2, 2]), s, alpha=-1.5),
           values=(X, SOURCE)),
    OpCase("index_add_dim0", lambda x, s: x.index_add(0, dl.tensor([1, 1, 0, 2]), s),
           lambda x, s: np_index_add(x, 0, [1, 1, 0, 2], s),
           lambda x, s: x.index_add(0, torch.tensor([1, 1, 0, 2]), s),
           values=(X, distinct(RNG, (4, 5)))),
    OpCase("index_add_", lambda x, s: (x * 1).index_add_(1, dl.tensor([3, 3]), s),
           lambda x, s: np_index_add(x, 1, [3, 3], s),
           lambda x, s: (x * 1).index_add_(1, torch.tensor([3, 3]), s), values=(X, SOURCE)),
    OpCase("index_fill", lambda x: x.index_fill(1, dl.tensor([0, 3, 3]), -1.0),
           lambda x: np_index_fill(x, 1, [0, 3], -1.0),
           lambda x: x.index_fill(1, torch.tensor([0, 3, 3]), -1.0), values=(X,)),
    OpCase("index_fill_tensor_value", lambda x, v: dl.index_fill(x, 0, dl.tensor([2]), v),
           lambda x, v: np_index_fill(x, 0, [2], v),
           lambda x, v: torch.index_fill(x, 0, torch.tensor([2]), v), values=(X, np.array(0.5))),
    OpCase("index_fill_", lambda x: (x * 1).index_fill_(0, dl.tensor([1]), 2.0),
           lambda x: np_index_fill(x, 0, [1], 2.0),
           lambda x: (x * 1).index_fill_(0, torch.tensor([1]), 2.0), values=(X,)),
    OpCase("index_copy", lambda x, s: x.index_copy(1, dl.tensor([4, 1]), s),
           lambda x, s: np_index_copy(x, 1, [4, 1], s),
           lambda x, s: x.index_copy(1, torch.tensor([4, 1]), s), values=(X, SOURCE)),
    OpCase("index_copy_", lambda x, s: (x * 1).index_copy_(1, dl.tensor([0, 2]), s),
           lambda x, s: np_index_copy(x, 1, [0, 2], s),
           lambda x, s: (x * 1).index_copy_(1, torch.tensor([0, 2]), s), values=(X, SOURCE)),
]


MASK = RNG.random((3, 5)) > 0.5
COLUMNS = np.array([True, False, True, True, False])


def np_masked_scatter(x, mask, src):
    out, mask = np.broadcast_arrays(x, mask)
    out = out.copy()
    out[mask] = src.reshape(-1)[:mask.sum()]
    return out


def np_masked_select(x, mask):
    x, mask = np.broadcast_arrays(x, mask)
    return x[mask]


MASKS = [
    OpCase("masked_scatter", lambda x, m, s: x.masked_scatter(m, s), np_masked_scatter,
           values=(X, MASK, distinct(RNG, (4, 5)))),
    OpCase("masked_scatter_broadcast_mask", lambda x, m, s: dl.masked_scatter(x, m, s),
           np_masked_scatter, lambda x, m, s: torch.masked_scatter(x, m, s),
           values=(X, COLUMNS, distinct(RNG, (10,)))),
    OpCase("masked_scatter_broadcast_input", lambda x, m, s: x.masked_scatter(m, s),
           np_masked_scatter, values=(X[:1], MASK, distinct(RNG, (15,)))),
    OpCase("masked_scatter_", lambda x, m, s: (x * 1).masked_scatter_(m, s), np_masked_scatter,
           lambda x, m, s: (x * 1).masked_scatter_(m, s), values=(X, MASK, distinct(RNG, (15,)))),
    OpCase("masked_select", lambda x, m: x.masked_select(m), np_masked_select, values=(X, MASK)),
    OpCase("masked_select_broadcast", lambda x, m: dl.masked_select(x, m), np_masked_select,
           lambda x, m: torch.masked_select(x, m), values=(X[:, :1], MASK)),
]

SPARSE = np.array([[0.0, 1.5, 0.0], [-2.0, 0.0, 0.0], [0.0, 0.0, 3.0]])
NONZERO = [replace(op, grad=False) for op in [
    OpCase("nonzero", lambda x: x.nonzero(), np.argwhere, values=(SPARSE,)),
    OpCase("nonzero_as_tuple", lambda x: dl.nonzero(x, as_tuple=True), np.nonzero,
           lambda x: torch.nonzero(x, as_tuple=True), values=(SPARSE,)),
    OpCase("argwhere", lambda x: dl.argwhere(x), np.argwhere, lambda x: torch.argwhere(x),
           values=(SPARSE.astype(np.int64),)),
    OpCase("nonzero_3d", lambda x: x.nonzero(), np.argwhere, values=(MASK.reshape(3, 5, 1),)),
    OpCase("nonzero_0d", lambda x: x.nonzero(), None, values=(np.array(2.0),)),
    OpCase("nonzero_0d_as_tuple", lambda x: x.nonzero(as_tuple=True), None,
           values=(np.array(0.0),)),
    OpCase("nonzero_none", lambda x: x.nonzero(), np.argwhere, values=(np.zeros((2, 3)),)),
]]

CASES = SCATTERS + PROD_WITH_ZEROS + AT_TIES + SLICES + MASKS + NONZERO


@pytest.mark.parametrize("case, check", op_params(CASES))
def test_op(case, check):
    check_op(case, check)


def test_scatter_src_gradient_reaches_every_write_even_the_losing_one():
    x, src = leaf(np.zeros(3)), leaf([1.0, 2.0])
    x.scatter(0, dl.tensor([1, 1]), src).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1, 0, 1])
    np.testing.assert_array_equal(src.grad.numpy(), [1, 1])


def test_index_add_gradient_of_source_at_repeated_indices():
    x, src = leaf(np.zeros((2, 3))), leaf(np.ones((2, 2)))
    w = np.arange(6.0).reshape(2, 3)
    (x.index_add(1, dl.tensor([2, 2]), src, alpha=2) * dl.tensor(w)).sum().backward()
    np.testing.assert_array_equal(src.grad.numpy(), [[4, 4], [10, 10]])


@pytest.mark.parametrize("call, error, match", [
    (lambda x: x.scatter(0, dl.tensor([[3]]), dl.ones(1, 1)), IndexError,
     "scatter: index out of range for dim 0 of size 2"),
    (lambda x: x.scatter(0, dl.tensor([0]), dl.ones(1)), RuntimeError,
     "scatter: index has 1 dims but the input has 2"),
    (lambda x: x.scatter(0, dl.tensor([[0]], dtype=dl.int32), 1.0), RuntimeError,
     "scatter: expected an int64 index"),
    (lambda x: x.scatter(0, dl.tensor([[0, 1]]), dl.ones(1, 1)), RuntimeError,
     r"scatter: index of shape \(1, 2\) is larger"),
    (lambda x: x.scatter(0, dl.tensor([[0]])), TypeError, "scatter: give exactly one"),
    (lambda x: x.scatter(0, dl.tensor([[0]]), 1.0, reduce="max"), ValueError,
     "scatter: reduce must be"),
    (lambda x: x.scatter_reduce(0, dl.tensor([[0]]), dl.ones(1, 1), "max"), ValueError,
     "scatter_reduce: reduce must be one of"),
    (lambda x: x.scatter_reduce(0, dl.tensor([[0]]), dl.ones(1, 1, dtype=dl.float64), "sum"),
     RuntimeError, "scatter_reduce: expected the source to have the input's dtype"),
    (lambda x: x.index_add(1, dl.tensor([0, 1]), dl.ones(2, 3)), RuntimeError,
     r"index_add: source of shape \(2, 3\) does not match the expected \(2, 2\)"),
    (lambda x: x.index_add(1, dl.tensor([[0]]), dl.ones(2, 1)), IndexError,
     "index_add: index must be a 1-D integer tensor"),
    (lambda x: x.index_copy(0, dl.tensor([2]), dl.ones(1, 3)), IndexError,
     "index_copy: index out of range for dim 0 of size 2"),
    (lambda x: x.index_fill(0, dl.tensor([0]), dl.ones(2)), RuntimeError,
     "index_fill: value must be a number or a 0-d tensor"),
    (lambda x: x.masked_scatter(dl.ones(2, 3) > 0, dl.ones(5)), RuntimeError,
     "masked_scatter: the mask selects 6 elements but the source has only 5"),
    (lambda x: x.masked_select(dl.ones(2, 3)), TypeError, "masked_select: mask must be a bool"),
    (lambda x: x.masked_select(dl.ones(4) > 0), RuntimeError,
     r"masked_select: mask of shape \(4,\) cannot be broadcast"),
])
def test_errors_name_the_op(call, error, match):
    with pytest.raises(error, match=match):
        call(dl.ones(2, 3))
