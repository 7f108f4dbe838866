"""Studies of ``deltaflow train`` runs on the digits: better trials, pruning, resume after
SIGKILL, best.toml bit for bit, the Python API."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")
pytest.importorskip("sklearn")   # the digits ship with scikit-learn

from deltaflow import tune  # noqa: E402
from deltaflow.cli import main  # noqa: E402

#: a space where the seeded TPE's first trial (random) is beaten by a later one
STUDY = ["tune", "--param", "lr=loguniform:1e-4:1e-1", "--param", "hidden=choice:16,32",
         "--epochs", "2", "--n-trials", "3", "--no-progress", "--study", "s"]


def _finished(storage_url: str, name: str) -> list:
    study = optuna.load_study(study_name=name, storage=storage_url)
    return [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]


@pytest.fixture(scope="module")
def digits_study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    before = Path.cwd()
    os.chdir(root)
    try:
        rc = main(STUDY)
    finally:
        os.chdir(before)
    assert rc == 0
    return root, root / "runs" / "s"


def test_small_study_beats_its_first_trial(digits_study, capsys):
    root, folder = digits_study
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{folder / 'study.db'}")
    values = [t.value for t in study.trials]
    assert len(values) == 3 and all(t.state.name == "COMPLETE" for t in study.trials)
    assert min(values[1:]) < values[0]
    assert study.best_trial.number != 0
    for t in study.trials:   # each trial is a normal run folder, judged on validation
        run = folder / t.user_attrs["run"]
        assert {"config.toml", "model.json", "model.safetensors", "metrics.jsonl",
                "results.json"} <= {p.name for p in run.iterdir()}
        last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
        assert last["val_loss"] == t.value
    assert (folder / "best.toml").is_file() and (folder / "study.json").is_file()


def test_best_toml_reproduces_the_best_trial_bit_for_bit(digits_study, monkeypatch, capsys):
    root, folder = digits_study
    monkeypatch.chdir(root)
    best = optuna.load_study(study_name="s",
                             storage=f"sqlite:///{folder / 'study.db'}").best_trial
    assert main(["train", "--config", str(folder / "best.toml"), "--name", "again",
                 "--no-progress", "--no-plot"]) == 0
    again = (root / "runs" / "again" / "model.safetensors").read_bytes()
    assert again == (folder / best.user_attrs["run"] / "model.safetensors").read_bytes()


def test_resume_with_nothing_left_prints_the_table(digits_study, monkeypatch, capsys):
    root, folder = digits_study
    monkeypatch.chdir(root)
    capsys.readouterr()
    assert main(["tune", "--study", "s", "--n-trials", "3", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "resumed" in out and "the test split is not used" in out
    assert out.count(" complete ") == 3 and len(_finished(
        f"sqlite:///{folder / 'study.db'}", "s")) == 3


def test_resume_refuses_other_settings(digits_study, monkeypatch, capsys):
    root, folder = digits_study
    monkeypatch.chdir(root)
    assert main(["tune", "--study", "s", "--epochs", "3", "--no-progress"]) == 2
    assert "exists with another --epochs (saved 2, given 3)" in capsys.readouterr().err


def test_pruning_stops_a_clearly_bad_trial_early(tmp_path):
    storage = f"sqlite:///{tmp_path / 'enqueued.db'}"
    made = optuna.create_study(study_name="p", storage=storage, direction="minimize")
    made.enqueue_trial({"lr": 3e-3})
    made.enqueue_trial({"lr": 1e-6})       # Adam at 1e-6: the loss hardly moves
    config = {"hidden": "16", "epochs": 4, "scheduler": "none", "no_plot": True}
    study = tune.search({"lr": "loguniform:1e-6:1e-1"}, config, n_trials=2, storage=storage,
                        study_name="p", out=tmp_path / "runs", startup_trials=1)
    good, bad = study.trials
    assert good.state.name == "COMPLETE" and good.user_attrs["epochs"] == 4
    assert bad.state.name == "PRUNED" and bad.user_attrs["epochs"] == 1
    run = tmp_path / "runs" / "p" / bad.user_attrs["run"]
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 1


def test_python_objective_and_memory_storage():
    study = tune.search({"x": "uniform:-2:2"}, lambda p, trial: (p["x"] - 1) ** 2,
                        n_trials=6, metric="loss", seed=3)
    assert len(study.trials) == 6 and study.best_value < 1


def test_killed_study_resumes_without_losing_or_repeating_trials(tmp_path):
    """SIGKILL while a trial trains; the restarted command finishes the study: 4 finished
    trials, each once; the one that was running is FAIL and did not count."""
    argv = [sys.executable, "-m", "deltaflow", "tune", "--param", "lr=loguniform:1e-3:1e-2",
            "--hidden", "16", "--epochs", "25", "--n-trials", "4", "--no-progress",
            "--no-plot", "--study", "k"]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    folder = tmp_path / "runs" / "k"
    proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        # a second trial in progress: its log has begun, its results are not written
        running = folder / "trial-0001"
        if (running / "metrics.jsonl").is_file() and not (running / "results.json").exists():
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
    storage = f"sqlite:///{folder / 'study.db'}"
    before = {t.number: t.value for t in _finished(storage, "k")}
    assert list(before) == [0]
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "resumed" in done.stdout
    trials = optuna.load_study(study_name="k", storage=storage).trials
    states = {t.number: t.state.name for t in trials}
    assert states == {0: "COMPLETE", 1: "FAIL", 2: "COMPLETE", 3: "COMPLETE", 4: "COMPLETE"}
    assert trials[0].value == before[0]          # kept, not trained again
    runs = [t.user_attrs["run"] for t in trials if t.state.name == "COMPLETE"]
    assert len(set(runs)) == 4


def test_the_python_example_of_tuning_md_runs(tmp_path, monkeypatch, capsys):
    import re
    text = (Path(__file__).resolve().parents[2] / "docs" / "tuning.md").read_text()
    block = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "docs/tuning.md", "exec"), {})
    assert len(_finished(f"sqlite:///{tmp_path / 'runs' / 'py-demo' / 'study.db'}",
                         "py-demo")) == 10
    assert (tmp_path / "runs" / "py-demo" / "best.toml").is_file()


def test_a_charlm_study_tunes_on_its_validation_text(tmp_path, monkeypatch, capsys):
    """Every task runs through the same Trainer: a character LM, judged on val_ppl."""
    (tmp_path / "verse.txt").write_text("ROMEO:\nTo be, or not to be: that is the question."
                                        "\n\nJULIET:\nWhat is in a name?\n\n" * 300)
    monkeypatch.chdir(tmp_path)
    assert main(["tune", "--task", "charlm", "--data", "text:verse.txt", "--hidden-size", "16",
                 "--embed-dim", "8", "--epochs", "2", "--steps-per-epoch", "3", "--seq-len",
                 "16", "--batch-size", "8", "--eval-chars", "200", "--sample-tokens", "10",
                 "--param", "lr=loguniform:1e-3:1e-2", "--n-trials", "2", "--metric",
                 "val_ppl", "--no-progress", "--no-plot", "--study", "c"]) == 0
    study = optuna.load_study(study_name="c", storage=f"sqlite:///{tmp_path}/runs/c/study.db")
    assert study.direction.name == "MINIMIZE" and len(study.trials) == 2
    assert (tmp_path / "runs" / "c" / "best.toml").read_text().count('task = "charlm"') == 1
