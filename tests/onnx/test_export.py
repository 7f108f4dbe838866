"""``dl.onnx.export``: every model ``deltaflow train`` builds and every layer the exporter
claims, checked by ``onnx.checker`` (full check) and run by onnxruntime and by onnx's
ReferenceEvaluator at batch sizes other than the example's, against deltaflow's outputs
(the memory network also at other numbers of memory slots and sentence lengths, and
through ``dl.onnx.load`` again)."""
from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="dl.onnx.export needs the onnx package")
ort = pytest.importorskip("onnxruntime", reason="the exported models are run by onnxruntime")

from onnx.reference import ReferenceEvaluator  # noqa: E402

import deltaflow as dl  # noqa: E402
import deltaflow.onnx  # noqa: E402, F401
from deltaflow import nn  # noqa: E402
from deltaflow.models import charlm, cnn, gan, mlp  # noqa: E402
from deltaflow.models.memn2n import MemN2N  # noqa: E402
from deltaflow.onnx import ExportError, converters  # noqa: E402
from deltaflow.onnx.export import _flatten  # noqa: E402

TOL = dict(rtol=1e-5, atol=1e-5)


def floats(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def ids(*shape, vocab=7, seed=0):
    return np.random.default_rng(seed).integers(0, vocab, shape).astype(np.int64)


def run_all(path, proto, feeds, reference=True):
    """Outputs of onnxruntime and of the ReferenceEvaluator (when ``reference``) on
    ``feeds``."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    feed = dict(zip(names, feeds))
    by_ort = session.run(None, feed)
    return by_ort, ReferenceEvaluator(proto).run(None, feed) if reference else by_ort


def deltaflow_outputs(model, feeds):
    with dl.no_grad():
        return [t.numpy() for t in _flatten(model(*[dl.tensor(x) for x in feeds]))]


#: what onnx 1.23's ReferenceEvaluator does not implement: RNN with Relu (only Tanh),
#: ConvTranspose with group > 1; these run on onnxruntime only
NO_REFERENCE = ("rnn-relu", "convT2d-groups")


def check_export(tmp_path, model, example, others, opset=17, reference=True, **kwargs):
    """Export at ``example``; for each input tuple in ``others`` both runtimes must give
    deltaflow's outputs. Returns the loaded ModelProto."""
    model.eval()
    path = tmp_path / "model.onnx"
    dl.onnx.export(model, example, path, opset_version=opset, **kwargs)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    for feeds in others:
        want = deltaflow_outputs(model, feeds)
        by_ort, by_ref = run_all(path, proto, feeds, reference)
        assert len(by_ort) == len(want)
        for w, a, b in zip(want, by_ort, by_ref):
            assert a.shape == w.shape and a.dtype == w.dtype
            np.testing.assert_allclose(a, w, **TOL)
            np.testing.assert_allclose(b, w, **TOL)
    return proto


def op_types(proto):
    return {node.op_type for node in proto.graph.node}


# ------------------------------------------------------------------ the CLI's models
MODELS = {
    "mlp": lambda: mlp.mlp(12, (16, 8), 3, activation="gelu", dropout=0.2, batchnorm=True,
                           flatten=True),
    "cnn": lambda: cnn.cnn((1, 12, 12), 4, channels=(4, 8), fc=16, dropout=0.2, batchnorm=True),
    "gan-mlp": lambda: gan.MLPGenerator(z_dim=6, hidden=8),
    "gan-dcgan": lambda: gan.DCGenerator(z_dim=6, channels=4),
}
EXAMPLES = {"mlp": (2, 3, 4), "cnn": (2, 1, 12, 12), "gan-mlp": (2, 6), "gan-dcgan": (2, 6)}


def _trained_statistics(model):
    """Non-trivial BatchNorm running statistics (as after training)."""
    rng = np.random.default_rng(1)
    for m in model.modules():
        if isinstance(m, nn.modules.normalization._BatchNorm) and m.running_mean is not None:
            m.running_mean.data[...] = rng.standard_normal(m.running_mean.shape)
            m.running_var.data[...] = rng.uniform(0.5, 2, m.running_var.shape)
    return model


@pytest.mark.parametrize("name", sorted(MODELS))
def test_cli_models(tmp_path, name):
    dl.manual_seed(0)
    model = _trained_statistics(MODELS[name]())
    shape = EXAMPLES[name]
    check_export(tmp_path, model, floats(*shape), [(floats(5, *shape[1:], seed=1),),
                                                   (floats(1, *shape[1:], seed=2),)])


def test_charlm_lstm_with_state(tmp_path):
    dl.manual_seed(0)
    model = charlm.CharLSTM(7, embed_dim=5, hidden_size=6, num_layers=2)

    class Stateful(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, x, h0, c0):
            logits, (h, c) = self.model(x, (h0, c0))
            return logits, h, c

    state = floats(2, 2, 6, seed=3)
    seq = {0: "batch", 1: "sequence"}
    check_export(tmp_path, Stateful(), (ids(2, 5), state, state), [
        (ids(4, 3, seed=1), floats(2, 4, 6, seed=4), floats(2, 4, 6, seed=5)),
        (ids(1, 9, seed=2), floats(2, 1, 6, seed=6), floats(2, 1, 6, seed=7))],
        input_names=["ids", "h0", "c0"], output_names=["logits", "h", "c"],
        dynamic_axes={"ids": seq, "h0": {1: "batch"}, "c0": {1: "batch"}})


def test_charlm_lstm_default_state_and_batch(tmp_path):
    dl.manual_seed(0)
    proto = check_export(tmp_path, charlm.CharLSTM(7, 5, 6, num_layers=1), ids(2, 5),
                         [(ids(3, 5, seed=1),)])
    assert "LSTM" in op_types(proto)
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert proto.graph.input[0].type.tensor_type.shape.dim[1].dim_value == 5


@pytest.mark.parametrize("opset", [13, 17, 20])
def test_charlm_transformer_dynamic_sequence(tmp_path, opset):
    """Causal mask and position slice follow the sequence length at run time."""
    dl.manual_seed(0)
    model = charlm.CharTransformer(7, d_model=8, nhead=2, num_layers=2, block_size=6)

    class Logits(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, x):
            return self.model(x)[0]

    proto = check_export(tmp_path, Logits(), ids(2, 4), [(ids(3, 6, seed=1),),
                                                        (ids(1, 2, seed=2),)], opset=opset,
                         dynamic_axes={"input": {0: "batch", 1: "sequence"}})
    assert ("LayerNormalization" in op_types(proto)) == (opset >= 17)
    assert ("Gelu" in op_types(proto)) == (opset >= 20)
    assert {"Range", "Less", "Softmax"} <= op_types(proto)     # the causal mask


# ------------------------------------------------------------------ layers
def _act(module):
    return lambda: module


ACTIVATIONS = [nn.ReLU(), nn.SELU(), nn.SiLU(), nn.Mish(), nn.LeakyReLU(0.1), nn.ELU(0.7),
               nn.GELU(), nn.GELU("tanh"), nn.Sigmoid(), nn.Tanh(), nn.LogSigmoid(),
               nn.Softplus(beta=2.0, threshold=3.0), nn.Hardtanh(-0.5, 0.8), nn.ReLU6(),
               nn.Softmax(1), nn.LogSoftmax(-1), nn.Softmin(1), nn.Hardsigmoid(),
               nn.Hardswish(), nn.CELU(0.5), nn.Softsign(), nn.GLU(1), nn.PReLU(),
               nn.Threshold(0.1, 2.0), nn.Hardshrink(), nn.Softshrink(), nn.Tanhshrink(),
               nn.RReLU(), nn.Softmax2d()]


@pytest.mark.parametrize("module", ACTIVATIONS, ids=lambda m: type(m).__name__)
@pytest.mark.parametrize("opset", [13, 18])
def test_activations(tmp_path, module, opset):
    x = floats(2, 4, 3, 3) * 4
    check_export(tmp_path, module, x, [(floats(3, 4, 3, 3, seed=1) * 4,)], opset=opset)


LAYERS = {
    "linear-3d": (lambda: nn.Linear(4, 3), (2, 5, 4)),
    "linear-no-bias": (lambda: nn.Linear(4, 3, bias=False), (2, 4)),
    "conv1d": (lambda: nn.Conv1d(2, 3, 3, stride=2, padding=1, dilation=2), (2, 2, 11)),
    "conv2d-groups": (lambda: nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 0),
                                        groups=2), (2, 4, 7, 6)),
    "conv3d": (lambda: nn.Conv3d(2, 3, 3, padding=1, stride=(1, 2, 1)), (2, 2, 4, 5, 4)),
    "convT1d": (lambda: nn.ConvTranspose1d(2, 3, 3, stride=2, output_padding=1), (2, 2, 5)),
    "convT2d": (lambda: nn.ConvTranspose2d(4, 2, 4, stride=2, padding=1), (2, 4, 3, 5)),
    "convT2d-groups": (lambda: nn.ConvTranspose2d(4, 2, 3, stride=2, groups=2), (2, 4, 3, 5)),
    "convT3d": (lambda: nn.ConvTranspose3d(2, 3, 3, stride=2), (2, 2, 3, 2, 3)),
    "maxpool1d": (lambda: nn.MaxPool1d(3, stride=2, padding=1), (2, 2, 9)),
    "maxpool2d-ceil": (lambda: nn.MaxPool2d(3, stride=2, ceil_mode=True), (2, 2, 8, 7)),
    "maxpool3d": (lambda: nn.MaxPool3d(2), (2, 2, 4, 4, 6)),
    "avgpool1d": (lambda: nn.AvgPool1d(3, padding=1), (2, 2, 6)),
    "avgpool2d-exclude-pad": (lambda: nn.AvgPool2d(3, stride=2, padding=1,
                                                   count_include_pad=False), (2, 2, 7, 6)),
    "avgpool2d-divisor": (lambda: nn.AvgPool2d(2, divisor_override=3), (2, 2, 4, 6)),
    "adaptive-avg1d": (lambda: nn.AdaptiveAvgPool1d(3), (2, 2, 7)),
    "adaptive-avg2d-global": (lambda: nn.AdaptiveAvgPool2d(1), (2, 3, 5, 5)),
    "adaptive-avg2d-uneven": (lambda: nn.AdaptiveAvgPool2d((4, 3)), (2, 2, 7, 7)),
    "adaptive-max1d": (lambda: nn.AdaptiveMaxPool1d(2), (2, 2, 6)),
    "adaptive-max2d-uneven": (lambda: nn.AdaptiveMaxPool2d(3), (2, 2, 7, 7)),
    "batchnorm1d-2d": (lambda: nn.BatchNorm1d(4), (2, 4)),
    "batchnorm1d-3d": (lambda: nn.BatchNorm1d(3, affine=False), (2, 3, 5)),
    "batchnorm2d": (lambda: nn.BatchNorm2d(3), (2, 3, 4, 4)),
    "batchnorm-batch-stats": (lambda: nn.BatchNorm2d(3, track_running_stats=False),
                              (2, 3, 4, 4)),
    "layernorm-2axes": (lambda: nn.LayerNorm((3, 4)), (2, 3, 4)),
    "layernorm-no-affine": (lambda: nn.LayerNorm(4, elementwise_affine=False), (2, 3, 4)),
    "rmsnorm": (lambda: nn.RMSNorm(4), (2, 3, 4)),
    "dropout": (lambda: nn.Sequential(nn.Dropout(0.5), nn.Dropout2d(0.3), nn.Linear(4, 2)),
                (2, 3, 4)),
    "flatten-unflatten": (lambda: nn.Sequential(nn.Flatten(), nn.Unflatten(1, (2, 6))),
                          (2, 3, 4)),
    "upsample-bilinear": (lambda: nn.Upsample(scale_factor=2, mode="bilinear"), (2, 2, 3, 4)),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layers(tmp_path, name):
    dl.manual_seed(0)
    build, shape = LAYERS[name]
    model = _trained_statistics(build())
    check_export(tmp_path, model, floats(*shape), [(floats(4, *shape[1:], seed=1),),
                                                   (floats(1, *shape[1:], seed=2),)],
                 reference=name not in NO_REFERENCE)


