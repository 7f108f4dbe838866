"""Hostile and damaged bAbI text files and ONNX models, through their public loaders
(``deltaflow.data.babi.parse``, ``dl.onnx.load``): one ValueError naming the file."""
import pytest
from hypothesis import strategies as st

from .harness import CI_EXAMPLES, LARGE_EXAMPLES, check_load, fuzz_file, mutations

STORY = (b"1 Mary moved to the bathroom.\n2 John went to the hallway.\n"
         b"3 Where is Mary? \tbathroom\t1\n4 Daniel went back to the hallway.\n"
         b"5 Where is Daniel?\thallway\t4\n1 Sandra journeyed to the garden.\n"
         b"2 Where is Sandra?\tgarden\t1\n")
LINES = st.lists(st.sampled_from(["1 a b.", "2 c d.", "3 where?\tx\t1", "3 q\t\t1",
                                  "2 q\ta\t9", "x y", "0 z", "7 q\ta", "1", "\t\t", "",
                                  "2 q\ta\t1 2 x", "99999999999999999999 a"]),
                 max_size=10).map(lambda ls: "\n".join(ls).encode())
BABI = st.one_of(LINES, mutations(st.binary(max_size=32), STORY), st.binary(max_size=200))


def _parse(path):
    babi = pytest.importorskip("deltaflow.data.babi")
    return babi.parse(path)


def test_babi_valid_story_parses(tmp_path):
    (tmp_path / "qa1_x_train.txt").write_bytes(STORY)
    questions = _parse(tmp_path / "qa1_x_train.txt")
    assert [q.answer for q in questions] == ["bathroom", "hallway", "garden"]


def test_babi_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "qa1_x_train.txt"
    path.write_bytes(b"1 Mary \x80moved.\n")
    with pytest.raises(ValueError, match=str(path)):
        _parse(path)


def test_fuzz_babi(tmp_path_factory):
    fuzz_file("bAbI (babi.parse)", BABI, _parse, tmp_path_factory.mktemp("babi"), ".txt",
              CI_EXAMPLES)


@pytest.mark.long
def test_fuzz_babi_large(tmp_path_factory):
    fuzz_file("bAbI (babi.parse)", BABI, _parse, tmp_path_factory.mktemp("babi"), ".txt",
              LARGE_EXAMPLES)


def _onnx_model(folder):
    pytest.importorskip("onnx")
    import deltaflow as dl
    import deltaflow.onnx
    from deltaflow import nn
    dl.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    deltaflow.onnx.export(model, dl.randn(2, 4), folder / "valid.onnx")
    return (folder / "valid.onnx").read_bytes()


def _load_onnx(path):
    import deltaflow.onnx
    deltaflow.onnx.load(path)


def test_onnx_valid_model_loads(tmp_path):
    _onnx_model(tmp_path)
    _load_onnx(tmp_path / "valid.onnx")


def test_onnx_external_data_outside_the_folder_is_refused(tmp_path):
    """A tensor whose data lives in another file (``../secret``): never read from outside."""
    onnx = pytest.importorskip("onnx")
    _onnx_model(tmp_path)
    model = onnx.load(str(tmp_path / "valid.onnx"))
    tensor = model.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.ClearField("float_data")
    tensor.data_location = onnx.TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", "../secret.bin"
    (tmp_path / "models").mkdir()
    (tmp_path / "secret.bin").write_bytes(bytes(64))
    path = tmp_path / "models" / "evil.onnx"
    path.write_bytes(model.SerializeToString())
    assert not check_load(_load_onnx, path, path.read_bytes())


def _fuzz_onnx(folder, examples):
    valid = _onnx_model(folder)
    fuzz_file("ONNX (dl.onnx.load)", st.one_of(mutations(st.binary(max_size=32), valid),
                                               st.binary(max_size=200)),
              _load_onnx, folder, ".onnx", examples)


def test_fuzz_onnx(tmp_path_factory):
    _fuzz_onnx(tmp_path_factory.mktemp("onnx"), CI_EXAMPLES)


@pytest.mark.long
def test_fuzz_onnx_large(tmp_path_factory):
    _fuzz_onnx(tmp_path_factory.mktemp("onnx"), LARGE_EXAMPLES)
