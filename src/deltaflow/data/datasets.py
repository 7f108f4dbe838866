"""Built-in datasets: ``digits`` (ships with scikit-learn), ``mnist``/``fashion_mnist`` (IDX
files from a folder), ``csv``, ``text`` (character level), ``babi`` (the bAbI
question-answering tasks, :mod:`deltaflow.data.babi`) and ``from_numpy``.

Classification loaders return a :class:`Splits`: ``.train`` and ``.test``
(:class:`~deltaflow.data.TensorDataset` of ``(features float32, label int64)``),
``num_classes``, ``input_shape`` (one sample's feature shape) and ``classes`` (label names).
``train, test = digits()`` also works. Splits are deterministic: the same call gives the
same split on every machine.
"""
from __future__ import annotations

import csv as _csv
import gzip
import hashlib
import math
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..io import atomic_write
from ..tensor import Tensor
from .babi import babi
from .dataset import Dataset, TensorDataset


@dataclass
class Splits:
    """A dataset's train/test split and what a model needs to know about it."""

    train: TensorDataset
    test: TensorDataset
    num_classes: int | None
    input_shape: tuple
    classes: list = field(default_factory=list)
    name: str = ""

    def __iter__(self):
        return iter((self.train, self.test))

    def __repr__(self) -> str:
        return (f"Splits({self.name!r}: train={len(self.train)}, test={len(self.test)}, "
                f"input_shape={self.input_shape}, num_classes={self.num_classes})")


def _split_indices(labels, test_fraction, seed, stratify):
    """Deterministic train/test indices (each sorted); per class when ``stratify``."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(labels == c) for c in np.unique(labels)] if stratify \
        else [np.arange(len(labels))]
    test = []
    for idx in groups:
        test.append(rng.permutation(idx)[:int(round(len(idx) * test_fraction))])
    test = np.sort(np.concatenate(test))
    train = np.setdiff1d(np.arange(len(labels)), test)
    return train, test


def from_numpy(features, targets, test_fraction: float = 0.2, seed: int = 0,
               num_classes: int | None = None, classes=None, name: str = "arrays",
               stratify: bool | None = None) -> Splits:
    """Split arrays into a deterministic train/test :class:`Splits`.

    Integer ``targets`` are class labels (``num_classes`` defaults to ``max + 1``) and the
    split is stratified; float targets are regression values (``num_classes=None``).
    """
    x, y = np.asarray(features), np.asarray(targets)
    if len(x) != len(y):
        raise ValueError(f"from_numpy: {len(x)} feature rows but {len(y)} targets")
    classify = y.dtype.kind in "iub"
    if classify and num_classes is None:
        num_classes = int(y.max()) + 1 if len(y) else 0
    train, test = _split_indices(y if classify else np.zeros(len(y)), test_fraction, seed,
                                 classify if stratify is None else stratify)
    return Splits(TensorDataset(x[train], y[train]), TensorDataset(x[test], y[test]),
                  num_classes if classify else None, tuple(x.shape[1:]),
                  list(classes) if classes is not None else
                  (list(range(num_classes)) if classify else []), name)


# ---------------------------------------------------------------------------- digits
def digits(flatten: bool = True, test_fraction: float = 0.2, seed: int = 0) -> Splits:
    """The 1797 real 8×8 handwritten digits that scikit-learn ships (no download).

    Pixels are scaled from 0..16 to [0, 1] (float32); labels 0-9 (int64). The split is
    stratified and fixed (``seed``): 1438 train / 359 test. ``input_shape`` is ``(64,)``
    with ``flatten=True`` (the default, for MLPs) and ``(1, 8, 8)`` otherwise (for CNNs).
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError("digits() needs scikit-learn, which ships the data: "
                          "pip install 'deltaflow[datasets]'") from None
    bunch = load_digits()
    images = (bunch.images / 16.0).astype(np.float32)
    x = images.reshape(len(images), -1) if flatten else images[:, None]
    return from_numpy(x, bunch.target.astype(np.int64), test_fraction, seed, num_classes=10,
                      name="digits")


# ----------------------------------------------------------------------------- IDX
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4",
              0x0E: ">f8"}
MAX_GZIP_IDX_BYTES = 16 << 30   # a gzipped file claiming more is refused before reading