def test_layernorm_opsets(tmp_path):
    model = nn.LayerNorm(4)
    assert "LayerNormalization" not in op_types(
        check_export(tmp_path, model, floats(2, 4), [(floats(3, 4),)], opset=13))
    assert "LayerNormalization" in op_types(
        check_export(tmp_path, model, floats(2, 4), [(floats(3, 4),)], opset=17))


def test_embedding_gathers_the_input_ids(tmp_path):
    proto = check_export(tmp_path, nn.Embedding(7, 3, padding_idx=0), ids(2, 4),
                         [(ids(5, 4, seed=1),)])
    assert op_types(proto) == {"Gather"}


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn-relu"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_recurrent(tmp_path, kind, bidirectional):
    dl.manual_seed(0)
    cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn-relu": nn.RNN}[kind]
    extra = {"nonlinearity": "relu"} if kind == "rnn-relu" else {}
    model = cls(3, 4, num_layers=2, batch_first=True, bidirectional=bidirectional, **extra)
    proto = check_export(tmp_path, model, floats(2, 5, 3),
                         [(floats(3, 5, 3, seed=1),), (floats(1, 5, 3, seed=2),)],
                         reference=kind not in NO_REFERENCE)
    assert {"lstm": "LSTM", "gru": "GRU", "rnn-relu": "RNN"}[kind] in op_types(proto)


