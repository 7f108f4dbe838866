"""Hostile and damaged CSV tables and text files: ``datasets.csv`` and ``datasets.text``
end in one ValueError naming the file (ragged rows, non-numbers, NaN/Inf, empty files,
huge fields, a byte-order mark, other encodings, binary data, one character)."""
import numpy as np
import pytest
from hypothesis import strategies as st

from deltaflow.data import datasets

from .harness import CI_EXAMPLES, LARGE_EXAMPLES, check_load, fuzz_file

CELLS = st.one_of(
    st.sampled_from(["0", "1", "2", "-3.5", "1e3", "nan", "NaN", "inf", "-Infinity", "1e400",
                     "", " ", "abc", "setosa", '"', '"a,b"', "1,5", "\x00", "é", "\ufeff1",
                     "0x1F", "1_000", "x" * 200_000, "3.4e39"]),
    st.integers(-5, 5).map(str), st.floats(allow_nan=True).map(repr), st.text(max_size=6))
TABLES = st.lists(st.lists(CELLS, min_size=0, max_size=5), max_size=12).map(
    lambda rows: "\n".join(",".join(r) for r in rows))
ENCODED = st.tuples(TABLES, st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "utf-16",
                                             "cp1252"])).map(
    lambda t: t[0].encode(t[1], errors="replace"))
CSV = st.one_of(ENCODED, st.binary(max_size=300))


def test_damage_is_named(tmp_path):
    path = tmp_path / "t.csv"
    cases = {b"": "is empty", b"a,b\n": "no data rows", b"a,b\n1,2\n3\n": "line 3 has 1 fields",
             b"a,b\nnan,1\n2,1\n": "line 2: feature column 'a' holds 'nan'",
             b"a,b\n1e39,1\n2,1\n": "not a finite float32",
             b"a,b\n1,inf\n2,1\n": "line 2: target 'b' is 'inf'",
             b"x,y\n1,2\nfoo,3\n": "line 3: feature column 'x' is not numeric",
             b"a\n1\n2\n": "at least one feature column",
             b"a,b\n\xff\xfe,1\n": "not utf-8 text",
             b"a,b\n" + b"1" * 200_000 + b",1\n": "field larger than field limit",
             b'a,b\n"1,2\n': "line 2 has 1 fields"}
    for content, words in cases.items():
        assert not check_load(datasets.csv, path, content)
        with pytest.raises(ValueError, match=words):
            datasets.csv(path)


def test_a_byte_order_mark_and_other_encodings_are_read(tmp_path):
    table = "größe,klasse\n" + "".join(f"{i},{i % 2}\n" for i in range(10))
    for encoding, content in (("utf-8", b"\xef\xbb\xbf" + table.encode()),
                              ("latin-1", table.encode("latin-1"))):
        (tmp_path / "t.csv").write_bytes(content)
        s = datasets.csv(tmp_path / "t.csv", target="klasse", encoding=encoding)
        assert s.num_classes == 2 and len(s.train) + len(s.test) == 10


def _fuzz_csv(folder, examples):
    fuzz_file("csv", CSV, datasets.csv, folder, ".csv", examples)


def test_fuzz_csv(tmp_path_factory):
    _fuzz_csv(tmp_path_factory.mktemp("csv"), CI_EXAMPLES)


@pytest.mark.long
def test_fuzz_csv_large(tmp_path_factory):
    _fuzz_csv(tmp_path_factory.mktemp("csv"), LARGE_EXAMPLES)


TEXTS = st.one_of(st.binary(max_size=400), st.text(max_size=200).map(str.encode),
                  st.sampled_from([b"", b"a", b"ab", b"\xff", b"\x00" * 100, b"\xef\xbb\xbf"]),
                  st.text(min_size=60, max_size=300).map(lambda t: t.encode("utf-16")))


def _load_text(block_size):
    return lambda path: datasets.text(path, block_size=block_size)


def test_text_damage_is_named(tmp_path):
    path = tmp_path / "t.txt"
    for content, words in ((b"", "is empty"), (b"a", "too short for block_size 64"),
                           (b"\x80abc", "not utf-8 text"), (b"x" * 70, "too short")):
        assert not check_load(_load_text(64), path, content)
        with pytest.raises(ValueError, match=words):
            datasets.text(path)
    path.write_bytes(b"ab" * 40)
    assert datasets.text(path, block_size=8).vocab == ["a", "b"]


def _fuzz_text(folder, examples):
    sizes = {"text (block 4)": 4, "text (block 64)": 64}
    for name, block in sizes.items():
        fuzz_file(name, TEXTS, _load_text(block), folder, ".txt", examples // 2)


def test_fuzz_text(tmp_path_factory):
    _fuzz_text(tmp_path_factory.mktemp("text"), CI_EXAMPLES)


@pytest.mark.long
def test_fuzz_text_large(tmp_path_factory):
    _fuzz_text(tmp_path_factory.mktemp("text"), LARGE_EXAMPLES)


def test_valid_tables_still_load(tmp_path):
    path = tmp_path / "ok.csv"
    path.write_text("a,b,label\n" + "".join(f"{i},{i * 0.5},{i % 3}\n" for i in range(30)))
    s = datasets.csv(path)
    x, _ = s.train.tensors
    assert s.num_classes == 3 and np.isfinite(x.numpy()).all()