def read_idx(path) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzipped or not, checking header and size.

    Raises ``ValueError`` naming the file when the magic number, the dimensions or the
    amount of data is wrong (a corrupt or truncated download). The header is checked
    before the data is read, and no more data is read (or decompressed) than it claims,
    so a header claiming terabytes allocates nothing.
    """
    path = Path(path)
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    try:
        with (gzip.open(path, "rb") if gzipped else open(path, "rb")) as f:
            return _read_idx(f, path, gzipped)
    except (OSError, EOFError, zlib.error) as e:
        if not gzipped:
            raise
        raise ValueError(f"{path}: corrupt gzip data ({e}); delete it and copy it again") \
            from None


def _read_idx(f, path: Path, gzipped: bool) -> np.ndarray:
    raw = f.read(4)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES or raw[3] == 0:
        raise ValueError(f"{path}: not an IDX file (bad magic number {raw[:4].hex() or 'none'}; "
                         f"expected 0000 + type byte 08/09/0b/0c/0d/0e + number of dimensions)")
    ndim, dtype = raw[3], np.dtype(_IDX_TYPES[raw[2]])
    header = 4 + 4 * ndim
    dims_raw = f.read(4 * ndim)
    if len(dims_raw) < 4 * ndim:
        raise ValueError(f"{path}: truncated IDX header ({4 + len(dims_raw)} bytes, {header} "
                         f"needed for {ndim} dimensions)")
    dims = tuple(int(d) for d in np.frombuffer(dims_raw, ">u4"))
    expected = math.prod(dims) * dtype.itemsize
    claim = f"the header says shape {dims} of {dtype} ({header + expected} bytes in all)"
    if math.prod(d for d in dims if d) * dtype.itemsize >= 2**63:   # NumPy's limit, even empty
        raise ValueError(f"{path}: corrupt IDX file: {claim}, not an array shape")
    if gzipped and expected > MAX_GZIP_IDX_BYTES:
        raise ValueError(f"{path}: corrupt IDX file? {claim}, more than the "
                         f"{MAX_GZIP_IDX_BYTES >> 30} GiB deltaflow decompresses")
    if not gzipped and header + expected != path.stat().st_size:
        raise ValueError(f"{path}: corrupt IDX file: {claim} but the file has "
                         f"{path.stat().st_size} bytes")
    data = bytearray()
    while len(data) <= expected:   # in chunks: memory follows the data, not the claim
        chunk = f.read(min(expected + 1 - len(data), 1 << 24))
        if not chunk:
            break
        data += chunk
    if len(data) != expected:
        got = f"more than {header + expected}" if len(data) > expected else header + len(data)
        raise ValueError(f"{path}: corrupt IDX file: {claim} but the file has {got} bytes"
                         + (" once decompressed" if gzipped else ""))
    return np.frombuffer(data, dtype).reshape(dims).astype(dtype.newbyteorder("="))


IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _candidate_dirs(name: str, root) -> list[Path]:
    if root is not None:
        return [Path(root).expanduser() / name, Path(root).expanduser()]
    env = os.environ.get("DELTAFLOW_DATA")
    if env:
        return [Path(env).expanduser() / name]
    return [Path("~/.cache/deltaflow").expanduser() / name]


# Official mirrors and the MD5 checksums of the published .gz files (as torchvision uses).
IDX_SOURCES = {
    "mnist": (("https://ossci-datasets.s3.amazonaws.com/mnist/",), {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"}),
    "fashion-mnist": (("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                       "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/"
                       "master/data/fashion/"), {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"}),
}


def _fetch(url: str) -> bytes:
    import urllib.request
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - https/http only
        return response.read()


def download_idx(name: str, folder) -> None:
    """Download ``name``'s four IDX files into ``folder``, each checked against its
    published MD5 before it is (atomically) put in place; tries each mirror in turn."""
    mirrors, checksums = IDX_SOURCES[name]
    folder = Path(folder)
    for filename, md5 in checksums.items():
        if (folder / filename).is_file():
            continue
        errors = []
        for base in mirrors:
            try:
                data = _fetch(base + filename)
            except OSError as e:
                errors.append(f"{base + filename}: {e}")
                continue
            got = hashlib.md5(data, usedforsecurity=False).hexdigest()
            if got != md5:
                errors.append(f"{base + filename}: checksum mismatch (md5 {got}, expected {md5})")
                continue
            with atomic_write(folder / filename, "wb") as f:
                f.write(data)
            break
        else:
            raise RuntimeError(f"{name}: could not download {filename}: " + "; ".join(errors))


def _find_idx_files(name: str, root, download: bool = False) -> list[Path]:
    dirs = _candidate_dirs(name, root)
    for folder in dirs:
        found = []
        for stem in IDX_FILES:
            hits = [folder / (stem + ext) for ext in (".gz", "")]
            found.append(next((h for h in hits if h.is_file()), None))
        if all(found):
            return found
    if download:
        download_idx(name, dirs[0])
        return [dirs[0] / (stem + ".gz") for stem in IDX_FILES]
    where = " or ".join(str(d) for d in dirs)
    raise FileNotFoundError(
        f"{name}: the IDX files were not found in {where}. Put these four files there "
        f"(gzipped .gz or not): {', '.join(IDX_FILES)}; or pass root=/a/folder "
        f"(--data-dir) or set DELTAFLOW_DATA to a folder holding a '{name}' subfolder; "
        f"or download=True to fetch them (checksum-verified).")


def _idx_dataset(name: str, root, flatten: bool, classes, download: bool) -> Splits:
    paths = _find_idx_files(name, root, download)
    arrays = [read_idx(p) for p in paths]
    parts = []
    for images, labels, (pi, pl) in ((arrays[0], arrays[1], paths[:2]),
                                     (arrays[2], arrays[3], paths[2:])):
        if images.ndim != 3:
            raise ValueError(f"{pi}: expected images of shape (N, rows, cols), got "
                             f"{images.shape}")
        if labels.ndim != 1 or len(labels) != len(images):
            raise ValueError(f"{pl}: expected {len(images)} labels (one per image in "
                             f"{pi.name}), got shape {labels.shape}")
        if len(labels) and labels.max() >= len(classes):
            raise ValueError(f"{pl}: label {int(labels.max())} out of range 0-"
                             f"{len(classes) - 1}")
        x = images.astype(np.float32)
        x *= np.float32(1 / 255)
        x = x.reshape(len(x), -1) if flatten else x[:, None]
        parts.append(TensorDataset(x, labels.astype(np.int64)))
    return Splits(parts[0], parts[1], len(classes), tuple(parts[0].tensors[0].shape[1:]),
                  list(classes), name)


def mnist(root=None, flatten: bool = True, download: bool = False) -> Splits:
    """MNIST from the four standard IDX files (60000 train / 10000 test, 28×28, [0, 1]).

    Looked up in ``root`` (or ``root/mnist``), else ``$DELTAFLOW_DATA/mnist``, else
    ``~/.cache/deltaflow/mnist``. ``input_shape``: ``(784,)``, or ``(1, 28, 28)`` with
    ``flatten=False``. ``download=True`` fetches missing files into the first of those
    folders (checksum-verified; needs a network).
    """
    return _idx_dataset("mnist", root, flatten, list(range(10)), download)


FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot"]


def fashion_mnist(root=None, flatten: bool = True, download: bool = False) -> Splits:
    """Fashion-MNIST (same format and lookup as :func:`mnist`, folder name
    ``fashion-mnist``); ``classes`` holds the ten clothing names."""
    return _idx_dataset("fashion-mnist", root, flatten, FASHION_CLASSES, download)


# ------------------------------------------------------------------------------ CSV
def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _read_rows(path: Path, delimiter: str, encoding: str) -> list[tuple[int, list[str]]]:
    """The non-empty rows of a CSV file, each with its line number; a UTF-8 byte-order mark
    is skipped. Undecodable bytes and what the csv module refuses (a NUL byte, a field over
    its size limit, an unclosed quote) are a ValueError naming the file and the line."""
    utf8 = encoding.lower().replace("_", "-") in ("utf-8", "utf8")
    line = 0
    try:
        with open(path, newline="", encoding="utf-8-sig" if utf8 else encoding) as f:
            reader = _csv.reader(f, delimiter=delimiter)
            rows = []
            for r in reader:
                line = reader.line_num
                if r:
                    rows.append((line, r))
            return rows
    except UnicodeDecodeError as e:
        raise ValueError(f"csv: {path} is not {encoding} text (byte {e.object[e.start]:#04x} "
                         f"after line {line}); save it as {encoding} or pass encoding=") from None
    except _csv.Error as e:
        raise ValueError(f"csv: {path} line {line + 1}: {e}") from None


def csv(path, target=-1, header: bool | None = None, delimiter: str = ",",
        test_fraction: float = 0.2, seed: int = 0, task: str = "auto",
        encoding: str = "utf-8") -> Splits:
    """A numeric CSV table: ``target`` (column name or index, default the last) is the label.

    ``header``: whether the first row holds column names (default: guessed -- yes when it
    has a non-numeric cell). ``task``: ``"classification"`` (labels: integers used as they
    are when they are 0..K-1, anything else mapped to the index of its sorted value, kept in
    ``classes``), ``"regression"`` (float32 targets of shape ``(N, 1)``) or ``"auto"``
    (classification when the target column is text or whole numbers). Features and numeric
    targets must be finite (NaN, ±Inf or beyond float32 is refused, naming the line).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"csv: no such file: {path}")
    if task not in ("auto", "classification", "regression"):
        raise ValueError(f"csv: task must be 'auto', 'classification' or 'regression', got "
                         f"{task!r}")
    rows = _read_rows(path, delimiter, encoding)
    if not rows:
        raise ValueError(f"csv: {path} is empty")
    if header is None:
        header = not all(_is_number(c) for c in rows[0][1])
    names = [c.strip() for c in rows[0][1]] if header \
        else [str(i) for i in range(len(rows[0][1]))]
    body = rows[1:] if header else rows
    if not body:
        raise ValueError(f"csv: {path} has no data rows")
    width = len(names)
    if width < 2:
        raise ValueError(f"csv: {path} has {width} column: a table needs at least one "
                         f"feature column and the target (is delimiter={delimiter!r} right?)")
    for n, r in body:
        if len(r) != width:
            raise ValueError(f"csv: {path} line {n} has {len(r)} fields, expected {width}")
    if isinstance(target, str):
        if target not in names:
            raise ValueError(f"csv: no column named {target!r} in {path}; columns: {names}")
        col = names.index(target)
    else:
        col = int(target)
        if not -width <= col < width:
            raise ValueError(f"csv: target column {col} out of range for {width} columns")
        col %= width
    cells = np.array([r for _, r in body], dtype=object)
    feature_cols = [c for c in range(width) if c != col]
    try:
        with np.errstate(over="ignore"):   # beyond float32: refused below, naming the cell
            x = cells[:, feature_cols].astype(np.float64).astype(np.float32)
    except ValueError:
        n, name, value = next((n, names[c], r[c]) for n, r in body for c in feature_cols
                              if not _is_number(r[c]))
        raise ValueError(f"csv: {path} line {n}: feature column {name!r} is not numeric "
                         f"(value {value[:40]!r}); encode it as numbers first") from None
    if not np.isfinite(x).all():
        i, j = np.argwhere(~np.isfinite(x))[0]
        raise ValueError(f"csv: {path} line {body[i][0]}: feature column "
                         f"{names[feature_cols[j]]!r} holds {cells[i, feature_cols[j]]!r}, not "
                         f"a finite float32; fill or drop missing values first")
    raw = [str(v).strip() for v in cells[:, col]]
    numeric = all(_is_number(v) for v in raw)
    values = np.array([float(v) for v in raw]) if numeric else None
    if numeric and not np.isfinite(values.astype(np.float32)).all():
        i = int(np.argmin(np.isfinite(values.astype(np.float32))))
        raise ValueError(f"csv: {path} line {body[i][0]}: target {names[col]!r} is "
                         f"{raw[i][:40]!r}, not a finite number")
    classify = task == "classification" or (
        task == "auto" and (not numeric or bool(np.all(values == np.round(values)))))
    if not classify:
        if not numeric:
            raise ValueError(f"csv: regression target {names[col]!r} of {path} has "
                             f"non-numeric values")
        return from_numpy(x, values.astype(np.float32)[:, None], test_fraction, seed,
                          name=path.stem)
    keys = values if numeric else np.array(raw)
    classes, labels = np.unique(keys, return_inverse=True)
    if numeric and np.array_equal(classes, np.arange(len(classes))):
        classes = classes.astype(np.int64)
    class_list = [c.item() if hasattr(c, "item") else c for c in classes]
    return from_numpy(x, labels.astype(np.int64), test_fraction, seed,
                      num_classes=len(classes), classes=class_list, name=path.stem)


