"""Built-in datasets: digits, IDX/MNIST reading (incl. corrupt files), csv, text."""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

import deltaflow as dl
from deltaflow.data import DataLoader, datasets

SHARED_MNIST = Path(__file__).parents[2] / "../shared/data/mnist"
SHARED_TEXT = Path(__file__).parents[2] / "../shared/data/text/tinyshakespeare.txt"


def test_digits_shapes_range_and_determinism():
    pytest.importorskip("sklearn")
    d = datasets.digits()
    assert (len(d.train), len(d.test)) == (1438, 359)
    assert d.num_classes == 10 and d.input_shape == (64,) and d.classes == list(range(10))
    x, y = d.train.tensors
    assert x.dtype == np.float32 and y.dtype == np.int64 and x.shape == (1438, 64)
    assert float(x.numpy().min()) == 0.0 and float(x.numpy().max()) == 1.0
    assert np.bincount(d.test.tensors[1].numpy()).min() >= 35  # stratified
    again = datasets.digits()
    np.testing.assert_array_equal(again.test.tensors[0].numpy(), d.test.tensors[0].numpy())
    images = datasets.digits(flatten=False)
    assert images.input_shape == (1, 8, 8) and images.train.tensors[0].shape == (1438, 1, 8, 8)
    train, test = d
    assert train is d.train and test is d.test
    xb, yb = next(iter(DataLoader(d.train, batch_size=32, shuffle=True, generator=0)))
    assert xb.shape == (32, 64) and yb.shape == (32,)


def _idx_bytes(array, type_code=0x08, dims=None):
    dims = array.shape if dims is None else dims
    header = bytes([0, 0, type_code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def _write_mnist(folder, n_train=5, n_test=3, gz=True, size=4):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (n_train, size, size), np.uint8),
              "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, np.uint8),
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, size, size), np.uint8),
              "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, np.uint8)}
    for name, a in arrays.items():
        data = _idx_bytes(a)
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return arrays


@pytest.mark.parametrize("code,dtype", [(0x08, np.uint8), (0x09, np.int8), (0x0B, np.int16),
                                        (0x0C, np.int32), (0x0D, np.float32),
                                        (0x0E, np.float64)])
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_types(tmp_path, code, dtype, gz):
    a = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    data = _idx_bytes(a, code)
    path = tmp_path / "a.idx"
    path.write_bytes(gzip.compress(data) if gz else data)
    got = datasets.read_idx(path)
    assert got.dtype == dtype and got.dtype.isnative
    np.testing.assert_array_equal(got, a)


def test_read_idx_rejects_corrupt_files(tmp_path):
    good = _idx_bytes(np.zeros((2, 3), np.uint8))
    cases = {
        "bad-magic": (b"\x01" + good[1:], "bad magic number"),
        "bad-type": (good[:2] + b"\x07" + good[3:], "bad magic number"),
        "truncated-data": (good[:-1], r"shape \(2, 3\).*18 bytes in all.*17 bytes"),
        "extra-data": (good + b"\x00", "has 19 bytes"),
        "truncated-header": (good[:6], "truncated IDX header"),
        "empty": (b"", "bad magic number none"),
        "bad-gzip": (gzip.compress(good)[:-6], "corrupt gzip data"),
    }
    for name, (data, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ValueError, match=message) as info:
            datasets.read_idx(path)
        assert name in str(info.value), "the error names the file"


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_from_small_files(tmp_path, gz):
    arrays = _write_mnist(tmp_path / "mnist", gz=gz)
    m = datasets.mnist(tmp_path)
    assert (len(m.train), len(m.test), m.input_shape, m.num_classes) == (5, 3, (16,), 10)
    x, y = m.train.tensors
    np.testing.assert_allclose(x.numpy(), arrays["train-images-idx3-ubyte"].reshape(5, 16) / 255,
                               rtol=1e-6)
    np.testing.assert_array_equal(y.numpy(), arrays["train-labels-idx1-ubyte"])
    assert x.dtype == np.float32 and y.dtype == np.int64
    images = datasets.mnist(tmp_path / "mnist", flatten=False)  # the folder itself works too
    assert images.input_shape == (1, 4, 4)


def test_dataset_folder_lookup(tmp_path, monkeypatch):
    _write_mnist(tmp_path / "data" / "fashion-mnist", gz=False)
    monkeypatch.setenv("DELTAFLOW_DATA", str(tmp_path / "data"))
    f = datasets.fashion_mnist()
    assert f.classes[9] == "Ankle boot" and len(f.train) == 5
    with pytest.raises(FileNotFoundError) as info:
        datasets.mnist()
    message = str(info.value)
    assert str(tmp_path / "data" / "mnist") in message
    for name in datasets.IDX_FILES:
        assert name in message
    monkeypatch.delenv("DELTAFLOW_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with pytest.raises(FileNotFoundError, match=r"\.cache/deltaflow/mnist"):
        datasets.mnist()


def test_mnist_inconsistent_files(tmp_path):
    _write_mnist(tmp_path, gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx_bytes(np.zeros(2, np.uint8)))
    with pytest.raises(ValueError, match="expected 3 labels"):
        datasets.mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx_bytes(np.full(3, 10, np.uint8)))
    with pytest.raises(ValueError, match="label 10 out of range"):
        datasets.mnist(tmp_path)


@pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason="../shared/data/mnist not present")
def test_real_mnist():
    m = datasets.mnist(SHARED_MNIST)
    assert (len(m.train), len(m.test), m.input_shape) == (60000, 10000, (784,))
    x, y = m.test.tensors
    assert 0.0 <= float(x.numpy().min()) and float(x.numpy().max()) <= 1.0
    assert np.bincount(y.numpy()).tolist()[:2] == [980, 1135]


def test_csv_classification_and_regression(tmp_path):
    path = tmp_path / "iris.csv"
    rows = ["a,b,species"] + [f"{i},{i * 0.5},{['setosa', 'virginica'][i % 2]}"
                              for i in range(10)]
    path.write_text("\n".join(rows) + "\n")
    s = datasets.csv(path, target="species")
    assert s.classes == ["setosa", "virginica"] and s.num_classes == 2 and s.input_shape == (2,)
    assert len(s.train) + len(s.test) == 10 and len(s.test) == 2
    x, y = s.train.tensors
    assert x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(y.numpy(), (x.numpy()[:, 0] % 2).astype(np.int64))

    nums = tmp_path / "nums.csv"
    nums.write_text("".join(f"{i},{i / 7:.4f},{i % 3}\n" for i in range(20)))
    s = datasets.csv(nums)  # no header, last column, whole numbers → classes 0..2
    assert s.num_classes == 3 and s.classes == [0, 1, 2]
    r = datasets.csv(nums, target=1)
    assert r.num_classes is None and r.train.tensors[1].shape[1:] == (1,)
    assert r.train.tensors[1].dtype == np.float32
    odd = datasets.csv(nums, target=0, task="classification")
    assert odd.num_classes == 20


def test_csv_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        datasets.csv(tmp_path / "none.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n1,2\nfoo,3\n")
    with pytest.raises(ValueError, match="column 'x'.*'foo'"):
        datasets.csv(bad)
    with pytest.raises(ValueError, match="no column named 'z'"):
        datasets.csv(bad, target="z")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("1,2\n3\n")
    with pytest.raises(ValueError, match="line 2 has 1 fields"):
        datasets.csv(ragged)


def test_text_vocab_encode_decode_and_windows(tmp_path):
    path = tmp_path / "t.txt"
    body = "hello world, hello deltaflow.\n" * 10
    path.write_text(body)
    t = datasets.text(path, block_size=8, val_fraction=0.2)
    assert t.vocab == sorted(set(body)) and t.vocab_size == len(set(body))
    assert t.decode(t.encode("hello")) == "hello"
    assert t.decode(dl.tensor(t.encode("low"))) == "low"
    assert len(t.train_ids) + len(t.val_ids) == len(body) and len(t.val_ids) == 60
    x, y = t.train[3]
    assert t.decode(x) == body[3:11] and t.decode(y) == body[4:12]
    xb, yb = next(iter(DataLoader(t.train, batch_size=4, shuffle=True, generator=0)))
    assert xb.shape == (4, 8) and xb.dtype == np.int64
    np.testing.assert_array_equal(xb.numpy()[:, 1:], yb.numpy()[:, :-1])
    assert t.test is t.val and len(t.val) == 60 - 8
    with pytest.raises(ValueError, match="not in the vocabulary"):
        t.encode("Z")
    with pytest.raises(ValueError, match="too short"):
        datasets.text(path, block_size=1000)


@pytest.mark.skipif(not SHARED_TEXT.is_file(), reason="tinyshakespeare not present")
def test_tinyshakespeare():
    t = datasets.text(SHARED_TEXT, block_size=32)
    assert t.vocab_size == 65 and t.decode(t.train[0][0]).startswith("First Citizen")


def test_from_numpy():
    x = np.random.default_rng(0).standard_normal((50, 3))
    s = datasets.from_numpy(x, np.arange(50) % 5, test_fraction=0.2)
    assert s.num_classes == 5 and len(s.test) == 10
    assert np.bincount(s.test.tensors[1].numpy()).tolist() == [2] * 5
    r = datasets.from_numpy(x, x[:, 0], test_fraction=0.1)
    assert r.num_classes is None and len(r.test) == 5
    with pytest.raises(ValueError, match="test_fraction"):
        datasets.from_numpy(x, x[:, 0], test_fraction=1.0)


def test_download_verifies_checksums_without_network(tmp_path, monkeypatch):
    import hashlib

    source = tmp_path / "source"
    _write_mnist(source, gz=True)
    files = {p.name: p.read_bytes() for p in source.iterdir()}
    md5 = {name: hashlib.md5(data).hexdigest() for name, data in files.items()}
    monkeypatch.setitem(datasets.IDX_SOURCES, "mnist", (("http://a/", "http://b/"), md5))
    fetched = []

    def fake_fetch(url):
        fetched.append(url)
        if url.startswith("http://a/"):
            raise OSError("mirror a is down")
        return files[url.rsplit("/", 1)[1]]

    monkeypatch.setattr(datasets, "_fetch", fake_fetch)
    m = datasets.mnist(tmp_path / "data", download=True)
    assert len(m.train) == 5 and len(fetched) == 8
    assert sorted(p.name for p in (tmp_path / "data" / "mnist").iterdir()) == sorted(files)
    datasets.mnist(tmp_path / "data", download=True)  # present now: no new fetches
    assert len(fetched) == 8

    monkeypatch.setattr(datasets, "_fetch", lambda url: b"tampered")
    with pytest.raises(RuntimeError, match="checksum mismatch"):
        datasets.mnist(tmp_path / "other", download=True)
    assert not any((tmp_path / "other").rglob("*ubyte*")), "nothing unverified is kept"
