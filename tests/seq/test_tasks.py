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
from deltaflow.tasks.gan import GANTask, judge_samples, save_png_grid
from deltaflow.train import Trainer

TEXT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n"
        * 40)
MNIST = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mnist"


def _train(tmp_path, *argv):
    rc = main(["train", *map(str, argv), "--out", str(tmp_path), "--name", "run",
               "--no-progress"])
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
    for name in ("config.toml", "model.json", "model.safetensors", "metrics.jsonl",
                 "samples.txt", "results.json", "checkpoints/last.json"):
        assert (run / name).exists(), name
    logs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(logs) == 2 and logs[1]["loss"] < logs[0]["loss"]
    assert {"val_loss", "val_ppl"} <= set(logs[0])
    result = json.loads((run / "results.json").read_text())
    assert result["test_loss"] < np.log(len(set(TEXT)))   # better than uniform guessing
    assert result["steps"] == 30
    capsys.readouterr()
    assert main(["eval", str(run), "--json"]) == 0           # re-measure the test split
    again = json.loads(capsys.readouterr().out)
    assert again["loss"] == pytest.approx(result["test_loss"], rel=1e-6)
    assert main(["generate", str(run), "--prompt", "All:", "--tokens", "25", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("All:") and len(out) == len("All:") + 25 + 1
    assert set(out) <= set(TEXT)
    text.write_text(TEXT + "@")                               # the text changed since
    assert main(["eval", str(run)]) == 1
    assert "has other characters than when" in capsys.readouterr().err


def test_generate_errors_are_one_line(tmp_path, capsys):
    assert main(["generate", str(tmp_path / "missing"), "--prompt", "a"]) == 1
    assert "no such run folder or checkpoint" in capsys.readouterr().err
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "config.json").write_text("{}")
    (tmp_path / "old" / "model.safetensors").write_bytes(b"")
    assert main(["generate", str(tmp_path / "old"), "--prompt", "a"]) == 1
    assert "written by an earlier deltaflow" in capsys.readouterr().err


def test_commands_name_a_run_of_the_wrong_task(tmp_path, capsys):
    pytest.importorskip("sklearn")
    assert main(["train", "--hidden", "8", "--epochs", "1", "--no-progress", "--no-plot",
                 "--out", str(tmp_path), "--name", "c"]) == 0
    capsys.readouterr()
    assert main(["generate", str(tmp_path / "c"), "--prompt", "a"]) == 1
    err = capsys.readouterr().err
    assert "is a classify run, not a charlm run" in err and err.count("\n") == 1


def test_charlm_rejects_stateful_transformer_and_classify_options(tmp_path, capsys):
    text = tmp_path / "tiny.txt"
    text.write_text(TEXT)
    rc = main(["train", "--task", "charlm", "--data", f"text:{text}", "--model", "transformer",
               "--stateful", "--out", str(tmp_path)])
    assert rc == 1 and "--stateful" in capsys.readouterr().err
    rc = main(["train", "--task", "charlm", "--data", f"text:{text}", "--hidden", "32",
               "--out", str(tmp_path)])
    assert rc == 2 and "--hidden does not apply to --task charlm" in capsys.readouterr().err


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


def test_gan_step_detaches_fakes_for_d_and_backprops_through_d_into_g(tmp_path):
    dl.manual_seed(0)
    gen, disc = G.build("mlp", z_dim=8)
    opt_g = dl.optim.Adam(gen.parameters(), lr=1e-3)
    opt_d = dl.optim.Adam(disc.parameters(), lr=1e-3)
    task = GANTask(gen, disc, 8, 1.0, tmp_path)
    trainer = Trainer(task=task, optimizer={"discriminator": opt_d, "generator": opt_g},
                      progress=False)
    real = dl.tensor(np.random.default_rng(0).uniform(-1, 1, (4, 1, 28, 28)).astype(np.float32))
    before = {k: v.numpy().copy() for k, v in disc.state_dict().items()}
    calls = []
    orig_step = opt_d.step

    def d_step():
        # at the D update, G has no gradient: L_D's backward stopped at fake.detach()
        calls.append(all(p.grad is None for p in gen.parameters()))
        orig_step()
    opt_d.step = d_step
    step = task.optimization_step(trainer, (real, None))
    assert calls == [True]
    assert step.metrics["grad_norm_G"] > 0                  # G got ∂L_G/∂θ_G through D
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
    weights = dl.load(run / "model.safetensors")
    assert any(k.startswith("generator.") for k in weights)
    assert any(k.startswith("discriminator.") for k in weights)
    rec = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    assert rec["grad_norm_G"] > 0 and 0 < rec["D_real"] < 1
