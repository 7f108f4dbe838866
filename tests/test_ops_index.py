"""Indexing, gather/scatter, sort/topk: forward = NumPy, float64 gradcheck, = PyTorch's.

Integer-array indices with duplicates must add up in backward.
"""
from __future__ import annotations

import numpy as np
import pytest

import deltaflow as dl
from opcheck import assert_gradcheck, assert_matches_torch, leaf, torch

GRADCHECKED = ("GetItem", "Gather", "ScatterAdd", "IndexSelect", "MaskedFill")

X = np.random.default_rng(0).standard_normal((4, 5, 3))
MASK = np.random.default_rng(1).random((4, 5)) > 0.4
ROWS = np.array([0, 2, 2, -1, 0])           # duplicates and a negative index
COLS = np.array([[1, 1], [4, 0]])

# name: index expression (NumPy/deltaflow) and, where it differs, the torch one
INDICES = {
    "int": (2, None),
    "negative_int": (-1, None),
    "slice": (slice(1, 3), None),
    "slice_step": ((slice(None), slice(0, 5, 2)), None),
    "negative_step": ((slice(None, None, -1), slice(4, 0, -2)), "flip"),
    "ellipsis_none": ((Ellipsis, None, 1), None),
    "int_and_slice": ((1, slice(None), slice(1, None)), None),
    "bool_mask": (MASK, None),
    "bool_mask_tensor": ("mask_tensor", None),
    "int_array_dups": (ROWS, None),
    "int_array_2d": ((slice(None), COLS), None),
    "two_int_arrays": ((ROWS, np.array([0, 1, 1, 4, 0])), None),
    "list": ([3, 3, 1], None),
    "mask_on_middle_dim": ((slice(None), np.array([True, False, True, True, False])), None),
    "int_array_2d_first": (np.array([[0, 1], [1, 0]]), None),
    "arrays_split_by_slice": (([0, 1], slice(None), [2, 0]), None),
    "slice_then_array": ((slice(1, 3), [4, 4, 0]), None),
    "numpy_int": (np.int64(1), None),
    "int_tensor": ("rows_tensor", None),
}


def dl_index(name):
    idx = INDICES[name][0]
    if isinstance(idx, str):
        return dl.tensor({"mask_tensor": MASK, "rows_tensor": ROWS}[idx])
    return idx


def np_index(name):
    idx = INDICES[name][0]
    return {"mask_tensor": MASK, "rows_tensor": ROWS}.get(idx, idx) if isinstance(idx, str) \
        else idx


def torch_take(t, name):
    """The same selection in PyTorch (which has no negative slice steps: flip instead)."""
    if INDICES[name][1] == "flip":  # X[::-1, 4:0:-2]
        return t.flip(0)[:, [4, 2]]
    idx = np_index(name)
    def conv(i):
        return torch.tensor(i) if isinstance(i, np.ndarray) else i
    return t[tuple(conv(i) for i in idx)] if isinstance(idx, tuple) else t[conv(idx)]


@pytest.mark.parametrize("name", list(INDICES))
def test_getitem_forward_matches_numpy(name):
    out = leaf(X)[dl_index(name)]
    ref = X[np_index(name)]
    assert out.shape == ref.shape
    np.testing.assert_array_equal(out.numpy(), ref)


@pytest.mark.parametrize("name", list(INDICES))
def test_getitem_gradcheck(name):
    assert_gradcheck(lambda x: x[dl_index(name)], X)


@pytest.mark.parametrize("name", list(INDICES))
def test_getitem_matches_torch(name):
    assert_matches_torch(lambda x: x[dl_index(name)], lambda t: torch_take(t, name), X)


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
GATHER = [  # (input shape, dim, index)
    ((3, 4), 1, np.array([[0, 0, 3], [1, 2, 1], [3, 3, 3]])),
    ((3, 4), 0, np.array([[2, 0, 1, 1], [0, 0, 2, -1]])),
    ((2, 3, 4), -1, np.array([[[1], [0], [3]], [[2], [2], [0]]])),
    ((2, 3, 4), 1, np.array([[[0, 2, 2, 1]], [[1, 1, 0, 2]]])),  # smaller than input
]


@pytest.mark.parametrize("shape, dim, index", GATHER)
def test_gather(shape, dim, index):
    x = np.random.default_rng(0).standard_normal(shape)
    def fn(t):
        return dl.gather(t, dim, dl.tensor(index))
    ref = np.take_along_axis(x, index % shape[dim], axis=dim)
    np.testing.assert_array_equal(fn(leaf(x)).numpy(), ref)
    assert_gradcheck(fn, x)
    if torch is not None:
        ti = torch.tensor(index % shape[dim])
        assert_matches_torch(lambda t: t.gather(dim, dl.tensor(index)),
                             lambda t: torch.gather(t, dim, ti), x)


