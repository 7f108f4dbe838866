"""Every task resumes the same way: a run killed with SIGKILL after an epoch and resumed
ends with the bits of a run never interrupted; a resume never damages the run."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from deltaflow.cli import main

MNIST = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mnist"
TEXT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n"
        * 40)


def _classify(tmp_path):
    pytest.importorskip("sklearn")
    return ["--hidden", "32", "--epochs", "4", "--dropout", "0.3"]


def _charlm(tmp_path):
    text = tmp_path / "tiny.txt"
    text.write_text(TEXT)
    return ["--task", "charlm", "--data", f"text:{text}", "--stateful", "--hidden-size", "16",
            "--embed-dim", "8", "--seq-len", "16", "--batch-size", "8", "--epochs", "4",
            "--steps-per-epoch", "60", "--eval-chars", "300", "--sample-tokens", "20"]


def _gan(tmp_path):
    if not MNIST.is_dir():
        pytest.skip("MNIST IDX files not in ../shared/data/mnist")
    return ["--task", "gan", "--data-dir", str(MNIST.parent), "--batch-size", "512",
            "--epochs", "2"]


def same_weights(a: Path, b: Path) -> bool:
    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    return wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)


def _checkpoint_epoch(run: Path) -> int:
    try:
        return json.loads((run / "checkpoints" / "last.json").read_text())["epoch"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return 0


def _kill_after_first_epoch(argv, run: Path, timeout: float = 240) -> int:
    """Start ``deltaflow train argv`` in a process; SIGKILL it as soon as the checkpoint of
    epoch 1 is on disk; return its exit status."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-m", "deltaflow", "train", *argv],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                            cwd=run.parent)
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if _checkpoint_epoch(run) >= 1:
                break
            time.sleep(0.005)
    finally:
        proc.send_signal(signal.SIGKILL)   # (also when the test itself fails or times out)
    return proc.wait(timeout=60)


@pytest.mark.slow
@pytest.mark.parametrize("options", [_classify, _charlm, _gan])
def test_killed_run_resumes_bit_identically(tmp_path, capsys, options):
    argv = [*options(tmp_path), "--no-progress", "--no-plot", "--out", str(tmp_path)]
    assert main(["train", *argv, "--name", "full"]) == 0
    killed = tmp_path / "killed"
    rc = _kill_after_first_epoch([*argv, "--name", "killed"], killed)
    assert rc == -signal.SIGKILL, "the run ended before it could be killed"
    done = _checkpoint_epoch(killed)
    assert done >= 1
    capsys.readouterr()
    assert main(["train", "--resume", str(killed), "--no-progress"]) == 0
    assert f"resumed after epoch {done}" in capsys.readouterr().out
    assert same_weights(tmp_path / "full", killed)
    logs = [json.loads(line) for line in (killed / "metrics.jsonl").read_text().splitlines()]
    full = [json.loads(line) for line in (tmp_path / "full" / "metrics.jsonl").read_text()
            .splitlines()]
    assert [r["epoch"] for r in logs] == [r["epoch"] for r in full]
    assert [r["step"] for r in logs] == [r["step"] for r in full]


@pytest.fixture
def run(tmp_path, capsys):
    pytest.importorskip("sklearn")
    argv = ["train", "--hidden", "16", "--epochs", "2", "--no-progress", "--no-plot",
            "--scheduler", "none", "--out", str(tmp_path), "--name", "r"]
    assert main(argv) == 0
    capsys.readouterr()
    return tmp_path / "r"


@pytest.mark.parametrize("argv, flag", [(["--hidden", "32"], "--hidden"),
                                        (["--activation", "sigmoid"], "--activation"),
                                        (["--batch-size", "7"], "--batch-size"),
                                        (["--data", "mnist"], "--data"),
                                        (["--seed", "3"], "--seed")])
def test_resume_refuses_what_would_change_the_run_before_writing(run, capsys, argv, flag):
    before = {p.name: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    rc = main(["train", "--resume", str(run), "--epochs", "3", *argv])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and f"{flag} would change what" in err, err
    assert {p.name: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
    assert main(["eval", str(run)]) == 0                      # the run still works


def test_resume_with_a_new_lr_takes_effect(run, capsys):
    assert main(["train", "--resume", str(run), "--epochs", "3", "--lr", "0.0005",
                 "--no-progress"]) == 0
    logs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["lr"] for r in logs] == [3e-3, 3e-3, pytest.approx(5e-4)]
    config = (run / "config.toml").read_text()
    assert "lr = 0.0005" in config and "epochs = 3" in config


def test_resume_of_an_old_run_folder_is_one_clear_line(tmp_path, capsys):
    old = tmp_path / "old"
    (old / "checkpoints").mkdir(parents=True)
    (old / "config.json").write_text('{"task": "charlm"}')
    rc = main(["train", "--task", "charlm", "--resume", str(old)])
    err = capsys.readouterr().err
    assert rc == 2 and "written by an earlier deltaflow" in err and err.count("\n") == 1


def test_no_validation_with_val_split_zero(tmp_path, capsys):
    pytest.importorskip("sklearn")
    assert main(["train", "--hidden", "8", "--epochs", "1", "--val-split", "0", "--no-progress",
                 "--no-plot", "--out", str(tmp_path), "--name", "r"]) == 0
    record = json.loads((tmp_path / "r" / "metrics.jsonl").read_text())
    assert "val_loss" not in record            # never the test split
    rc = main(["train", "--hidden", "8", "--epochs", "1", "--val-split", "0",
               "--early-stopping", "2", "--no-progress", "--out", str(tmp_path)])
    assert rc == 2 and "need --val-split > 0" in capsys.readouterr().err