# ----------------------------------------------------------------------------- text
class CharDataset(Dataset):
    """Next-character windows of an encoded text: sample ``i`` is
    ``(ids[i:i+block_size], ids[i+1:i+block_size+1])`` (int64)."""

    def __init__(self, ids: np.ndarray, block_size: int):
        if block_size < 1:
            raise ValueError(f"CharDataset: block_size must be >= 1, got {block_size}")
        if len(ids) <= block_size:
            raise ValueError(f"CharDataset: text of {len(ids)} characters is too short for "
                             f"block_size {block_size}")
        self.ids = np.ascontiguousarray(ids, dtype=np.int64)
        self.block_size = block_size
        self._windows = np.lib.stride_tricks.sliding_window_view(self.ids, block_size + 1)

    def __getstate__(self):  # for worker processes: the text, not a copy of every window
        return {"ids": self.ids, "block_size": self.block_size}

    def __setstate__(self, state):
        self.__init__(state["ids"], state["block_size"])

    def __len__(self) -> int:
        return len(self.ids) - self.block_size

    def __getitem__(self, index):
        w = self._windows[index]
        return Tensor.constant(w[:-1].copy()), Tensor.constant(w[1:].copy())

    def get_batch(self, indices: np.ndarray) -> tuple:
        w = self._windows[indices]
        return (Tensor.constant(np.ascontiguousarray(w[:, :-1])),
                Tensor.constant(np.ascontiguousarray(w[:, 1:])))


