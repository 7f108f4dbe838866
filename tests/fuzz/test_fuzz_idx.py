"""Hostile and damaged IDX files (MNIST's format), plain and gzipped: ``read_idx`` and the
``mnist`` loader end in one ValueError naming the file, allocate nothing for a header that
claims terabytes, and read every valid file exactly."""
import gzip
import struct
import tracemalloc

import numpy as np
import pytest
from hypothesis import strategies as st

from deltaflow.data import datasets

from .harness import CI_EXAMPLES, LARGE_EXAMPLES, check_load, fuzz, fuzz_file, guarded, mutations

TYPES = [0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E]
SIZES = {0x08: 1, 0x09: 1, 0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8}


def idx_bytes(type_byte, dims, data: bytes) -> bytes:
    return bytes([0, 0, type_byte, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + data


VALID = idx_bytes(0x08, (3, 4, 4), bytes(range(48)))
small_dim = st.integers(0, 6)
huge_dim = st.sampled_from([2**32 - 1, 2**31, 10**6, 65536])
noise = st.binary(max_size=256)


@st.composite
def headers(draw):
    """Header fields drawn freely: a known or unknown type byte, 0-6 dimensions (small or
    claiming terabytes), and data whose length may or may not match."""
    type_byte = draw(st.one_of(st.sampled_from(TYPES), st.integers(0, 255)))
    dims = draw(st.lists(st.one_of(small_dim, huge_dim), max_size=6))
    claimed = int(np.prod(dims, dtype=object)) * SIZES.get(type_byte, 1) if dims else 0
    exact = draw(st.booleans()) and claimed <= 4096
    data = bytes(claimed) if exact else draw(st.binary(max_size=512))
    raw = bytes([0, 0, type_byte, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims) \
        + data
    return gzip.compress(raw) if draw(st.booleans()) else raw


IDX = st.one_of(headers(), mutations(noise, VALID), mutations(noise, gzip.compress(VALID)))


def test_valid_files_round_trip(tmp_path):
    for type_byte, dtype in ((0x08, np.uint8), (0x0B, ">i2"), (0x0E, ">f8")):
        arr = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
        raw = idx_bytes(type_byte, arr.shape, arr.tobytes())
        for name, content in (("a.idx", raw), ("a.idx.gz", gzip.compress(raw))):
            (tmp_path / name).write_bytes(content)
            np.testing.assert_array_equal(datasets.read_idx(tmp_path / name), arr)


@pytest.mark.parametrize("gzipped", [False, True])
def test_a_header_claiming_terabytes_allocates_nothing(tmp_path, gzipped):
    for dims in ((2**32 - 1, 2**32 - 1, 2**32 - 1), (65536, 65536, 2)):   # 8e28 and 8 GiB
        raw = idx_bytes(0x0E, dims, bytes(1024))
        content = gzip.compress(raw) if gzipped else raw
        tracemalloc.start()
        with pytest.raises(ValueError, match="corrupt IDX file") as err:
            (tmp_path / "big.idx").write_bytes(content)
            datasets.read_idx(tmp_path / "big.idx")
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert str(tmp_path / "big.idx") in str(err.value) and peak < 1 << 20


def test_damage_is_named(tmp_path):
    path = tmp_path / "t.idx"
    cases = {VALID[:3]: "bad magic", VALID[:9]: "truncated IDX header",
             VALID[:-1]: "the file has 63 bytes", VALID + b"x": "the file has 65 bytes",
             b"\x1f\x8b" + VALID: "corrupt gzip data",
             gzip.compress(VALID)[:-9]: "corrupt gzip data",
             gzip.compress(VALID + b"xy"): "more than 64 bytes once decompressed"}
    for content, words in cases.items():
        assert not check_load(datasets.read_idx, path, content)
        with pytest.raises(ValueError, match=words):
            datasets.read_idx(path)


def _fuzz_idx(folder, examples):
    fuzz_file("read_idx", IDX, datasets.read_idx, folder, ".idx", examples)


def test_fuzz_read_idx(tmp_path_factory):
    _fuzz_idx(tmp_path_factory.mktemp("idx"), CI_EXAMPLES)


@pytest.mark.long
def test_fuzz_read_idx_large(tmp_path_factory):
    _fuzz_idx(tmp_path_factory.mktemp("idx"), LARGE_EXAMPLES)


def _mnist_folder(folder):
    images = idx_bytes(0x08, (4, 2, 2), bytes(range(16)))
    labels = idx_bytes(0x08, (4,), bytes([0, 1, 2, 3]))
    for stem, content in zip(datasets.IDX_FILES, (images, labels, images, labels)):
        (folder / stem).write_bytes(content)
    return folder


def _fuzz_mnist(folder, examples):
    """The whole loader, one of its four files damaged at a time."""
    folder = _mnist_folder(folder)
    pristine = {stem: (folder / stem).read_bytes() for stem in datasets.IDX_FILES}
    damage = st.tuples(st.sampled_from(datasets.IDX_FILES),
                       st.one_of(headers(), mutations(noise, VALID),
                                 mutations(noise, pristine[datasets.IDX_FILES[1]])))

    def trial(value):
        stem, content = value
        for s, c in pristine.items():
            (folder / s).write_bytes(content if s == stem else c)
        return guarded(lambda: datasets.mnist(folder),   # a count mismatch names its pair
                       [folder / s for s in pristine], len(content))

    fuzz("mnist (4 IDX files)", damage, trial, examples)


def test_fuzz_mnist(tmp_path_factory):
    _fuzz_mnist(tmp_path_factory.mktemp("mnist"), CI_EXAMPLES // 3)


@pytest.mark.long
def test_fuzz_mnist_large(tmp_path_factory):
    _fuzz_mnist(tmp_path_factory.mktemp("mnist"), LARGE_EXAMPLES // 5)
