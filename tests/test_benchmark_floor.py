"""The GEMM floor (benchmarks/gemm_floor.py): the products each training workload lists,
checked by hand on known shapes and against torch's FLOP counter on the same models, and
the floor arithmetic (floor = Σ count · time per product, rate = flops / floor)."""
from __future__ import annotations

import importlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
gemm_floor = importlib.import_module("benchmarks.gemm_floor")
workloads = importlib.import_module("benchmarks.workloads")
Gemm = gemm_floor.Gemm


def test_flops_of_a_known_shape():
    assert Gemm("x", 128, 512, 784).flops == 2 * 128 * 512 * 784
    assert Gemm("x", 64, 64, 32, count=3, batch=128).flops == 3 * 128 * 2 * 64 * 64 * 32


def test_linear_layer_products():
    shapes = [(g.m, g.n, g.k, g.backward) for g in gemm_floor.linear("fc", 128, 784, 512)]
    assert shapes == [(128, 512, 784, False),     # y = x·Wᵀ
                      (512, 784, 128, True),      # ∂W = δᵀ·x
                      (128, 784, 512, True)]      # ∂x = δ·W
    assert len(gemm_floor.linear("fc", 128, 784, 512, input_grad=False)) == 2


def test_mlp_step_and_epoch():
    """784-512-512-10 at batch 128: 2·128·(784·512 + 512·512 + 512·10) forward, as much for
    the weight gradients, and 2·128·(512·512 + 512·10) for ∂x of layers 2 and 3."""
    mlp = workloads.load("mlp")
    fwd = 2 * 128 * (784 * 512 + 512 * 512 + 512 * 10)
    expected = 2 * fwd + 2 * 128 * (512 * 512 + 512 * 10)
    assert gemm_floor.flops(mlp.step_gemms(128)) == expected == 410_779_648
    assert gemm_floor.flops(gemm_floor.forward(mlp.step_gemms(128))) == fwd
    epoch = gemm_floor.flops(mlp.gemms())                 # 468 batches of 128, one of 96
    assert epoch == 468 * expected + gemm_floor.flops(mlp.step_gemms(96))


def test_floor_arithmetic():
    gemms = [Gemm("a", 2, 3, 4, count=10), Gemm("b", 5, 6, 7), Gemm("a again", 2, 3, 4)]
    best = {(2, 3, 4, 1): 1e-3, (5, 6, 7, 1): 4e-3}
    out = gemm_floor.summarize(gemms, best)
    assert out["floor_s"] == pytest.approx(11 * 1e-3 + 4e-3)
    assert out["flops"] == 11 * 2 * 2 * 3 * 4 + 2 * 5 * 6 * 7
    assert out["rate"] == pytest.approx(out["flops"] / out["floor_s"])
    assert [r["seconds"] for r in out["gemms"]] == pytest.approx([1e-2, 4e-3, 1e-3])


def test_measure_times_each_shape_once():
    gemms = [Gemm("a", 8, 8, 8, count=3), Gemm("b", 8, 8, 8), Gemm("c", 4, 8, 16, batch=2)]
    out = gemm_floor.measure(gemms, repeats=2, min_time=0)
    per = [r["seconds"] / r["count"] for r in out["gemms"]]
    assert per[0] == per[1] > 0 and per[2] > 0                 # one timing per shape
    assert out["floor_s"] == pytest.approx(sum(r["seconds"] for r in out["gemms"]))


def _torch_flops(run):
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops()


