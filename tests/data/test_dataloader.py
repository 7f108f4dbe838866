"""Datasets, collation and the DataLoader: order, determinism, last batch, prefetch."""
from __future__ import annotations

import collections
import gc
import threading
import time

import numpy as np
import pytest

import deltaflow as dl
from deltaflow.data import (
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    Subset,
    TensorDataset,
    default_collate,
    random_split,
)


def _ds(n=10):
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    return TensorDataset(x, np.arange(n))


class Squares(Dataset):
    """A plain map-style dataset (no get_batch): exercises the per-sample path."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"x": np.full(2, i, dtype=np.float64), "y": i * i, "name": f"s{i}"}


def _labels(loader):
    return np.concatenate([b[1].numpy() for b in loader])


def test_tensor_dataset_items_and_errors():
    ds = _ds(4)
    x, y = ds[2]
    assert isinstance(x, dl.Tensor) and x.tolist() == [6.0, 7.0, 8.0] and int(y) == 2
    assert len(ds) == 4
    with pytest.raises(ValueError, match="same first dimension"):
        TensorDataset(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="at least one tensor"):
        TensorDataset()


@pytest.mark.parametrize("n,bs,drop_last,sizes", [
    (10, 3, False, [3, 3, 3, 1]), (10, 3, True, [3, 3, 3]), (9, 3, True, [3, 3, 3]),
    (2, 5, False, [2]), (2, 5, True, []),
])
def test_last_batch_handling(n, bs, drop_last, sizes):
    for ds in (_ds(n), Squares(n)):
        loader = DataLoader(ds, batch_size=bs, drop_last=drop_last)
        got = [len(b[1]) if isinstance(b, tuple) else len(b["y"]) for b in loader]
        assert got == sizes and len(loader) == len(sizes)


def test_sequential_order_and_batch_content():
    batches = list(DataLoader(_ds(5), batch_size=2))
    assert [b[1].tolist() for b in batches] == [[0, 1], [2, 3], [4]]
    x, y = batches[1]
    assert x.dtype == np.float32 and y.dtype == np.int64 and x.shape == (2, 3)
    np.testing.assert_array_equal(x.numpy(), [[6, 7, 8], [9, 10, 11]])


def test_shuffle_is_a_permutation_and_reproducible():
    a = DataLoader(_ds(50), batch_size=8, shuffle=True, generator=123)
    b = DataLoader(_ds(50), batch_size=8, shuffle=True, generator=np.random.default_rng(123))
    e1, e2 = _labels(a), _labels(a)
    assert sorted(e1) == list(range(50)) and not np.array_equal(e1, np.arange(50))
    assert not np.array_equal(e1, e2), "every epoch gets a new order"
    np.testing.assert_array_equal(e1, _labels(b))
    np.testing.assert_array_equal(e2, _labels(b))
    for batch in DataLoader(_ds(50), batch_size=8, shuffle=True, generator=5):
        x, y = batch
        np.testing.assert_array_equal(x.numpy()[:, 0], 3 * y.numpy())  # rows stay paired


def test_shuffle_follows_manual_seed():
    dl.manual_seed(7)
    first = _labels(DataLoader(_ds(30), batch_size=4, shuffle=True))
    dl.manual_seed(7)
    again = _labels(DataLoader(_ds(30), batch_size=4, shuffle=True))
    dl.manual_seed(8)
    other = _labels(DataLoader(_ds(30), batch_size=4, shuffle=True))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_state_dict_restores_the_epoch_order():
    loader = DataLoader(_ds(40), batch_size=6, shuffle=True, generator=1)
    _labels(loader)
    saved = loader.state_dict()
    expected = [_labels(loader), _labels(loader)]
    import json
    resumed = DataLoader(_ds(40), batch_size=6, shuffle=True, generator=999)
    resumed.load_state_dict(json.loads(json.dumps(saved)))
    for want in expected:
        np.testing.assert_array_equal(_labels(resumed), want)
    assert DataLoader(_ds(4)).state_dict() == {}


def test_default_collate_structures():
    Point = collections.namedtuple("Point", "x y")
    batch = default_collate([{"a": 1, "b": 2.5, "c": True, "d": np.float64(1.0),
                              "p": Point(np.zeros(2), dl.ones(3)), "s": "x"}] * 3)
    assert batch["a"].dtype == np.int64 and batch["b"].dtype == np.float32
    assert batch["c"].dtype == np.bool_ and batch["d"].dtype == np.float64
    assert isinstance(batch["p"], Point) and batch["p"].y.shape == (3, 3)
    assert batch["p"].x.dtype == np.float64 and batch["s"] == ["x", "x", "x"]
    with pytest.raises(RuntimeError, match="different shapes"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(TypeError, match="collate_fn"):
        default_collate([object()])


def test_per_sample_path_and_custom_collate():
    batches = list(DataLoader(Squares(5), batch_size=2))
    assert batches[0]["y"].tolist() == [0, 1] and batches[2]["name"] == ["s4"]
    assert batches[1]["x"].shape == (2, 2) and batches[1]["x"].dtype == np.float64
    loader = DataLoader(_ds(4), batch_size=2, collate_fn=lambda samples: len(samples))
    assert list(loader) == [2, 2]


def test_fast_path_is_used_for_tensor_dataset(monkeypatch):
    ds = _ds(10)
    monkeypatch.setattr(TensorDataset, "__getitem__",
                        lambda self, i: pytest.fail("per-sample access on the fast path"))
    assert [len(b[0]) for b in DataLoader(ds, batch_size=4, shuffle=True, generator=0)] == \
        [4, 4, 2]
    sub = Subset(ds, [9, 8, 7, 1])
    assert [b[1].tolist() for b in DataLoader(sub, batch_size=3)] == [[9, 8, 7], [1]]


def test_subset_concat_and_random_split():
    ds = _ds(10)
    sub = Subset(ds, [3, 1])
    assert len(sub) == 2 and int(sub[0][1]) == 3
    assert not hasattr(Subset(Squares(3), [0]), "get_batch")
    cat = ds + _ds(4)
    assert isinstance(cat, ConcatDataset) and len(cat) == 14
    assert int(cat[10][1]) == 0 and int(cat[-1][1]) == 3 and int(cat[9][1]) == 9
    with pytest.raises(IndexError, match="out of range"):
        cat[14]
    assert [b[1].tolist() for b in DataLoader(cat, batch_size=6)][1] == [6, 7, 8, 9, 0, 1]

    parts = random_split(ds, [0.5, 0.3, 0.2], generator=0)
    assert [len(p) for p in parts] == [5, 3, 2]
    assert sorted(np.concatenate([p.indices for p in parts]).tolist()) == list(range(10))
    np.testing.assert_array_equal(random_split(ds, [7, 3], generator=4)[0].indices,
                                  random_split(ds, [7, 3], generator=4)[0].indices)
    assert [len(p) for p in random_split(_ds(11), [0.5, 0.5], generator=0)] == [6, 5]
    with pytest.raises(ValueError, match="summing"):
        random_split(ds, [4, 4])


def test_iterable_dataset():
    class Stream(IterableDataset):
        def __iter__(self):
            return iter(range(7))

    assert [b.tolist() for b in DataLoader(Stream(), batch_size=3)] == [[0, 1, 2], [3, 4, 5],
                                                                        [6]]
    assert len(list(DataLoader(Stream(), batch_size=3, drop_last=True))) == 2
    with pytest.raises(ValueError, match="shuffle"):
        DataLoader(Stream(), shuffle=True)
    with pytest.raises(TypeError, match="no len"):
        len(DataLoader(Stream()))


def test_prefetch_same_batches_errors_and_early_stop():
    plain = DataLoader(_ds(23), batch_size=4, shuffle=True, generator=3)
    ahead = DataLoader(_ds(23), batch_size=4, shuffle=True, generator=3, prefetch=2)
    for _ in range(2):
        for a, b in zip(plain, ahead, strict=True):
            np.testing.assert_array_equal(a[0].numpy(), b[0].numpy())

    class Broken(Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            if i == 2:
                raise KeyError("sample 2 is broken")
            return i

    with pytest.raises(KeyError, match="sample 2"):
        list(DataLoader(Broken(), batch_size=1, prefetch=1))

    before = threading.active_count()
    it = iter(DataLoader(_ds(100), batch_size=1, prefetch=2))
    next(it)
    del it
    gc.collect()
    deadline = time.time() + 5
    while threading.active_count() > before and time.time() < deadline:
        time.sleep(0.05)
    assert threading.active_count() <= before, "prefetch thread must stop when dropped"


def test_loader_argument_errors():
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(_ds(), batch_size=0)
    with pytest.raises(ValueError, match="prefetch"):
        DataLoader(_ds(), prefetch=-1)
    with pytest.raises(TypeError, match="generator"):
        DataLoader(_ds(), shuffle=True, generator="seed")
