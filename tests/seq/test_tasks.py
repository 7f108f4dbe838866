"""`deltaflow train --task charlm|gan` and `deltaflow generate` end to end on tiny budgets."""
from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

import deltaflow as dl
from deltaflow.cli import main
from deltaflow.models import gan as G
from deltaflow.tasks.gan import adversarial_step, judge_samples, save_png_grid

TEXT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n"
        * 40)
MNIST = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mnist"


def _train(tmp_path, *argv):
    rc = main(["train", *map(str, argv), "--out", str(tmp_path), "--name", "run"])
    assert rc == 0
    return tmp_path / "run"


@pytest.mark.parametrize("model,extra", [("lstm", ["--stateful", "--layers", "2",
                                                    "--hidden-size", "16"]),
                                         ("transformer", ["--d-model", "16", "--heads", "2"])])
def test_charlm_trains_saves_and_generates(tmp_path, capsys, model, extra):
    text = tmp_path / "tiny.txt"
    text.write_text(TEXT)
    run = _train(tmp_path, "--task", "charlm", "--data", f"text:{text}", "--model", model,
                 "--epochs", 2, "--steps-per-epoch", 15, "--seq-len", 16, "--batch-size", 8,
                 "--lr", 0.01, "--eval-chars", 500, "--sample-tokens", 10, *extra)
    for name in ("config.json", "model.safetensors", "metrics.jsonl", "samples.txt",
                 "result.json", "checkpoints/last.json"):
        assert (run / name).exists(), name
    logs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(logs) == 2 and logs[1]["train_loss"] < logs[0]["train_loss"]
    result = json.loads((run / "result.json").read_text())
    assert result["val_loss"] < np.log(len(set(TEXT)))   # better than uniform guessing
    assert main(["train", "--task", "charlm", "--eval-run", str(run)]) == 0   # re-measure
    again = json.loads((run / "result.json").read_text())
    assert again["val_loss"] == pytest.approx(result["val_loss"], rel=1e-6)
    assert again["steps"] == 30 and again["evaluated_by"] == "--eval-run"
    capsys.readouterr()
    assert main(["generate", str(run), "--prompt", "All:", "--tokens", "25", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("All:") and len(out) == len("All:") + 25 + 1
    assert set(out) <= set(TEXT)


def test_generate_errors_are_one_line(tmp_path, capsys):
    assert main(["generate", str(tmp_path / "missing"), "--prompt", "a"]) == 1
    assert "config.json not found" in capsys.readouterr().err


def test_charlm_rejects_stateful_transformer(tmp_path, capsys):
    text = tmp_path / "tiny.txt"
    text.write_text(TEXT)
    rc = main(["train", "--task", "charlm", "--data", f"text:{text}", "--model", "transformer",
               "--stateful", "--out", str(tmp_path)])
    assert rc == 1 and "--stateful" in capsys.readouterr().err


def test_png_grid_is_a_valid_png(tmp_path):
    images = np.linspace(-1, 1, 6 * 28 * 28).reshape(6, 1, 28, 28)
    path = save_png_grid(images, tmp_path / "g.png", nrow=3, pad=2)
    raw = path.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", raw[16:24])
    assert (width, height) == (3 * 30 + 2, 2 * 30 + 2)
    idat_len = struct.unpack(">I", raw[33:37])[0]
    pixels = zlib.decompress(raw[41:41 + idat_len])
    assert len(pixels) == height * (width + 1)


def test_judge_counts_classes_and_confidence():
    class OneHot:
        def eval(self):
            pass

        def __call__(self, x):
            import deltaflow as dl
            logits = np.full((len(x.data), 10), -20.0)
            logits[np.arange(len(x.data)), np.arange(len(x.data)) % 7] = 20.0
            return dl.tensor(logits)

    r = judge_samples(OneHot(), np.zeros((70, 1, 28, 28), np.float32))
    assert r["classes_produced"] == 7 and r["class_counts"][:7] == [10] * 7
    assert r["mean_top_probability"] > 0.999


def test_adversarial_step_detaches_fakes_for_d_and_backprops_through_d_into_g():
    dl.manual_seed(0)
    gen, disc = G.build("mlp", z_dim=8)
    opt_g = dl.optim.Adam(gen.parameters(), lr=1e-3)
    opt_d = dl.optim.Adam(disc.parameters(), lr=1e-3)
    real = dl.tensor(np.random.default_rng(0).uniform(-1, 1, (4, 1, 28, 28)).astype(np.float32))
    before = {k: v.numpy().copy() for k, v in disc.state_dict().items()}
    calls = []
    orig_step = opt_d.step

    def d_step():
        # at the D update, G has no gradient: L_D's backward stopped at fake.detach()
        calls.append(all(p.grad is None for p in gen.parameters()))
        orig_step()
    opt_d.step = d_step
    stats = adversarial_step(gen, disc, opt_g, opt_d, real, 8)
    assert calls == [True]
    assert stats[4] > 0                                   # G got ∂L_G/∂θ_G through D
    assert all(p.grad is not None for p in gen.parameters())
    after = disc.state_dict()                             # D changed only in its own step
    assert any(not np.array_equal(before[k], after[k].numpy()) for k in before)


@pytest.mark.slow
@pytest.mark.skipif(not MNIST.is_dir(), reason="MNIST IDX files not in ../shared/data/mnist")
@pytest.mark.parametrize("model", ["mlp", "dcgan"])
def test_gan_epoch_writes_png_and_weights(tmp_path, model):
    run = _train(tmp_path, "--task", "gan", "--model", model, "--data-dir", MNIST.parent,
                 "--epochs", 1, "--max-minutes", 0.02, "--batch-size", 16)
    assert (run / "samples" / "epoch_001.png").read_bytes()[:4] == b"\x89PNG"
    assert (run / "generator.safetensors").exists()
    rec = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    assert rec["grad_norm_G"] > 0 and 0 < rec["D_real"] < 1
