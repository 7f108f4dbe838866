"""``deltaflow eval`` and ``deltaflow predict`` on a trained run."""
import json

import numpy as np
import pytest

from deltaflow.cli import main

pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    assert main(["train", "--out", str(out), "--name", "r", "--hidden", "32", "--epochs", "3",
                 "--no-progress", "--no-plot"]) == 0
    return out / "r"


def cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_eval_json_matches_training_result(run, capsys):
    rc, out, err = cli(capsys, "eval", run, "--json")
    assert rc == 0 and err == ""
    result = json.loads(out)                       # exactly one JSON object on stdout
    trained = json.loads((run / "results.json").read_text())
    assert result["accuracy"] == trained["test_accuracy"]
    assert result["loss"] == pytest.approx(trained["test_loss"], rel=1e-6)
    assert result["split"] == "test" and result["samples"] == 359
    assert 0.8 < result["accuracy"] <= result["top5"] <= 1.0


def test_eval_accepts_checkpoints_and_prints_text(run, capsys):
    rc, out, _ = cli(capsys, "eval", run / "checkpoints" / "best.safetensors")
    assert rc == 0 and "accuracy" in out and "best.safetensors" in out
    rc, out, _ = cli(capsys, "eval", run / "checkpoints" / "last.json", "--json")
    last = json.loads(out)
    assert rc == 0 and last["accuracy"] == json.loads((run / "results.json").read_text())[
        "test_accuracy"]   # last checkpoint = final weights
    rc, out, _ = cli(capsys, "eval", run, "--split", "train", "--json")
    assert rc == 0 and json.loads(out)["samples"] == 1438


def _digits_test_split():
    from deltaflow.data import datasets
    x, y = datasets.digits().test.tensors
    return x.numpy(), y.numpy()


def test_predict_npy_agrees_with_eval(run, capsys, tmp_path):
    x, y = _digits_test_split()
    np.save(tmp_path / "x.npy", x)
    rc, out, _ = cli(capsys, "predict", run, "--input", tmp_path / "x.npy")
    assert rc == 0
    predicted = np.array([int(line) for line in out.split()])
    accuracy = json.loads((run / "results.json").read_text())["test_accuracy"]
    assert len(predicted) == len(y) and np.mean(predicted == y) == pytest.approx(accuracy)
    np.save(tmp_path / "img.npy", x.reshape(-1, 8, 8)[:4])   # images work too
    rc, out2, _ = cli(capsys, "predict", run, "--input", tmp_path / "img.npy", "--json")
    assert rc == 0 and json.loads(out2)["predictions"] == predicted[:4].tolist()


def test_predict_csv_with_probabilities(run, capsys, tmp_path):
    x, _ = _digits_test_split()
    path = tmp_path / "x.csv"
    path.write_text(",".join(f"p{i}" for i in range(64)) + "\n"
                    + "".join(",".join(map(str, row)) + "\n" for row in x[:3]))
    rc, out, _ = cli(capsys, "predict", run, "--input", path, "--probs")
    lines = out.splitlines()
    assert rc == 0 and len(lines) == 3
    label, probs = lines[0].split("\t")
    values = [float(v) for v in probs.split()]
    assert len(values) == 10 and sum(values) == pytest.approx(1, abs=1e-3)
    assert values.index(max(values)) == int(label)


@pytest.mark.parametrize("argv, message", [
    (["eval", "{tmp}/nope"], "no such run folder or checkpoint"),
    (["eval"], "the following arguments are required: RUN_OR_CHECKPOINT"),
    (["eval", "{tmp}"], "is not a deltaflow run folder (no model.json)"),
    (["eval", "RUN", "--split", "val"], "invalid choice: 'val'"),
    (["eval", "RUN", "--batch-size", "0"], "--batch-size must be positive"),
    (["predict", "RUN", "--input", "{tmp}/missing.npy"], "no such file"),
    (["predict", "RUN", "--input", "{tmp}/wrong.npy"], "do not fit this model"),
    (["predict", "RUN", "--input", "{tmp}/text.csv"], "every cell must be a number"),
    (["predict", "RUN", "--input", "{tmp}/x.txt"], "expected a .npy or .csv file"),
    (["predict", "RUN"], "the following arguments are required: --input"),
])
def test_errors_are_one_clear_line(run, capsys, tmp_path, argv, message):
    np.save(tmp_path / "wrong.npy", np.zeros((2, 5), dtype=np.float32))
    (tmp_path / "text.csv").write_text("1,2\n3,abc\n")
    (tmp_path / "x.txt").write_text("1")
    argv = [str(run) if a == "RUN" else a.replace("{tmp}", str(tmp_path)) for a in argv]
    rc, out, err = cli(capsys, *argv)
    assert rc != 0 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
