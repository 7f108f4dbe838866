"""``deltaflow export RUN``: the ONNX model of a trained run takes what the run's commands
take and gives what they give (``deltaflow predict``'s classes and probabilities)."""
from __future__ import annotations

import json

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="deltaflow export needs the onnx package")
ort = pytest.importorskip("onnxruntime", reason="the exported models are run by onnxruntime")

import deltaflow as dl  # noqa: E402
from deltaflow import io  # noqa: E402
from deltaflow.cli import main  # noqa: E402
from deltaflow.models import gan  # noqa: E402

TEXT = "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind\n" * 30


def cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def metadata(path):
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


@pytest.fixture(scope="module")
def classify_run(tmp_path_factory):
    pytest.importorskip("sklearn", reason="the digits dataset comes from scikit-learn")
    out = tmp_path_factory.mktemp("runs")
    assert main(["train", "--out", str(out), "--name", "r", "--model", "cnn", "--channels", "4",
                 "--fc", "16", "--batchnorm", "--epochs", "1", "--no-progress",
                 "--no-plot"]) == 0
    return out / "r"


def test_classify_export_gives_the_predictions_of_predict(classify_run, capsys, tmp_path):
    from deltaflow.data import datasets
    rc, out, err = cli(capsys, "export", classify_run, "--format", "onnx", "--check")
    assert rc == 0 and err == ""
    assert "standardisation (x − mean)/std" in out and "agrees with deltaflow" in out
    path = classify_run / "model.onnx"
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    x = datasets.digits().test.tensors[0].numpy()[:37]          # raw pixels, flat rows
    np.save(tmp_path / "x.npy", x)
    rc, out, _ = cli(capsys, "predict", classify_run, "--input", tmp_path / "x.npy", "--probs",
                     "--json")
    assert rc == 0
    predicted = json.loads(out)
    logits, probs = session(path).run(None, {"input": x.reshape(-1, 1, 8, 8)})
    classes = json.loads(metadata(path)["deltaflow.classes"])
    assert [classes[i] for i in logits.argmax(axis=1)] == predicted["predictions"]
    np.testing.assert_allclose(probs, predicted["probabilities"], rtol=1e-5, atol=1e-6)


def test_export_options_output_and_opset(classify_run, capsys, tmp_path):
    target = tmp_path / "sub" / "digits.onnx"
    rc, out, _ = cli(capsys, "export", classify_run / "checkpoints" / "best.safetensors",
                     "--opset", 13, "--output", target)
    assert rc == 0 and f"wrote {target}" in out
    proto = onnx.load(str(target))
    assert proto.opset_import[0].version == 13
    assert metadata(target)["deltaflow.task"] == "classify"
    rc, _, err = cli(capsys, "export", classify_run, "--opset", 99)
    assert rc == 1 and err.startswith("error: dl.onnx.export: opset_version must be in")
    rc, _, err = cli(capsys, "export", tmp_path / "missing")
    assert rc == 1 and "no such run folder" in err
    rc, _, err = cli(capsys, "export", classify_run, "--format", "tflite")
    assert rc == 2 and "invalid choice" in err


def _train_charlm(tmp_path, model, *extra):
    text = tmp_path / "tiny.txt"
    text.write_text(TEXT)
    assert main(["train", "--task", "charlm", "--data", f"text:{text}", "--model", model,
                 "--epochs", "1", "--steps-per-epoch", "3", "--seq-len", "12", "--batch-size",
                 "4", "--eval-chars", "200", "--sample-tokens", "5", "--out", str(tmp_path),
                 "--name", "run", "--no-progress", "--no-plot", *extra]) == 0
    return tmp_path / "run"