SCATTER = [  # (input shape, src shape, dim, index)
    ((3, 4), (2, 4), 0, np.array([[0, 1, 2, 0], [0, 0, 2, 2]])),
    ((3, 4), (3, 5), 1, np.array([[0, 0, 3], [1, 1, 1], [3, 2, 3]])),  # src larger
    ((2, 3, 4), (2, 3, 2), -1, np.array([[[1, 1], [0, 3], [3, 3]], [[2, 0], [2, 2], [0, 1]]])),
]


@pytest.mark.parametrize("shape, src_shape, dim, index", SCATTER)
def test_scatter_add(shape, src_shape, dim, index):
    rng = np.random.default_rng(0)
    x, src = rng.standard_normal(shape), rng.standard_normal(src_shape)
    def fn(a, s):
        return dl.scatter_add(a, dim, dl.tensor(index), s)
    ref = x.copy()
    part = src[tuple(slice(0, n) for n in index.shape)]
    np.add.at(ref, tuple(np.ogrid[tuple(slice(0, n) for n in index.shape)][:dim % len(shape)])
              + (index,) + tuple(np.ogrid[tuple(slice(0, n) for n in index.shape)]
                                 [dim % len(shape) + 1:]), part)
    np.testing.assert_allclose(fn(leaf(x), leaf(src)).numpy(), ref, rtol=1e-12)
    assert_gradcheck(fn, x, src)
    if torch is not None:
        # PyTorch's own backward fails when src is larger than index: compare values only
        ti = torch.tensor(index)
        assert_matches_torch(lambda a, s: a.scatter_add(dim, dl.tensor(index), s),
                             lambda a, s: a.scatter_add(dim, ti, s), x, src,
                             grad=src_shape == index.shape)


@pytest.mark.parametrize("dim, index", [(0, [2, 0, 2, -1]), (1, [4, 4]), (-1, [0, 1, 2])])
def test_index_select(dim, index):
    def fn(t):
        return dl.index_select(t, dim, dl.tensor(index))
    np.testing.assert_array_equal(fn(leaf(X)).numpy(), np.take(X, index, axis=dim))
    assert_gradcheck(fn, X)
    if torch is not None:
        n = X.shape[dim]
        ti = torch.tensor([i % n for i in index])
        assert_matches_torch(lambda t: t.index_select(dim, dl.tensor(index)),
                             lambda t: t.index_select(dim, ti), X)


@pytest.mark.parametrize("mask_shape", [(4, 5, 3), (5, 1), (3,)], ids=str)
def test_masked_fill(mask_shape):
    mask = np.random.default_rng(2).random(mask_shape) > 0.5
    def fn(t):
        return t.masked_fill(dl.tensor(mask), -2.5)
    np.testing.assert_array_equal(fn(leaf(X)).numpy(), np.where(mask, -2.5, X))
    assert_gradcheck(fn, X)
    if torch is not None:
        tm = torch.tensor(mask)
        assert_matches_torch(fn, lambda t: t.masked_fill(tm, -2.5), X)


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


# ----------------------------------------------------------------------- sort / topk
@pytest.mark.parametrize("kw", [{}, {"dim": 0}, {"descending": True}, {"dim": 1,
                                                                       "descending": True}],
                         ids=str)
def test_sort(kw):
    x = np.random.default_rng(3).standard_normal((3, 4))
    values, indices = dl.sort(leaf(x), **kw)
    order = np.argsort(-x if kw.get("descending") else x, axis=kw.get("dim", -1))
    np.testing.assert_array_equal(indices.numpy(), order)
    np.testing.assert_array_equal(values.numpy(),
                                  np.take_along_axis(x, order, kw.get("dim", -1)))
    assert_gradcheck(lambda t: dl.sort(t, **kw).values, x)
    if torch is not None:
        assert_matches_torch(lambda t: t.sort(**kw).values, lambda t: t.sort(**kw).values, x)
        np.testing.assert_array_equal(indices.numpy(),
                                      torch.sort(torch.tensor(x), **kw).indices.numpy())
    np.testing.assert_array_equal(dl.argsort(dl.tensor(x), **kw).numpy(), order)


@pytest.mark.parametrize("k, kw", [(2, {}), (1, {"dim": 0}), (3, {"largest": False})], ids=str)
def test_topk(k, kw):
    x = np.random.default_rng(4).standard_normal((3, 5))
    values, indices = leaf(x).topk(k, **kw)
    assert values.shape == indices.shape
    assert_gradcheck(lambda t: dl.topk(t, k, **kw).values, x)
    if torch is not None:
        tv, ti = torch.tensor(x).topk(k, **kw)
        np.testing.assert_array_equal(values.numpy(), tv.numpy())
        np.testing.assert_array_equal(indices.numpy(), ti.numpy())
        assert_matches_torch(lambda t: t.topk(k, **kw).values,
                             lambda t: t.topk(k, **kw).values, x)
    with pytest.raises(RuntimeError, match="topk: k=6"):
        dl.tensor(x).topk(6)
