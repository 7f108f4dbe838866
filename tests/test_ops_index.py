"""Indexing, gather/scatter, sort/topk: forward = NumPy, float64 gradcheck, = PyTorch's.

Integer-array indices with duplicates must add up in backward.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import deltaflow as dl
from opcheck import OpCase, check_op, leaf, normal, op_params, torch

GRADCHECKED = ("GetItem", "Gather", "ScatterAdd", "IndexSelect", "MaskedFill")
GRADGRADCHECKED = GRADCHECKED   # second derivatives: opcheck.SECOND_ORDER on every row

X = np.random.default_rng(0).standard_normal((4, 5, 3))
MASK = np.random.default_rng(1).random((4, 5)) > 0.4
ROWS = np.array([0, 2, 2, -1, 0])           # duplicates and a negative index
COLS = np.array([[1, 1], [4, 0]])


def torch_index(index):
    """The same index for PyTorch: NumPy arrays (alone or in a tuple) as torch tensors."""
    def conv(i):
        return torch.tensor(i) if isinstance(i, np.ndarray) else i
    return tuple(conv(i) for i in index) if isinstance(index, tuple) else conv(index)


def getitem(name, index):
    """x[index] on X, with the same index in deltaflow and NumPy."""
    return OpCase(name, lambda x: x[index], lambda x: x[index],
                  lambda t: t[torch_index(index)], values=(X,), tol=0)


GETITEM = [
    getitem("int", 2),
    getitem("negative_int", -1),
    getitem("slice", slice(1, 3)),
    getitem("slice_step", (slice(None), slice(0, 5, 2))),
    replace(getitem("negative_step", (slice(None, None, -1), slice(4, 0, -2))),
            torch_fn=lambda t: t.flip(0)[:, [4, 2]]),  # PyTorch has no negative steps
    getitem("ellipsis_none", (Ellipsis, None, 1)),
    getitem("int_and_slice", (1, slice(None), slice(1, None))),
    getitem("bool_mask", MASK),
    OpCase("bool_mask_tensor", lambda x, m: x[m], lambda x, m: x[m], values=(X, MASK), tol=0),
    getitem("int_array_dups", ROWS),
    getitem("int_array_2d", (slice(None), COLS)),
    getitem("two_int_arrays", (ROWS, np.array([0, 1, 1, 4, 0]))),
    getitem("list", [3, 3, 1]),
    getitem("mask_on_middle_dim", (slice(None), np.array([True, False, True, True, False]))),
    getitem("int_array_2d_first", np.array([[0, 1], [1, 0]])),
    getitem("arrays_split_by_slice", ([0, 1], slice(None), [2, 0])),
    getitem("slice_then_array", (slice(1, 3), [4, 4, 0])),
    getitem("numpy_int", np.int64(1)),
    OpCase("int_tensor", lambda x, i: x[i], lambda x, i: x[i], values=(X, ROWS), tol=0),
]


def test_duplicate_indices_add_up_in_backward():
    x = leaf(np.arange(5.0))
    x[[0, 2, 2, 2, -1, 4]].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1, 0, 3, 0, 2])
    y = leaf(np.zeros((3, 2)))
    w = np.arange(8.0).reshape(4, 2)
    (y[dl.tensor([1, 1, 0, 1])] * dl.tensor(w)).sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [[4, 5], [0 + 2 + 6, 1 + 3 + 7], [0, 0]])


def test_negative_step_gradient_lands_in_place():
    x = leaf(np.arange(6.0))
    w = np.array([10.0, 20.0, 30.0])
    (x[::-2] * dl.tensor(w)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 30, 0, 20, 0, 10])


def test_index_errors_name_the_shape():
    with pytest.raises(IndexError, match=r"index: .*\(2, 3\)"):
        dl.ones(2, 3)[5]


def test_setitem_writes_data():
    x = dl.zeros(2, 3)
    x[0, 1:] = 5.0
    x[dl.tensor([False, True])] = dl.ones(3)
    np.testing.assert_array_equal(x.numpy(), [[0, 5, 5], [1, 1, 1]])


# ----------------------------------------------------------------- gather / scatter
def gather(shape, dim, index):
    """gather along ``dim`` of a ``shape`` input (PyTorch takes no negative indices)."""
    n = shape[dim]
    return OpCase(f"gather_dim{dim}", lambda x, i: dl.gather(x, dim, i),
                  lambda x, i: np.take_along_axis(x, i % n, dim),
                  lambda x, i: torch.gather(x, dim, i % n),
                  values=(normal(np.random.default_rng(0), shape), np.array(index)), tol=0)


def np_scatter_add(x, dim, index, src):
    out = x.copy()
    for at in np.ndindex(index.shape):
        target = list(at)
        target[dim] = index[at]
        out[tuple(target)] += src[at]
    return out


def scatter_add(shape, src_shape, dim, index):
    """scatter_add along ``dim``; PyTorch is given only the part of src that index covers
    (its own backward fails for a larger src)."""
    rng = np.random.default_rng(0)
    def used(s, i):
        return s[tuple(slice(0, n) for n in i.shape)]
    return OpCase(f"scatter_add_dim{dim}", lambda x, i, s: dl.scatter_add(x, dim, i, s),
                  lambda x, i, s: np_scatter_add(x, dim, i, s),
                  lambda x, i, s: x.scatter_add(dim, i, used(s, i)),
                  values=(normal(rng, shape), np.array(index), normal(rng, src_shape)))


def index_select(dim, index):
    n = X.shape[dim]
    return OpCase(f"index_select_dim{dim}", lambda x, i: dl.index_select(x, dim, i),
                  lambda x, i: np.take(x, i, axis=dim),
                  lambda x, i: x.index_select(dim, i % n), values=(X, np.array(index)), tol=0)


def masked_fill(mask_shape):
    mask = np.random.default_rng(2).random(mask_shape) > 0.5
    return OpCase("masked_fill", lambda x, m: x.masked_fill(m, -2.5),
                  lambda x, m: np.where(m, -2.5, x), values=(X, mask), tol=0)


def np_topk(x, k, dim=-1, largest=True):
    order = np.take(np.argsort(-x if largest else x, axis=dim, kind="stable"), np.arange(k),
                    axis=dim)
    return np.take_along_axis(x, order, dim), order


def np_sort(x, dim=-1, descending=False):
    order = np.argsort(-x if descending else x, axis=dim)
    return np.take_along_axis(x, order, dim), order


SORT_KW = [{}, {"dim": 0}, {"descending": True}, {"dim": 1, "descending": True}]
TOPK_KW = [(2, {}), (1, {"dim": 0}), (3, {"largest": False})]

INDEX_OPS = [  # sort and topk return (values, indices); argsort only indices
    gather((3, 4), 1, [[0, 0, 3], [1, 2, 1], [3, 3, 3]]),
    gather((3, 4), 0, [[2, 0, 1, 1], [0, 0, 2, -1]]),
    gather((2, 3, 4), -1, [[[1], [0], [3]], [[2], [2], [0]]]),
    gather((2, 3, 4), 1, [[[0, 2, 2, 1]], [[1, 1, 0, 2]]]),  # index smaller than the input
    scatter_add((3, 4), (2, 4), 0, [[0, 1, 2, 0], [0, 0, 2, 2]]),
    scatter_add((3, 4), (3, 5), 1, [[0, 0, 3], [1, 1, 1], [3, 2, 3]]),  # src larger
    scatter_add((2, 3, 4), (2, 3, 2), -1, [[[1, 1], [0, 3], [3, 3]], [[2, 0], [2, 2], [0, 1]]]),
    index_select(0, [2, 0, 2, -1]),
    index_select(1, [4, 4]),
    index_select(-1, [0, 1, 2]),
    masked_fill((4, 5, 3)),
    masked_fill((5, 1)),
    masked_fill((3,)),
    *[OpCase(f"sort{kw}", lambda x, kw=kw: dl.sort(x, **kw), lambda x, kw=kw: np_sort(x, **kw),
             lambda t, kw=kw: t.sort(**kw)).at((3, 4), seed=3) for kw in SORT_KW],
    *[OpCase(f"argsort{kw}", lambda x, kw=kw: dl.argsort(x, **kw),
             lambda x, kw=kw: np_sort(x, **kw)[1], lambda t, kw=kw: torch.argsort(t, **kw),
             grad=False).at((3, 4), seed=3) for kw in SORT_KW],
    *[OpCase(f"topk{k}{kw}", lambda x, k=k, kw=kw: x.topk(k, **kw),
             lambda x, k=k, kw=kw: np_topk(x, k, **kw)).at((3, 5), seed=4) for k, kw in TOPK_KW],
]

CASES = GETITEM + INDEX_OPS


@pytest.mark.parametrize("case, check", op_params(CASES))
def test_op(case, check):
    check_op(case, check)


@pytest.mark.parametrize("call, match", [
    (lambda x: dl.gather(x, 1, dl.tensor([[0, 5]])), "gather: index out of range"),
    (lambda x: dl.gather(x, 1, dl.tensor([0, 1])), "gather: index has 1 dims"),
    (lambda x: dl.scatter_add(x, 0, dl.tensor([[3]]), dl.ones(1, 1)), "scatter_add: index out"),
    (lambda x: dl.index_select(x, 0, dl.tensor([[0]])), "index_select: index must be 1-D"),
    (lambda x: dl.index_select(x, 1, dl.tensor([3])), "index_select: index out of range"),
    (lambda x: x.masked_fill(dl.tensor([1, 0, 1]), 0.0), "masked_fill: mask must be a bool"),
])
def test_index_op_errors(call, match):
    with pytest.raises((IndexError, RuntimeError, TypeError), match=match):
        call(dl.ones(2, 3))


def test_topk_k_larger_than_the_dim_is_named():
    with pytest.raises(RuntimeError, match="topk: k=6"):
        dl.ones(3, 5).topk(6)