def test_charlm_lstm_export_carries_the_state(tmp_path, capsys):
    from deltaflow.tasks.charlm import load_trained
    run = _train_charlm(tmp_path, "lstm", "--hidden-size", "16", "--embed-dim", "8",
                        "--layers", "2")
    rc, out, _ = cli(capsys, "export", run, "--check")
    assert rc == 0 and "agrees with deltaflow" in out
    path = run / "model.onnx"
    vocab = json.loads(metadata(path)["deltaflow.vocab"])
    ids = np.array([[vocab.index(c) for c in "To be, or not"],
                    [vocab.index(c) for c in "that is the q"]], dtype=np.int64)
    zeros = np.zeros((2, 2, 16), dtype=np.float32)
    s = session(path)
    logits, h, c = s.run(None, {"ids": ids, "h0": zeros, "c0": zeros})
    first, h1, c1 = s.run(None, {"ids": ids[:, :5], "h0": zeros, "c0": zeros})
    rest, _, _ = s.run(None, {"ids": ids[:, 5:], "h0": h1, "c0": c1})
    np.testing.assert_allclose(np.concatenate([first, rest], axis=1), logits, rtol=1e-5,
                               atol=1e-5)
    model, *_ = load_trained(run)
    with dl.no_grad():
        want, (wh, wc) = model(dl.tensor(ids))
    np.testing.assert_allclose(logits, want.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(h, wh.numpy(), rtol=1e-5, atol=1e-5)


def test_charlm_transformer_export_any_length_up_to_the_block(tmp_path, capsys):
    from deltaflow.tasks.charlm import load_trained
    run = _train_charlm(tmp_path, "transformer", "--d-model", "16", "--heads", "2")
    rc, out, _ = cli(capsys, "export", run)
    assert rc == 0 and "sequence ≤ 12" in out
    model, *_ = load_trained(run)
    s = session(run / "model.onnx")
    for n, t in ((3, 12), (1, 5)):
        ids = np.random.default_rng(t).integers(0, len(model.embed.weight), (n, t))
        (logits,) = s.run(None, {"ids": ids})
        with dl.no_grad():
            want = model(dl.tensor(ids))[0].numpy()
        np.testing.assert_allclose(logits, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arch", ["mlp", "dcgan"])
def test_gan_export_is_the_generator(tmp_path, capsys, arch):
    """A gan run folder (written here: training one needs MNIST) exports its generator."""
    dl.manual_seed(0)
    g, d = gan.build(arch, z_dim=8)
    run = tmp_path / "run"
    run.mkdir()
    io.save_json({"task": "gan", "model": arch, "data": "mnist", "z_dim": 8},
                 run / "model.json")
    io.save(dl.nn.ModuleDict({"generator": g, "discriminator": d}).state_dict(),
            run / "model.safetensors")
    rc, out, _ = cli(capsys, "export", run, "--check")
    assert rc == 0 and "in [-1, 1]" in out and "agrees with deltaflow" in out
    z = np.random.default_rng(1).standard_normal((5, 8)).astype(np.float32)
    (images,) = session(run / "model.onnx").run(None, {"z": z})
    g.eval()
    with dl.no_grad():
        want = g(dl.tensor(z)).numpy()
    assert images.shape == (5, 1, 28, 28)
    np.testing.assert_allclose(images, want, rtol=1e-5, atol=1e-5)


BABI_FILES = {
    "qa1_single-supporting-fact_train.txt":
        "1 Mary moved to the bathroom.\n2 John went to the hallway.\n"
        "3 Where is Mary? \tbathroom\t1\n4 Daniel went back to the hallway.\n"
        "5 Sandra moved to the garden.\n6 Where is Daniel? \thallway\t4\n"
        "1 John travelled to the office.\n2 Where is John? \toffice\t1\n",
    "qa1_single-supporting-fact_test.txt":
        "1 Sandra went to the kitchen.\n2 Where is Sandra? \tkitchen\t1\n",
    "qa8_lists-sets_train.txt":
        "1 Mary got the milk there.\n2 Mary took the football there.\n"
        "3 What is Mary carrying? \tmilk,football\t1 2\n",
    "qa8_lists-sets_test.txt":
        "1 John picked up the apple.\n2 What is John carrying? \tapple\t1\n",
}


@pytest.fixture(scope="module")
def babi_run(tmp_path_factory):
    """A per-task babi run of tasks 1 and 8 (two models) on a tiny story file."""
    root = tmp_path_factory.mktemp("babi")
    for name, text in BABI_FILES.items():
        (root / name).write_text(text)
    out = tmp_path_factory.mktemp("runs")
    assert main(["train", "--task", "babi", "--data", f"babi:{root}", "--tasks", "1,8",
                 "--epochs", "2", "--linear-start", "1", "--embed-dim", "6", "--hops", "2",
                 "--memory-size", "5", "--val-split", "0", "--out", str(out), "--name", "r",
                 "--no-progress", "--no-plot"]) == 0
    return out / "r"


def test_babi_export_answers_like_the_member(babi_run, capsys, tmp_path):
    """Task 8's model (--task 8) on word ids: batch, slots and sentence lengths other than
    the example's; the vocabulary in the metadata turns the argmax into the answer."""
    from deltaflow.data.babi import tokens
    from deltaflow.tasks.babi import load_trained
    target = tmp_path / "t8.onnx"
    rc, out, err = cli(capsys, "export", babi_run, "--task", "8", "--output", target, "--check")
    assert rc == 0 and err == "" and "agrees with deltaflow" in out
    assert "bAbI task 8 (repeat 0) of the run's 2 member(s)" in out
    onnx.checker.check_model(onnx.load(str(target)), full_check=True)
    meta = metadata(target)
    assert meta["deltaflow.task"] == "babi" and "oldest first" in meta["deltaflow.input"]
    assert json.loads(meta["deltaflow.member"]) == {"tasks": [8], "repeat": 0}
    vocab = json.loads(meta["deltaflow.vocab"])
    sentences = ["Mary got the milk there.", "John took the football there.",
                 "Mary moved to the bathroom."]
    story = np.zeros((3, 3, 6), dtype=np.int64)          # 3 questions, 3 slots, 6 words
    for i, s in enumerate(sentences):
        words = [vocab.index(w) for w in tokens(s)]
        story[:, i, :len(words)] = words
    story[2, 2] = 0
    time = np.array([[3, 2, 1], [3, 2, 1], [2, 1, 0]], dtype=np.int64)
    query = np.array([[vocab.index(w) for w in tokens(q)] for q in
                      ("What is Mary carrying?", "What is John carrying?",
                       "Where is Mary there?")], dtype=np.int64)
    logits, probs = session(target).run(None, {"story": story, "query": query, "time": time})
    model, *_ = load_trained(babi_run)
    with dl.no_grad():
        want = model.members[model.keys.index(((8,), 0))](story, query, time).numpy()
    np.testing.assert_allclose(logits, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    rc, out, _ = cli(capsys, "export", babi_run)                 # default: the first task's
    assert rc == 0 and "bAbI task 1 (repeat 0)" in out
    rc, _, err = cli(capsys, "export", babi_run, "--task", "2")
    assert rc == 2 and "export:" in err and "not trained on task 2" in err


def test_task_and_repeat_are_for_babi_runs(classify_run, capsys):
    rc, _, err = cli(capsys, "export", classify_run, "--task", "1")
    assert rc == 2 and "--task and --repeat choose a babi run's model" in err
