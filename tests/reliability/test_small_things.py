"""What a new user meets, each tried as they would: file permissions under any umask,
``| head``, NaN inputs to ``predict``, and a damaged or foreign ``model.safetensors`` given
to every command that reads a run."""
import json
import os
import shutil
import struct
import subprocess
import sys

import numpy as np
import pytest

import deltaflow as dl
from deltaflow.cli import main

from .harness import COMMON, TEXT


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A classify run and a charlm run, made once."""
    pytest.importorskip("sklearn")
    out = tmp_path_factory.mktemp("runs")
    text = out / "tiny.txt"
    text.write_text(TEXT)
    assert main(["train", "--hidden", "8", "--epochs", "1", *COMMON, "--out", str(out),
                 "--name", "classify"]) == 0
    assert main(["train", "--task", "charlm", "--data", f"text:{text}", "--hidden-size", "8",
                 "--embed-dim", "4", "--seq-len", "8", "--batch-size", "4", "--epochs", "1",
                 "--steps-per-epoch", "3", "--eval-chars", "50", "--sample-tokens", "5",
                 *COMMON, "--out", str(out), "--name", "charlm"]) == 0
    return out


@pytest.mark.parametrize("umask", [0o002, 0o022, 0o077])
def test_run_files_get_the_mode_the_umask_gives(tmp_path, umask):
    pytest.importorskip("sklearn")
    before = os.umask(umask)
    try:
        assert main(["train", "--hidden", "8", "--epochs", "1", "--no-progress", "--out",
                     str(tmp_path), "--name", "r"]) == 0
    finally:
        os.umask(before)
    files = [p for p in (tmp_path / "r").rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"model.safetensors", "last.safetensors", "last.json",
                                       "last.optim.safetensors", "metrics.jsonl",
                                       "results.json", "config.toml", "curves.png"}
    for path in files:
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask, (path.name, oct(umask))


@pytest.mark.parametrize("argv", [["explain"], ["explain", "--format", "json"],
                                  ["gradcheck", "4,8,3", "--format", "json"]])
def test_a_reader_that_stops_early_ends_quietly(argv):
    """``| head -n 0`` closes the pipe before the command writes, so that every write fails
    (with ``| head -1`` that depends on the output's size and the timing)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run(f"{sys.executable} -m deltaflow {' '.join(argv)} | head -n 0; "
                          f"echo \"status ${{PIPESTATUS[0]}}\" >&2", shell=True,
                          executable="/bin/bash", capture_output=True, text=True, env=env)
    assert proc.stderr == "status 141\n", proc.stderr   # no BrokenPipeError traceback


@pytest.mark.parametrize("suffix", [".csv", ".npy"])
def test_predict_refuses_nan_inputs_and_names_them(runs, tmp_path, capsys, suffix):
    x = np.random.default_rng(0).uniform(0, 16, size=(5, 64)).astype(np.float32)
    x[1, 3], x[4, 0] = np.nan, np.inf
    path = tmp_path / f"x{suffix}"
    if suffix == ".csv":
        path.write_text("\n".join(",".join(str(v) for v in row) for row in x) + "\n")
    else:
        np.save(path, x)
    assert main(["predict", str(runs / "classify"), "--input", str(path)]) == 1
    err = capsys.readouterr().err
    assert err == (f"error: --input {path}: 2 of 5 samples hold NaN or Inf (sample 2, 5, "
                   f"counting from 1); a model cannot classify them: fill in or drop those "
                   f"values\n")
    np.save(tmp_path / "ok.npy", x[[0, 2, 3]])
    assert main(["predict", str(runs / "classify"), "--input", str(tmp_path / "ok.npy")]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3


def _damaged(original: bytes):
    """``(name, bytes)`` of damaged and foreign versions of a safetensors file."""
    n = struct.unpack("<Q", original[:8])[0]
    header = json.loads(original[8:8 + n])
    yield "empty", b""
    yield "seven bytes", original[:7]
    yield "truncated", original[:len(original) // 2]
    yield "header length of a petabyte", struct.pack("<Q", 10**15) + original[8:]
    yield "header not JSON", original[:8] + b"{" * n + original[8 + n:]
    body = {k: v for k, v in header.items() if k != "__metadata__"}
    first = next(iter(body))
    for name, change in (("unknown dtype", {first: {**body[first], "dtype": "Q9"}}),
                         ("shape past the end", {first: {**body[first], "shape": [10**6]}})):
        text = json.dumps({**header, **change}).encode()
        yield name, struct.pack("<Q", len(text)) + text + original[8 + n:]
    meta = {"deltaflow.structure": "[1, 2]"}
    text = json.dumps({**header, "__metadata__": meta}).encode()
    yield "structure of a list", struct.pack("<Q", len(text)) + text + original[8 + n:]


def _foreign(path):
    dl.save({"weight": np.zeros((2, 2), np.float32)}, path)
    return path.read_bytes()


COMMANDS = {
    "eval": lambda run, tmp: ["eval", str(run)],
    "predict": lambda run, tmp: ["predict", str(run), "--input", str(_inputs(tmp))],
    "explain": lambda run, tmp: ["explain", str(run)],
    "gradcheck": lambda run, tmp: ["gradcheck", str(run)],
}


def _inputs(tmp):
    np.save(tmp / "x.npy", np.zeros((2, 64), np.float32))
    return tmp / "x.npy"


@pytest.mark.parametrize("command", [*COMMANDS, "generate"])
def test_every_command_reports_a_damaged_model_file_in_one_line(runs, tmp_path, capsys,
                                                                command):
    source = runs / ("charlm" if command == "generate" else "classify")
    run = tmp_path / "run"
    shutil.copytree(source, run)
    weights = run / "model.safetensors"
    original = weights.read_bytes()
    argv = ["generate", str(run), "--tokens", "3"] if command == "generate" \
        else COMMANDS[command](run, tmp_path)
    cases = [*_damaged(original), ("another model's weights", _foreign(tmp_path / "f.st"))]
    for name, data in cases:
        weights.write_bytes(data)
        capsys.readouterr()
        rc = main(argv)
        err = capsys.readouterr().err
        assert rc == 1 and err.count("\n") == 1 and str(weights) in err, (name, err)
        assert err.startswith("error: "), (name, err)
    weights.write_bytes(original)
    assert main(argv) == 0


def test_resume_reports_a_damaged_checkpoint_in_one_line(runs, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(runs / "classify", run)
    last = run / "checkpoints" / "last.safetensors"
    last.write_bytes(last.read_bytes()[:100])
    before = {p.name: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    rc = main(["train", "--resume", str(run), "--epochs", "2", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1 and err.count("\n") == 1, err
    assert "is inconsistent: last.safetensors does not match the hash in its sidecar" in err
    assert {p.name: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