def test_recurrent_without_bias_time_major(tmp_path):
    dl.manual_seed(0)
    model = nn.GRU(3, 4, bias=False)
    check_export(tmp_path, model, floats(5, 2, 3), [(floats(5, 3, 3, seed=1),)],
                 dynamic_axes={"input": {1: "batch"}})


class Attention(nn.Module):
    def __init__(self, **kwargs):
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.kwargs = kwargs

    def forward(self, x, *masks):
        named = dict(zip(self.kwargs.get("names", ()), masks))
        extra = {k: v for k, v in self.kwargs.items() if k != "names"}
        return self.attn(x, x, x, **named, **extra)


def _padding_mask(n, s, seed):
    mask = np.random.default_rng(seed).random((n, s)) < 0.3
    mask[:, 0] = False                          # every query sees at least one key
    return mask


def test_multihead_attention_with_weights(tmp_path):
    dl.manual_seed(0)
    check_export(tmp_path, Attention(), floats(2, 3, 8), [(floats(4, 3, 8, seed=1),)])


def test_multihead_attention_key_padding_mask_is_an_input(tmp_path):
    dl.manual_seed(0)
    model = Attention(names=("key_padding_mask",), need_weights=False)
    proto = check_export(tmp_path, model, (floats(2, 5, 8), _padding_mask(2, 5, 0)),
                         [(floats(4, 5, 8, seed=1), _padding_mask(4, 5, 1)),
                          (floats(1, 5, 8, seed=2), _padding_mask(1, 5, 2))])
    assert [i.name for i in proto.graph.input] == ["input_0", "input_1"]


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # ONNX's NaN
def test_multihead_attention_fully_masked_row_gives_zeros(tmp_path):
    dl.manual_seed(0)
    model = Attention(names=("key_padding_mask",), need_weights=False)
    mask = np.ones((3, 4), dtype=bool)
    mask[1:, 0] = False                         # sample 0: every key masked
    check_export(tmp_path, model, (floats(2, 4, 8), mask[:2]), [(floats(3, 4, 8, seed=1), mask)])


