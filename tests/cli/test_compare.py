"""``deltaflow compare``: two tiny digits runs side by side (table, differing settings, PNG),
a study folder standing for its runs, and every mistake in one line."""
from pathlib import Path

import pytest

from deltaflow.cli import main

pytest.importorskip("sklearn")  # the digits ship with scikit-learn

TINY = ["--epochs", "2", "--batch-size", "256", "--no-progress", "--no-plot"]


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """A folder holding two runs that differ in --hidden and --lr."""
    out = tmp_path_factory.mktemp("study")
    for name, extra in (("a", ["--hidden", "8"]), ("b", ["--hidden", "16", "--lr", "0.01"])):
        assert main(["train", "--out", str(out), "--name", name, *TINY, *extra]) == 0
    return out


def cli(capsys, *argv):
    rc = main(["compare", *map(str, argv)])
    out, err = capsys.readouterr()
    return rc, out, err


def test_two_runs_table_settings_and_plot(study, tmp_path, capsys):
    png = tmp_path / "cmp.png"
    rc, out, _ = cli(capsys, study / "a", study / "b", "--output", png)
    assert rc == 0
    lines = out.splitlines()
    header = lines[lines.index("final metrics (2 runs)") + 1].split()
    assert header == ["run", "epochs", "loss", "accuracy", "val_loss", "val_accuracy",
                      "test_loss", "test_accuracy"]
    row_a = lines[lines.index("final metrics (2 runs)") + 2].split()
    assert row_a[:2] == ["a", "2"]
    settings = lines[lines.index("settings that differ") + 1:][:3]
    assert settings[0].split() == ["run", "hidden", "lr"]
    assert settings[1].split() == ["a", "8", "0.003"] and settings[2].split() == ["b", "16",
                                                                                  "0.01"]
    pytest.importorskip("matplotlib")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"plot: {png} (val_loss per epoch)" in out


def test_study_folder_stands_for_its_runs(study, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, _ = cli(capsys, study, "--metric", "val_accuracy")
    assert rc == 0 and "final metrics (2 runs)" in out
    pytest.importorskip("matplotlib")
    assert (tmp_path / "compare.png").is_file()


def test_same_settings_said_so(study, tmp_path, capsys):
    rc, out, _ = cli(capsys, study / "a", "--output", tmp_path / "one.png")
    assert rc == 0 and "settings: the same in every run" in out


@pytest.mark.parametrize("args, code, message", [
    (["nope"], 1, "error: compare: no such folder nope"),
    (["a/checkpoints"], 1, "is not a run folder (no model.json) nor a study folder (no run folders "
               "inside)"),
    (["a", "--metric", "val_ppl"], 2, "error: --metric val_ppl: not among the metrics of a; "
                                      "the runs share: accuracy, loss, val_accuracy, "
                                      "val_loss"),
    (["a", "--output", "no/such/dir/x.png"], 1, "error: compare: --output no/such/dir/x.png: "
                                                "no folder no/such/dir"),
])
def test_mistakes_are_one_line(study, capsys, monkeypatch, args, code, message):
    monkeypatch.chdir(study)
    rc, out, err = cli(capsys, *args)
    assert rc == code and message in err and len(err.strip().splitlines()) == 1
    assert out == ""


def test_run_without_epochs_is_refused(study, tmp_path, capsys):
    run = tmp_path / "empty"
    run.mkdir()
    (run / "model.json").write_text((study / "a" / "model.json").read_text())
    rc, _, err = cli(capsys, run)
    assert rc == 1 and "has no epochs in metrics.jsonl" in err
