"""`deltaflow explain RUN` and `deltaflow gradcheck RUN` on a run saved by `deltaflow train`."""
import json

import numpy as np
import pytest

import deltaflow as dl
from deltaflow.cli import main

pytest.importorskip("sklearn")  # the digits dataset


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    rc = main(["train", "--epochs", "1", "--hidden", "16", "--activation", "tanh",
               "--dropout", "0", "--out", str(out), "--name", "tiny", "--no-progress",
               "--no-plot"])
    assert rc == 0
    return out / "tiny"


def test_gradcheck_run_passes(run_dir, capsys):
    assert main(["gradcheck", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "run tiny" in out and "passed" in out


def test_explain_run_numbers_equal_the_saved_model(run_dir, capsys):
    capsys.readouterr()
    assert main(["explain", str(run_dir), "--batch-size", "3", "--format", "json",
                 "--max-values", "192"]) == 0
    data = json.loads(capsys.readouterr().out)
    weights = dl.load(run_dir / "model.safetensors")
    assert data["network"][1]["modules"][0].endswith("Linear(64→16)")
    steps = {(s["phase"], s["layer"]): {q["symbol"]: q for q in s["quantities"]}
             for s in data["steps"]}
    w = weights["1.weight"].numpy().astype(np.float64)
    b = weights["1.bias"].numpy().astype(np.float64)
    x = np.asarray(steps["forward", 0]["a⁽⁰⁾"]["values"])   # (3, 64): after the Flatten
    z = steps["forward", 1]["z⁽¹⁾"]
    assert x.shape == (3, 64) and z["shape"] == [3, 16]
    np.testing.assert_allclose(np.asarray(z["values"]), x @ w.T + b, rtol=1e-12, atol=1e-12)
    assert z["check"]["mark"] == "✓"
    new_w = steps["update", 1]["W⁽¹⁾ new"]
    assert new_w["shape"] == [16, 64]
    assert data["checks"]["failed"] == 0