@pytest.mark.parametrize("mask", ["bool", "float", "causal"])
def test_multihead_attention_attn_mask(tmp_path, mask):
    dl.manual_seed(0)
    if mask == "causal":
        m = dl.tensor(np.triu(np.ones((4, 4), dtype=bool), 1))
    elif mask == "bool":
        m = dl.tensor(np.random.default_rng(0).random((4, 4)) < 0.3)
    else:
        m = dl.tensor(floats(4, 4, seed=3))
    check_export(tmp_path, Attention(attn_mask=m), floats(2, 4, 8), [(floats(3, 4, 8, seed=1),)])


@pytest.mark.parametrize("norm_first,activation", [(False, "relu"), (True, "gelu")])
def test_transformer_encoder_layer_with_masks(tmp_path, norm_first, activation):
    dl.manual_seed(0)
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.1, activation=activation,
                                       batch_first=True, norm_first=norm_first)
    causal = dl.tensor(np.triu(np.ones((5, 5), dtype=bool), 1))

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = layer

        def forward(self, x, padding):
            return self.layer(x, src_mask=causal, src_key_padding_mask=padding)

    check_export(tmp_path, Encoder(), (floats(2, 5, 8), _padding_mask(2, 5, 0)),
                 [(floats(3, 5, 8, seed=1), _padding_mask(3, 5, 1))])


