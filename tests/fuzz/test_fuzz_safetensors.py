"""Hostile and damaged safetensors files: ``dl.load`` (and ``load_metadata``) end in one
ValueError naming the file, for a bad header length, a header that is not JSON, unknown
dtypes, overlapping or out-of-range offsets, metadata that is not JSON or that describes
arrays the file does not hold; valid files from deltaflow and from safetensors itself load."""
import json
import struct
import tracemalloc

import numpy as np
import pytest
from hypothesis import strategies as st

import deltaflow as dl
from deltaflow import io

from .harness import CI_EXAMPLES, LARGE_EXAMPLES, check_load, fuzz_file, mutations


def safetensors_bytes(header: dict, data: bytes, length=None) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if length is None else length) + raw + data


def valid_file(tmp_path) -> bytes:
    state = {"w": dl.tensor(np.arange(6, dtype=np.float32).reshape(2, 3)),
             "opt": {"state": {0: {"step": np.int64(3), "m": np.ones(2)}}, "lr": 0.1,
                     "betas": (0.9, 0.99)}}
    io.save(state, tmp_path / "valid.safetensors")
    return (tmp_path / "valid.safetensors").read_bytes()


DTYPES = st.sampled_from(["F32", "F64", "I64", "U8", "BOOL", "F16", "BF16", "F8_E4M3", "C64",
                          "f32", "", 7, None])
SHAPES = st.one_of(st.lists(st.integers(0, 4), max_size=3),
                   st.lists(st.sampled_from([-1, 2**40, 2**64, True, 1.5, "2"]), min_size=1,
                            max_size=2), st.just("2x3"))
OFFSETS = st.one_of(st.tuples(st.integers(0, 64), st.integers(0, 64)).map(list),
                    st.lists(st.sampled_from([-8, 2**63, 2**70, 0.5, None, "0"]), max_size=3))
SKELETONS = st.recursive(
    st.one_of(st.none(), st.integers(), st.text(max_size=4),
              st.sampled_from([{"__tensor__": "a"}, {"__tensor__": "missing"},
                               {"__scalar__": "a"}, {"__array__": 3}, {"__tuple__": 5},
                               {"__items__": [[1]]}, {"__items__": [[True, 1]]}])),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=3), inner, max_size=3),
                            inner.map(lambda v: {"__tuple__": [v]}),
                            inner.map(lambda v: {"__items__": [[0, v]]})), max_leaves=10)
METADATA = st.one_of(
    st.none(), st.just([]), st.dictionaries(st.text(max_size=5), st.text(max_size=5)),
    st.dictionaries(st.just("x"), st.integers(), min_size=1),
    st.one_of(SKELETONS.map(json.dumps), st.text(max_size=30),
              st.just("[" * 5000 + "]" * 5000), st.just("{" * 100000)).map(
        lambda s: {"deltaflow.structure": s}))


@st.composite
def headers(draw):
    """A header of 0-3 tensors with fields drawn freely, metadata, data and length prefix
    that may or may not agree."""
    header = {}
    for name in draw(st.lists(st.sampled_from(["a", "b", "c.d", ""]), max_size=3,
                              unique=True)):
        header[name] = {"dtype": draw(DTYPES), "shape": draw(SHAPES),
                        "data_offsets": draw(OFFSETS)}
        if draw(st.integers(0, 9)) == 0:
            del header[name][draw(st.sampled_from(sorted(header[name])))]
    meta = draw(METADATA)
    if meta is not None:
        header["__metadata__"] = meta
    data = draw(st.binary(max_size=96))
    length = draw(st.one_of(st.none(), st.integers(0, 2**64 - 1)))
    return safetensors_bytes(header, data, length)


NOISE = st.binary(max_size=128)
RAW = st.one_of(headers(), st.binary(max_size=200),
                st.binary(max_size=64).map(lambda b: b"\xff" * 8 + b))


def _load_both(path):
    dl.load(path)
    io.load_metadata(path)


def test_damage_is_named(tmp_path):
    path = tmp_path / "t.safetensors"
    ok = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
    cases = {
        b"": "too short for the 8-byte header length",
        struct.pack("<Q", 10**12) + b"{}": "header length says 1000000000000 bytes",
        struct.pack("<Q", 3) + b"{x}": "its header is not valid JSON",
        safetensors_bytes([], b""): "the header is a JSON list",
        safetensors_bytes({"a": {**ok, "dtype": "BF16"}}, bytes(8)): "dtype 'BF16'",
        safetensors_bytes({"a": {**ok, "shape": [-2]}}, bytes(8)): "non-negative integers",
        safetensors_bytes({"a": ok, "b": {**ok, "data_offsets": [4, 12]}}, bytes(12)):
            "overlap",
        safetensors_bytes({"a": {**ok, "data_offsets": [0, 8]}}, bytes(4)): "not a range",
        safetensors_bytes({"a": ok}, bytes(9)): "bytes appended",
        safetensors_bytes({"a": {**ok, "shape": [3]}}, bytes(8)): "needs 12 bytes",
        safetensors_bytes({"__metadata__": {"x": 1}}, b""): "strings to strings",
        safetensors_bytes({"a": ok, "__metadata__": {"deltaflow.structure": "{"}}, bytes(8)):
            "deltaflow.structure metadata is not valid JSON",
        safetensors_bytes({"a": ok, "__metadata__": {"deltaflow.structure": "[" * 10**5}},
                          bytes(8)): "not valid JSON",
        safetensors_bytes({"a": ok, "__metadata__": {
            "deltaflow.structure": '{"w": {"__tensor__": "b"}}'}}, bytes(8)):
            "refers to a tensor 'b' that the file does not hold",
    }
    for content, words in cases.items():
        assert not check_load(dl.load, path, content)
        with pytest.raises(ValueError, match=words):
            dl.load(path)


def test_a_header_claiming_terabytes_allocates_nothing(tmp_path):
    path = tmp_path / "big.safetensors"
    path.write_bytes(safetensors_bytes({"a": {"dtype": "F64", "shape": [10**6, 10**6],
                                              "data_offsets": [0, 8 * 10**12]}}, bytes(64)))
    tracemalloc.start()
    with pytest.raises(ValueError, match="not a range within the 64 bytes"):
        dl.load(path)
    assert tracemalloc.get_traced_memory()[1] < 1 << 20
    tracemalloc.stop()


def test_valid_files_load(tmp_path):
    valid = valid_file(tmp_path)
    loaded = dl.load(tmp_path / "valid.safetensors")
    assert loaded["opt"]["betas"] == (0.9, 0.99) and loaded["opt"]["state"][0]["step"] == 3
    from safetensors.numpy import save_file
    save_file({"x": np.zeros((0, 3), np.float32), "y": np.ones(2, np.int64)},
              str(tmp_path / "other.safetensors"), metadata={"source": "elsewhere"})
    other = dl.load(tmp_path / "other.safetensors")
    assert other["x"].shape == (0, 3) and other["y"].tolist() == [1, 1]
    assert len(valid) > 100


def _fuzz(folder, examples):
    strategy = st.one_of(RAW, mutations(NOISE, valid_file(folder)))
    fuzz_file("safetensors (dl.load, load_metadata)", strategy, _load_both, folder,
              ".safetensors", examples)


def test_fuzz_safetensors(tmp_path_factory):
    _fuzz(tmp_path_factory.mktemp("st"), CI_EXAMPLES)


@pytest.mark.long
def test_fuzz_safetensors_large(tmp_path_factory):
    _fuzz(tmp_path_factory.mktemp("st"), LARGE_EXAMPLES)