def test_mlp_and_cnn_products_match_torch_flop_counter():
    """torch counts the matrix products and convolutions its autograd runs, forward and
    backward (no ∂x for the data): the same totals as the listed products."""
    torch = pytest.importorskip("torch")
    mlp, cnn = workloads.load("mlp"), workloads.load("cnn")
    for module, x in ((mlp, torch.randn(128, 784)), (cnn, torch.randn(64, 1, 28, 28))):
        model = module.layers(torch.nn)
        y = torch.randint(0, 10, (len(x),))
        counted = _torch_flops(lambda m=model, x=x, y=y:
                               torch.nn.functional.cross_entropy(m(x), y).backward())
        assert counted == gemm_floor.flops(module.step_gemms(len(x)))


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_recurrent_products_match_torch_flop_counter(name):
    """nn.LSTM / nn.GRU run as one fused op the counter cannot see into; their cells
    unrolled over the 64 steps run the same products as separate matrix products."""
    torch = pytest.importorskip("torch")
    module = workloads.load(name)
    cell_type = torch.nn.LSTMCell if name == "lstm" else torch.nn.GRUCell
    T, B = module.SEQ, module.BATCH
    embed, cell = torch.nn.Embedding(module.VOCAB, module.EMBED), cell_type(module.EMBED,
                                                                            module.HIDDEN)
    head = torch.nn.Linear(module.HIDDEN, module.VOCAB)
    x = torch.randint(0, module.VOCAB, (B, T))

    def run():
        e, state, outs = embed(x), None, []
        for t in range(T):
            state = cell(e[:, t], state)
            outs.append(state[0] if isinstance(state, tuple) else state)
        head(torch.stack(outs, 1)).sum().backward()
    assert _torch_flops(run) == gemm_floor.flops(module.step_gemms())


def test_transformer_products_match_torch_flop_counter():
    """The counter sees the Linear layers of the real model (its fused attention kernel it
    cannot see into) and the attention products when written out as q·kᵀ, softmax, ·v."""
    torch = pytest.importorskip("torch")
    tr = workloads.load("transformer")
    model = tr.build_model(torch.nn, torch)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(tr.SEQ)
    x = torch.randint(0, tr.VOCAB, (32, tr.SEQ))
    gemms = tr.step_gemms(32)
    attn = [g for g in gemms if "attn" in g.what]
    linears = [g for g in gemms if "attn" not in g.what]
    assert _torch_flops(lambda: model(x, mask).sum().backward()) == gemm_floor.flops(linears)
    q, k, v = (torch.randn(32 * tr.HEADS, tr.SEQ, tr.D // tr.HEADS, requires_grad=True)
               for _ in range(3))
    counted = _torch_flops(
        lambda: (torch.softmax(q @ k.transpose(1, 2), -1) @ v).sum().backward())
    assert tr.LAYERS * counted == gemm_floor.flops(attn)


def test_every_training_workload_lists_its_products():
    for name in ("mlp", "cnn", "lstm", "gru", "transformer", "depth"):
        gemms = workloads.load(name).gemms(quick=True)
        assert gemms and all(isinstance(g, Gemm) and g.flops > 0 for g in gemms)


def test_command_line_reports_the_floor_as_json():
    done = subprocess.run([sys.executable, "-m", "benchmarks.gemm_floor", "depth", "--quick",
                           "--repeats", "1"], cwd=ROOT, capture_output=True, text=True,
                          check=True)
    out = json.loads(done.stdout.strip().splitlines()[-1])
    depth = workloads.load("depth")
    assert out["workload"] == "depth" and out["floor_s"] > 0 and out["peak_rate"] > 0
    assert out["flops"] == gemm_floor.flops(depth.gemms(quick=True))
    if importlib.util.find_spec("torch") is not None:    # PyTorch's matmul on the shapes
        ref = out["reference"]
        assert ref["library"] == "torch" and ref["floor_s"] > 0
        assert ref["rate"] == pytest.approx(out["flops"] / ref["floor_s"])


def test_torch_times_the_same_shapes():
    pytest.importorskip("torch")
    gemms = [Gemm("a", 16, 24, 32, count=2), Gemm("b", 8, 8, 8, batch=3)]
    out = gemm_floor.measure(gemms, repeats=2, min_time=0, library="torch")
    assert out["flops"] == gemm_floor.flops(gemms) and out["floor_s"] > 0
    assert [r["count"] for r in out["gemms"]] == [2, 1]