class CharText:
    """A text file as characters: vocabulary, ``encode``/``decode`` and a train/val split.

    ``train`` and ``val`` are :class:`CharDataset` s of ``block_size`` windows (``test`` is
    the same object as ``val``); ``train_ids``/``val_ids`` the encoded halves.
    """

    def __init__(self, text: str, block_size: int = 64, val_fraction: float = 0.1,
                 name: str = "text"):
        if not text:
            raise ValueError(f"text: {name} is empty")
        self.name = name
        self.text = text
        self.vocab = sorted(set(text))
        self.stoi = {c: i for i, c in enumerate(self.vocab)}
        self.itos = np.array(self.vocab, dtype=object)
        ids = self.encode(text)
        n_val = int(round(len(ids) * val_fraction))
        self.train_ids, self.val_ids = ids[:len(ids) - n_val], ids[len(ids) - n_val:]
        self.block_size = block_size
        self.train = CharDataset(self.train_ids, block_size)
        self.val = CharDataset(self.val_ids, block_size) if n_val > block_size else None
        self.test = self.val

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode(self, s: str) -> np.ndarray:
        try:
            return np.fromiter((self.stoi[c] for c in s), dtype=np.int64, count=len(s))
        except KeyError as e:
            raise ValueError(f"encode: character {e.args[0]!r} is not in the vocabulary of "
                             f"{self.name}") from None

    def decode(self, ids) -> str:
        ids = np.asarray(ids.numpy() if isinstance(ids, Tensor) else ids).reshape(-1)
        if len(ids) and (ids.min() < 0 or ids.max() >= len(self.vocab)):
            raise ValueError(f"decode: ids must be in 0..{len(self.vocab) - 1}")
        return "".join(self.itos[ids])

    def __repr__(self) -> str:
        return (f"CharText({self.name!r}: {len(self.text)} chars, vocab {self.vocab_size}, "
                f"train {len(self.train_ids)}, val {len(self.val_ids)}, "
                f"block_size {self.block_size})")


def text(path, block_size: int = 64, val_fraction: float = 0.1,
         encoding: str = "utf-8") -> CharText:
    """Character-level data from a text file: the first ``1 - val_fraction`` for training,
    the rest for validation (e.g. ``../shared/data/text/tinyshakespeare.txt``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"text: no such file: {path}")
    try:
        content = path.read_text(encoding=encoding)
    except UnicodeDecodeError as e:
        raise ValueError(f"text: {path} is not {encoding} text (byte {e.object[e.start]:#04x} "
                         f"at offset {e.start}); pass the file's encoding (encoding=...)") \
            from None
    try:
        return CharText(content, block_size, val_fraction, path.name)
    except ValueError as e:   # empty, or too short for block_size
        raise ValueError(f"text: {path}: {e}") from None


__all__ = ["CharDataset", "CharText", "FASHION_CLASSES", "IDX_FILES", "IDX_SOURCES", "Splits",
           "babi", "csv", "digits", "download_idx", "fashion_mnist", "from_numpy", "mnist",
           "read_idx", "text"]
