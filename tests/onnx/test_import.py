"""``dl.onnx.load``: how initializers become parameters, buffers and constants, how inputs
are bound, and the one clear error for every file or model it cannot import."""
from __future__ import annotations

import numpy as np
import pytest

import deltaflow as dl

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import deltaflow.onnx  # noqa: E402,F401  (dl.onnx: the optional subpackage)
from deltaflow.onnx.importers import (  # noqa: E402
    IMPORTERS,
    OnnxImportError,
    Unsupported,
    supported_operators,
)

F32 = TensorProto.FLOAT


def _model(nodes, inputs, outputs, initializers=(), opset=17):
    graph = helper.make_graph(nodes, "g", inputs, outputs,
                              [numpy_helper.from_array(a, n) for n, a in initializers])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _save(model, path):
    onnx.save(model, str(path))
    return path


def _linear(names=("fc.weight", "fc.bias"), opset=17):
    w, b = names
    return _model([helper.make_node("Gemm", ["x", w, b], ["y"], transB=1, name="fc")],
                  [helper.make_tensor_value_info("x", F32, ["N", 3])],
                  [helper.make_tensor_value_info("y", F32, ["N", 2])],
                  [(w, np.ones((2, 3), np.float32)), (b, np.zeros(2, np.float32))], opset)


def test_initializers_become_parameters_under_their_names(tmp_path):
    m = dl.onnx.load(_save(_linear(), tmp_path / "m.onnx"))
    assert isinstance(m, dl.nn.Module)
    assert [k for k, _ in m.named_parameters()] == ["fc.weight", "fc.bias"]
    assert m.initializer_names == {"fc.weight": "fc.weight", "fc.bias": "fc.bias"}
    y = m(dl.ones(4, 3))
    np.testing.assert_array_equal(y.data, np.full((4, 2), 3.0, np.float32))
    m.load_state_dict({"fc.weight": dl.zeros(2, 3), "fc.bias": dl.ones(2)})
    np.testing.assert_array_equal(m(dl.ones(1, 3)).data, [[1.0, 1.0]])   # reads them anew


def test_names_are_made_valid_and_unique(tmp_path):
    m = dl.onnx.load(_save(_linear(("onnx::Gemm_1", "forward")), tmp_path / "m.onnx"))
    assert m.initializer_names == {"onnx::Gemm_1": "onnx__Gemm_1", "forward": "forward_1"}
    assert m(dl.ones(1, 3)).shape == (1, 2)


def test_integer_initializers_and_statistics_are_not_trained(tmp_path):
    x = helper.make_tensor_value_info("x", F32, [2, 3, 4])
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["r"]),
             helper.make_node("BatchNormalization", ["r", "s", "b", "mean", "var"], ["y"])]
    c = np.ones(3, np.float32)
    model = _model(nodes, [x], [helper.make_tensor_value_info("y", F32, [2, 3, 4, 1])],
                   [("shape", np.array([2, 3, 4, 1], np.int64)), ("s", c), ("b", c),
                    ("mean", c * 0.5), ("var", c * 4)])
    m = dl.onnx.load(_save(model, tmp_path / "m.onnx"))
    assert [k for k, _ in m.named_parameters()] == ["s", "b"]
    assert set(m.state_dict()) == {"s", "b", "mean", "var"}      # the int shape: not saved
    y = m(dl.ones(2, 3, 4))
    np.testing.assert_allclose(y.data, np.full((2, 3, 4, 1), 1 + 0.5 / np.sqrt(4 + 1e-5)),
                               rtol=1e-6)


def test_inputs_by_position_or_name_and_their_checks(tmp_path):
    m = dl.onnx.load(_save(_linear(), tmp_path / "m.onnx"))
    np.testing.assert_array_equal(m(x=dl.ones(1, 3)).data, m(dl.ones(1, 3)).data)
    with pytest.raises(TypeError, match="input 'x' must be a Tensor"):
        m(np.ones((1, 3), np.float32))
    with pytest.raises(TypeError, match="missing input 'x'"):
        m()
    with pytest.raises(TypeError, match="input 'x' has dtype int64, the graph expects float32"):
        m(dl.tensor(np.ones((1, 3), np.int64)))


def test_unknown_operator_names_it_its_node_and_the_opset(tmp_path):
    model = _model([helper.make_node("Foo", ["x"], ["y"], name="mystery")],
                   [helper.make_tensor_value_info("x", F32, [1])],
                   [helper.make_tensor_value_info("y", F32, [1])])
    with pytest.raises(Unsupported, match=r"m.onnx: operator 'Foo' of node 'mystery' is "
                                          r"not supported at opset 17"):
        dl.onnx.load(_save(model, tmp_path / "m.onnx"))
    custom = _model([helper.make_node("Gelu", ["x"], ["y"], name="ms", domain="com.microsoft")],
                    [helper.make_tensor_value_info("x", F32, [1])],
                    [helper.make_tensor_value_info("y", F32, [1])])
    custom.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    with pytest.raises(Unsupported, match=r"operator com.microsoft.Gelu of node 'ms' "
                                          r"\(opset 17\): deltaflow imports only the default"):
        dl.onnx.load(_save(custom, tmp_path / "custom.onnx"))