class Shapes(nn.Module):
    """flatten / reshape / concat / stack / split / slicing / indexing / reductions."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(4, 4)

    def forward(self, x):                       # x (N, 3, 4)
        y = self.proj(x)
        a, b = dl.split(y, [1, 3], dim=2)
        z = dl.cat([b, a, y[:, :, 1:3]], dim=2)                    # (N, 3, 6)
        z = z.permute(0, 2, 1).reshape(x.shape[0], -1)             # (N, 18)
        s = dl.stack([x[:, 0], x[:, -1], x[..., 1:3].sum(dim=2, keepdim=True).expand(-1, -1, 4)
                      [:, 1]], dim=1)                               # (N, 3, 4)
        picked = x[:, [2, 0], 1:]                                  # (N, 2, 3)
        flipped = dl.flip(x, dims=(2,))[:, None, ::2]             # (N, 1, 3, 2)
        stats = dl.cat([x.mean(dim=(1, 2)).reshape(-1, 1), x.std(dim=2)[:, :1],
                        x.amax(dim=1)[:, :1], x.max(dim=2).values[:, :1],
                        x.min(dim=2).values[:, :1], dl.logsumexp(x, dim=2)[:, :1],
                        x.norm(dim=2)[:, :1], x.var(dim=(1, 2), keepdim=True).reshape(-1, 1)],
                       dim=1)
        return (z, s, picked, flipped.reshape(-1, 8), stats, dl.clamp(x, -0.5, 0.5).pow(2),
                nn.functional.pad(x, (1, 2)), x.abs().sqrt(),
                dl.cumsum(x, dim=1), dl.tril(x[0]), dl.roll(x, 1, dims=2),
                x.repeat(1, 2, 1), (x @ x.transpose(1, 2)).exp().log1p())


def test_shape_and_index_ops(tmp_path):
    dl.manual_seed(0)
    check_export(tmp_path, Shapes(), floats(2, 3, 4), [(floats(5, 3, 4, seed=1),)])


# ------------------------------------------------------------------ versions and errors
def test_lookup_takes_the_newest_converter_not_above_the_opset():
    from deltaflow.ops import activation, norm
    assert converters.lookup(norm.LayerNorm, 16).since == 13
    assert converters.lookup(norm.LayerNorm, 17).since == 17
    assert converters.lookup(norm.LayerNorm, 21).since == 17
    assert converters.lookup(activation.GELU, 19).since == 13
    assert converters.lookup(activation.GELU, 20).since == 20
    assert converters.lookup(activation.Hardswish, 13).since == 13
    assert converters.lookup(activation.Hardswish, 14).since == 14


def test_docs_table_lists_every_converter():
    from pathlib import Path
    docs = (Path(__file__).resolve().parents[2] / "docs" / "onnx.md").read_text()
    section = docs.split("### Supported operators (export)")[1].split("\n## ")[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert rows == [f"| `{op}` | {emits} | {opsets} |" for op, emits, opsets in converters.table()]


class Cumulative(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = nn.Sequential(nn.Linear(3, 3), CumProd())

    def forward(self, x):
        return self.inner(x)


class CumProd(nn.Module):
    def forward(self, x):
        return dl.cumprod(x, dim=1)


def test_unsupported_op_names_op_module_and_opset_and_writes_nothing(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"old")
    with pytest.raises(ExportError) as err:
        dl.onnx.export(Cumulative(), floats(2, 3), path, opset_version=15)
    message = str(err.value)
    assert "'cumprod'" in message and "deltaflow.ops.scan.Cumprod" in message
    assert "module 'model.inner.1'" in message and "opset 15" in message
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]   # no temporary left


class ThroughNumpy(nn.Module):
    def forward(self, x):
        return dl.tensor(x.numpy() * 2) + x


def test_values_computed_outside_the_ops_are_refused(tmp_path):
    with pytest.raises(ExportError, match="made outside deltaflow ops"):
        dl.onnx.export(ThroughNumpy(), floats(2, 3), tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


class ShapeBranch(nn.Module):
    def forward(self, x):
        return x.exp() if x.shape[0] % 2 else x.tanh()


def test_control_flow_on_shapes_is_refused(tmp_path):
    with pytest.raises(ExportError, match="other ops at other input sizes"):
        dl.onnx.export(ShapeBranch(), floats(2, 3), tmp_path / "m.onnx")
    dl.onnx.export(ShapeBranch(), floats(2, 3), tmp_path / "m.onnx", dynamic_axes={})
    proto = onnx.load(str(tmp_path / "m.onnx"))
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 2


class Unused(nn.Module):
    def forward(self, x, y):
        return x * 2


def test_an_input_that_reaches_no_output_is_refused(tmp_path):
    with pytest.raises(ExportError, match="'input_1' does not reach the outputs"):
        dl.onnx.export(Unused(), (floats(2, 3), floats(2, 3)), tmp_path / "m.onnx")


def test_names_opset_range_and_metadata(tmp_path):
    model = nn.Linear(3, 2)
    with pytest.raises(ValueError, match="opset_version must be in"):
        dl.onnx.export(model, floats(2, 3), tmp_path / "m.onnx", opset_version=11)
    with pytest.raises(ValueError, match="dynamic_axes names"):
        dl.onnx.export(model, floats(2, 3), tmp_path / "m.onnx", dynamic_axes={"x": [0]})
    proto = dl.onnx.export(model, floats(2, 3), tmp_path / "m.onnx", input_names=["x"],
                           output_names=["y"], metadata={"note": "hello"})
    assert [i.name for i in proto.graph.input] == ["x"]
    assert [o.name for o in proto.graph.output] == ["y"]
    assert {p.key: p.value for p in proto.metadata_props} == {"note": "hello"}
    assert {i.name for i in proto.graph.initializer} == {"weight", "bias"}
    assert model.training                            # the mode is restored


# ------------------------------------------------------------------ EmbeddingBag, MemN2N
V, D, MEMORY = 13, 6, 8   # the EmbeddingBag and MemN2N tests'


def padded_ids(*shape, vocab=13, seed=0, pad=0.3):
    """Word ids in 1..vocab−1 with about ``pad`` of them 0 (the padding)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(1, vocab, shape)
    return np.where(rng.random(shape) < pad, 0, x).astype(np.int64)


