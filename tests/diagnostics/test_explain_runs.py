"""`deltaflow explain RUN` for the run folders of every task: a charlm run's next-character
loss (LSTM and Transformer, trained here by the CLI on a tiny text), a gan run's generator
loss BCE(D(G(z)), 1); the loss step's equation."""
import json

import numpy as np
import pytest

import deltaflow as dl
from deltaflow import io
from deltaflow.cli import main
from deltaflow.diagnostics.explain import explain
from deltaflow.models import gan

TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak.\n" * 20


def cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def charlm_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    text = out / "tiny.txt"
    text.write_text(TEXT)
    sizes = {"lstm": ["--hidden-size", "16", "--embed-dim", "8"],
             "transformer": ["--d-model", "16", "--heads", "2"]}
    for model, extra in sizes.items():
        assert main(["train", "--task", "charlm", "--data", f"text:{text}", "--model", model,
                     "--seq-len", "12", "--batch-size", "4", "--epochs", "1",
                     "--steps-per-epoch", "2", "--eval-chars", "100", "--sample-tokens", "5",
                     "--out", str(out), "--name", model, "--no-progress", "--no-plot",
                     *extra]) == 0
    return out


def _loss_step(data):
    (step,) = [s for s in data["steps"] if s["phase"] == "loss"]
    return {q["symbol"]: q for q in step["quantities"]}


def _next_char_loss(run, rows, T):
    """The mean cross-entropy of the next character on the first rows × (T + 1) characters
    of the run's text, by NumPy from the saved model's logits in float64."""
    from deltaflow.tasks.charlm import load_trained
    model, meta, _, _ = load_trained(run)
    model = model.double()
    lookup = {c: k for k, c in enumerate(meta["vocab"])}
    ids = np.array([lookup[c] for c in TEXT[:rows * (T + 1)]]).reshape(rows, T + 1)
    with dl.no_grad():
        z = model(dl.tensor(ids[:, :-1]))[0].numpy()
    log_p = z - z.max(-1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(-1, keepdims=True))
    return -np.take_along_axis(log_p, ids[:, 1:, None], -1).mean()


@pytest.mark.parametrize("model", ["lstm", "transformer"])
def test_charlm_run_explains_the_next_character_loss(charlm_runs, capsys, model):
    run = charlm_runs / model
    rc, out, err = cli(capsys, "explain", run, "--batch-size", 3, "--format", "json")
    assert rc == 0, err
    data = json.loads(out)
    assert data["title"] == (f"explain: run {model} ({model}, weights model.safetensors, "
                             "3 × 12 characters of tiny.txt)")
    assert data["loss"] == pytest.approx(_next_char_loss(run, 3, 12), abs=1e-10)
    assert _loss_step(data)["L"]["equation"] == ("L = cross-entropy of each next character "
                                                 "(mean over batch × time)")
    assert data["checks"]["failed"] == 0 and data["checks"]["count"] > 0
    assert data["loss_after_update"] < data["loss"]
    equations = [q["equation"] for s in data["steps"] for q in s["quantities"]]
    notes = [q["note"] for s in data["steps"] for q in s["quantities"]]
    if model == "lstm":
        assert any("(the cell path)" in e for e in equations)     # BPTT, step by step
        fused = [n for n in notes if n.startswith("LSTMLayer is one fused op")]
        assert fused and "steps 1 … 4 of 12 are not written out (only the last 8)" in fused[0]
        assert data["not_shown"] == []
    else:
        assert any("ScaledDotProductAttention" in m and "one block" in m
                   for m in data["not_shown"])


def test_charlm_run_text_names_the_step(charlm_runs, capsys):
    rc, out, _ = cli(capsys, "explain", charlm_runs / "lstm")
    assert rc == 0
    assert ("x = characters 1 … 12 of 4 rows, y = characters 2 … 13: each position predicts "
            "the next character") in out
    assert "the model returns 2 values; explain follows the first, (4, 12, " in out
    assert "✗" not in out


def _gan_run(tmp_path, arch):
    """A gan run folder written as ``deltaflow train`` writes one (training needs MNIST)."""
    dl.manual_seed(0)
    g, d = gan.build(arch, z_dim=8)
    run = tmp_path / arch
    run.mkdir()
    io.save_json({"task": "gan", "model": arch, "data": "mnist", "z_dim": 8},
                 run / "model.json")
    io.save(dl.nn.ModuleDict({"generator": g, "discriminator": d}).state_dict(),
            run / "model.safetensors")
    return run, g, d


@pytest.mark.parametrize("arch", ["mlp", "dcgan"])
def test_gan_run_explains_the_generator_loss(tmp_path, capsys, arch):
    run, g, d = _gan_run(tmp_path, arch)
    rc, out, err = cli(capsys, "explain", run, "--format", "json")
    assert rc == 0, err
    data = json.loads(out)
    assert data["title"].endswith("the generator's loss BCE(D(G(z)), 1)")
    assert _loss_step(data)["L"]["equation"] == "L = BCE(D(G(z)), 1) (the generator's loss)"
    modules = [m for layer in data["network"] for m in layer["modules"]]
    assert modules[0].startswith("model.generator.") and any(
        m.startswith("model.discriminator.") for m in modules)
    assert data["checks"]["failed"] == 0 and data["checks"]["count"] > 0
    if arch == "dcgan":                 # no dropout: the loss is recomputed here
        z = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32)
        g.double().train()
        d.double().train()
        logits = d(g(dl.tensor(z.astype(np.float64)))).detach().numpy()
        want = np.mean(np.logaddexp(0, -logits))                 # −log σ(D(G(z)))
        assert data["loss"] == pytest.approx(want, abs=1e-10)
        assert any("TransposedConvolution" in m for m in data["not_shown"])
    rc, out, _ = cli(capsys, "explain", run)
    assert "the update shown for the discriminator's layers is not applied" in out


def test_other_tasks_are_named(tmp_path, capsys):
    run = tmp_path / "r"
    run.mkdir()
    io.save_json({"task": "speech"}, run / "model.json")
    io.save({"w": dl.zeros(1)}, run / "model.safetensors")
    rc, _, err = cli(capsys, "explain", run)
    assert rc == 1
    assert f"{run} is a 'speech' run; this command reads classify, charlm, gan runs" in err


def test_the_loss_step_writes_L_once():
    data = explain().to_dict()
    assert _loss_step(data)["L"]["equation"] == "L = ½ Σ (a − y)²"
    dl.manual_seed(0)
    e = explain(dl.nn.Linear(3, 2), np.ones((2, 3)), np.array([0, 1]),
                dl.nn.functional.cross_entropy, loss_name="cross-entropy")
    assert _loss_step(e.to_dict())["L"]["equation"] == "L = cross-entropy"