def test_operator_newer_than_the_models_opset(tmp_path):
    model = _model([helper.make_node("Gelu", ["x"], ["y"], name="g")],
                   [helper.make_tensor_value_info("x", F32, [1])],
                   [helper.make_tensor_value_info("y", F32, [1])], opset=20)
    model.opset_import[0].version = 17              # Gelu arrived in opset 20
    with pytest.raises(OnnxImportError, match="'Gelu' of node 'g' is not supported at "
                                              "opset 17|not a valid ONNX model"):
        dl.onnx.load(_save(model, tmp_path / "m.onnx"))


def test_unsupported_attribute_value_and_dtype_are_refused_by_name(tmp_path):
    x = helper.make_tensor_value_info("x", F32, [1, 2])
    y = helper.make_tensor_value_info("y", F32, [1, 2])
    gelu = _model([helper.make_node("Gelu", ["x"], ["y"], approximate="cubic", name="g")],
                  [x], [y], opset=20)
    m = dl.onnx.load(gelu)
    with pytest.raises(Unsupported, match=r"Gelu node 'g' \(opset 20\): Gelu: "
                                          r"approximate='cubic'"):
        m(dl.ones(1, 2))
    bf16 = _model([helper.make_node("Relu", ["x"], ["y"])],
                  [helper.make_tensor_value_info("x", TensorProto.BFLOAT16, [1])],
                  [helper.make_tensor_value_info("y", TensorProto.BFLOAT16, [1])])
    with pytest.raises(Unsupported, match="input 'x' has element type BFLOAT16"):
        dl.onnx.load(bf16)


def test_unreadable_and_malformed_files_name_the_file(tmp_path):
    with pytest.raises(OnnxImportError, match="nothing.onnx: no such ONNX file"):
        dl.onnx.load(tmp_path / "nothing.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\xff\xfe this is not protobuf \x00\x01" * 10)
    with pytest.raises(OnnxImportError, match="garbage.onnx: not a"):
        dl.onnx.load(garbage)
    good = _save(_linear(), tmp_path / "good.onnx").read_bytes()
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(OnnxImportError, match="truncated.onnx: not a"):
        dl.onnx.load(truncated)
    broken = _linear()
    broken.graph.node[0].input[1] = "missing"          # reads a value nothing produces
    with pytest.raises(OnnxImportError, match="broken.onnx: not a valid ONNX model"):
        dl.onnx.load(_save(broken, tmp_path / "broken.onnx"))


def test_nodes_run_in_topological_order():
    """A graph listing a node before its producer (rejected by onnx.checker, so built and
    handed over after the check) still runs each node after its inputs."""
    from deltaflow.onnx.load import _build
    model = _model([helper.make_node("Relu", ["h"], ["y"]),
                    helper.make_node("Neg", ["x"], ["h"])],
                   [helper.make_tensor_value_info("x", F32, [2])],
                   [helper.make_tensor_value_info("y", F32, [2])])
    m = _build(model, "unsorted")
    np.testing.assert_array_equal(m(dl.tensor(np.array([1.0, -2.0], np.float32))).data,
                                  [0.0, 2.0])


REQUIRED = """Gemm MatMul Add Sub Mul Div Relu Sigmoid Tanh LeakyRelu Elu Selu Softplus Gelu Erf
Conv ConvTranspose MaxPool AveragePool GlobalAveragePool BatchNormalization
LayerNormalization Reshape Flatten Transpose Concat Gather Slice Squeeze Unsqueeze Softmax
LogSoftmax LSTM GRU Where Shape Constant ConstantOfShape Expand Cast Identity Dropout
ReduceMean ReduceSum ReduceMax Sqrt Pow Neg Exp Log Equal Less Greater Not Range Split Pad
Clip Min Max ArgMax Tile Einsum""".split()


def test_the_required_operators_are_imported_and_documented():
    from pathlib import Path
    assert set(REQUIRED) <= set(IMPORTERS)
    doc = (Path(__file__).resolve().parents[2] / "docs" / "onnx.md").read_text()
    for op in supported_operators():
        assert f"`{op}`" in doc, f"docs/onnx.md does not list the importer of {op}"


def test_every_importer_has_a_docstring():
    for op, versions in IMPORTERS.items():
        for since, fn in versions:
            assert fn.__doc__ and op in fn.__doc__, (op, since)


def test_every_operator_the_exporter_emits_is_imported():
    """The ONNX operators named in the exporter's converter table (docs/onnx.md, Export)."""
    import re

    from deltaflow.onnx import converters
    emitted = {op for _, emits, _ in converters.table()
               for op in re.findall(r"\b[A-Z][A-Za-z]+\b", emits)}
    assert emitted - set(IMPORTERS) == set()


def test_no_operator_is_claimed_before_onnx_introduced_it():
    from onnx import defs
    introduced = {}
    for schema in defs.get_all_schemas_with_history():
        if schema.domain == "":
            introduced[schema.name] = min(introduced.get(schema.name, 99), schema.since_version)
    for op, versions in supported_operators().items():
        assert versions[0] >= introduced[op], (op, versions, introduced[op])