class Bags(nn.Module):
    def __init__(self, **kw):
        super().__init__()
        self.bag = nn.EmbeddingBag(V, D, **kw)

    def forward(self, index, *weights):
        return self.bag(index, per_sample_weights=weights[0] if weights else None)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("padding_idx", [None, 0])
def test_embedding_bag_2d(tmp_path, mode, padding_idx):
    dl.manual_seed(0)
    model = Bags(mode=mode, padding_idx=padding_idx)
    empty = padded_ids(4, 5, seed=2)
    empty[1] = 0                                     # a bag of padding only: zeros
    proto = check_export(tmp_path, model, (padded_ids(3, 5),),
                         [(empty,), (padded_ids(6, 5, seed=1),)])
    assert "Gather" in op_types(proto)


def test_embedding_bag_per_sample_weights_and_padding(tmp_path):
    dl.manual_seed(0)
    model = Bags(mode="sum", padding_idx=0)
    check_export(tmp_path, model, (padded_ids(3, 5), floats(3, 5)),
                 [(padded_ids(7, 5, seed=1), floats(7, 5, seed=1))])


def test_embedding_bag_with_offsets_is_refused(tmp_path):
    class Offsets(nn.Module):
        def __init__(self):
            super().__init__()
            self.bag = nn.EmbeddingBag(V, D, mode="sum")

        def forward(self, index):
            return self.bag(index, dl.tensor(np.array([0, 2])))

    with pytest.raises(ExportError, match="1-D input cut at offsets.*2-D input"):
        dl.onnx.export(Offsets(), padded_ids(5), tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


# ------------------------------------------------------------------ MemN2N
def batch(n, slots, words, query_words=4, seed=0):
    """Stories of left-aligned sentences (1..words words), the last slots of some stories
    empty, their time indices (1 = the latest sentence, 0 = empty), a query."""
    rng = np.random.default_rng(seed)
    story = np.zeros((n, slots, words), dtype=np.int64)
    time = np.zeros((n, slots), dtype=np.int64)
    for b in range(n):
        filled = int(rng.integers(1, slots + 1))
        for i in range(filled):
            length = int(rng.integers(1, words + 1))
            story[b, i, :length] = rng.integers(1, V, length)
        time[b, :filled] = np.arange(filled, 0, -1)
    query = np.zeros((n, query_words), dtype=np.int64)
    query[:, :3] = rng.integers(1, V, (n, 3))
    return story, query, time


AXES = {"story": {0: "batch", 1: "slots", 2: "words"}, "query": {0: "batch", 1: "query_words"},
        "time": {0: "batch", 1: "slots"}}


def memn2n(tying, pe, te, linear):
    dl.manual_seed(1)
    model = MemN2N(V, D, hops=3, memory_size=MEMORY, tying=tying, position_encoding=pe,
                   temporal_encoding=te)
    model.linear.data = np.array(linear)
    return model.eval()


@pytest.mark.parametrize("tying", ["adjacent", "layerwise"])
@pytest.mark.parametrize("pe, te", [(True, True), (False, True), (True, False), (False, False)])
@pytest.mark.parametrize("linear", [False, True])
def test_memn2n(tmp_path, tying, pe, te, linear):
    model = memn2n(tying, pe, te, linear)
    if linear and not te:            # no temporal encoding, no softmax over filled slots
        with pytest.raises(ExportError, match="input 'time' does not reach the outputs"):
            dl.onnx.export(model, batch(5, 4, 7, 6), tmp_path / "m.onnx",
                           input_names=["story", "query", "time"], dynamic_axes=AXES)
        return
    others = [batch(5, 4, 5, seed=1), batch(1, 6, 3, 6, seed=2), batch(9, MEMORY, 7, seed=3)]
    proto = check_export(tmp_path, model, batch(2, 3, 4, 4), others,
                         input_names=["story", "query", "time"], output_names=["logits"],
                         dynamic_axes=AXES)
    assert "Gather" in op_types(proto) and "ReduceSum" in op_types(proto)
    dims = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]
            for i in proto.graph.input}
    assert dims == {"story": ["batch", "slots", "words"], "query": ["batch", "query_words"],
                    "time": ["batch", "slots"]}
    loaded = dl.onnx.load(tmp_path / "model.onnx").eval()
    story, query, time = others[0]
    with dl.no_grad():
        want = model(story, query, time).numpy()
        got = loaded(dl.tensor(story), dl.tensor(query), dl.tensor(time)).numpy()
    np.testing.assert_allclose(got, want, **TOL)


def test_memn2n_export_at_the_batch_alone(tmp_path):
    """The default dynamic axes (the batch only): other batch sizes, the example's slots
    and sentence length."""
    model = memn2n("adjacent", True, True, False)
    check_export(tmp_path, model, batch(2, 4, 5), [batch(7, 4, 5, seed=4)])


def test_second_trace_sizes_keep_every_dynamic_product_apart():
    """Trace B's sizes: equal example sizes get different ones, none equals its example
    size, and no product of dynamic sizes (a reshape to batch × slots) is the same in both
    traces (2·3 = 3·2) or shared with another product."""
    from deltaflow.onnx.export import _distinguishable, _resized
    xs = (dl.zeros(2, 3, 4, dtype=dl.int64), dl.zeros(2, 4, dtype=dl.int64),
          dl.zeros(2, 3, dtype=dl.int64))
    axes = {"story": {0: "batch", 1: "slots", 2: "words"}, "query": {0: "batch", 1: "q"},
            "time": {0: "batch", 1: "slots"}}
    resized, symbols = _resized(xs, ["story", "query", "time"], axes)
    pairs = list(symbols)
    assert len(pairs) == 4 and _distinguishable(pairs)
    assert all(a != b for a, b in pairs)
    assert resized[0].shape[1] == resized[2].shape[1]          # one symbol, one size
    assert not _distinguishable([(2, 3), (3, 2)]) and not _distinguishable([(4, 3), (4, 3)])


def test_no_second_trace_size_is_an_error_saying_so():
    from deltaflow.onnx.export import _trace_b_size
    with pytest.raises(ExportError, match="no size for a second trace of a dynamic axis of "
                                          "size 3 keeps the dynamic sizes"):
        _trace_b_size(3, [(4, 4)])          # a static-looking pair: nothing can fix it
