"""``mpiexec -n N deltaflow train`` for every task: only rank 0 writes the run folder and
prints; N processes with batch B/N end where one process with batch B does; a resume on
the same N is bit-identical, one on another N continues from the global step; ``--nproc``
starts mpiexec itself. Every launch has a timeout and runs in its own session, killed
whole if it overruns."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from deltaflow.cli import main

from .launch import launch, mpiexec

MNIST = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mnist"
TEXT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n"
        * 40)
QUIET = ["--no-progress", "--no-plot"]
# digits, an MLP 64-32-10 trained by SGD: 1294 training images, 647 per rank, so the
# ranks' shards need no padding and N × (B/N) batches are exactly the batches of B
CLASSIFY = ["--hidden", "32", "--dropout", "0", "--optimizer", "sgd", "--scheduler", "none",
            *QUIET]
# float32: the ranks' half-batch gradients are averaged instead of summed over the whole
# batch, which rounds differently (≈ 1e-7 relative per step; 1.2e-7 seen after 63 steps
# on weights of size ≈ 0.6); 1e-5 leaves two orders of magnitude
ATOL = 1e-5


def deltaflow(n, args, cwd, timeout=180, launcher=None):
    """``mpiexec -n n python -m deltaflow train args`` (or ``launcher``) in ``cwd``."""
    pytest.importorskip("sklearn")
    cmd = launcher or [mpiexec(), "-n", str(n), sys.executable, "-m", "deltaflow"]
    rc, out, err, _ = launch([*cmd, "train", *args], f"deltaflow train {' '.join(args)} on {n} "
                             "processes", timeout, {"PYTHONPATH": os.pathsep.join(sys.path)},
                             cwd)
    assert rc == 0, f"{out}\n{err}"
    return out


def weights(run: Path) -> dict:
    return load_file(str(run / "model.safetensors"))


def assert_close(a: Path, b: Path, atol=ATOL):
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        np.testing.assert_allclose(wa[key], wb[key], rtol=0, atol=atol, err_msg=key)


def assert_equal(a: Path, b: Path):
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_classify_two_processes_equal_one_with_the_whole_batch(tmp_path):
    out = deltaflow(2, [*CLASSIFY, "--epochs", "3", "--batch-size", "32", "--name", "two"],
                    tmp_path)
    assert out.count("run:") == 1 and out.count("\ntest ") == 1   # rank 0 prints, once
    assert "processes   2, batch 32 per process = 64 global" in out
    assert [p.name for p in tmp_path.iterdir()] == ["runs"]
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["two"]   # one run folder
    assert main(["train", *CLASSIFY, "--epochs", "3", "--batch-size", "64",
                 "--out", str(tmp_path / "runs"), "--name", "one"]) == 0
    two, one = tmp_path / "runs" / "two", tmp_path / "runs" / "one"
    assert_close(two, one)
    assert [r["step"] for r in records(two)] == [r["step"] for r in records(one)] == [21, 42, 63]
    for mine, theirs in zip(records(two), records(one)):
        assert mine["val_accuracy"] == theirs["val_accuracy"]
        assert mine["loss"] == pytest.approx(theirs["loss"], rel=1e-5)
    result = json.loads((two / "results.json").read_text())
    assert result["processes"] == 2 and result["global_batch_size"] == 64
    assert result["test_accuracy"] == json.loads((one / "results.json").read_text())[
        "test_accuracy"]


def test_resume_on_the_same_processes_is_bit_identical(tmp_path):
    """With dropout (a random stream per rank, each restored) and shuffling; the resume is
    started by ``--nproc 2``."""
    args = [*CLASSIFY, "--dropout", "0.3", "--batch-size", "32"]
    deltaflow(2, [*args, "--epochs", "2", "--name", "whole"], tmp_path)
    deltaflow(2, [*args, "--epochs", "1", "--name", "cut"], tmp_path)
    out = deltaflow(1, ["--nproc", "2", "--resume", "runs/cut", "--epochs", "2"], tmp_path,
                    launcher=[sys.executable, "-m", "deltaflow"])
    assert "resumed after epoch 1)" in out and "processes   2" in out
    assert_equal(tmp_path / "runs" / "whole", tmp_path / "runs" / "cut")
    assert [r["epoch"] for r in records(tmp_path / "runs" / "cut")] == [1, 2]


def test_resume_on_other_processes_continues_from_the_global_step(tmp_path):
    """2 → 1 process with the global batch kept (--batch-size 64) ends where the run on 2
    would have; 2 → 3 with the per-process batch kept trains on with 3 × 32."""
    args = [*CLASSIFY, "--batch-size", "32", "--epochs", "1"]
    deltaflow(2, [*args, "--epochs", "2", "--name", "whole"], tmp_path)
    deltaflow(2, [*args, "--name", "to1"], tmp_path)
    deltaflow(2, [*args, "--name", "to3"], tmp_path)
    runs = tmp_path / "runs"
    assert main(["train", "--resume", str(runs / "to1"), "--epochs", "2", "--batch-size",
                 "64", *QUIET]) == 0
    assert_close(runs / "whole", runs / "to1")
    assert [r["step"] for r in records(runs / "to1")] == [21, 42]
    out = deltaflow(3, ["--resume", "runs/to3", "--epochs", "2", *QUIET], tmp_path)
    assert "of a run on 2 processes, now on 3" in out and "= 96 global" in out
    assert [r["step"] for r in records(runs / "to3")] == [21, 21 + 14]   # ⌈1294/3⌉/32 → 14
    assert records(runs / "to3")[-1]["val_accuracy"] > 0.5


def _charlm(tmp_path, batch):
    text = tmp_path / "tiny.txt"
    text.write_text(TEXT)
    return ["--task", "charlm", "--data", f"text:{text}", "--hidden-size", "16",
            "--embed-dim", "8", "--seq-len", "16", "--batch-size", str(batch),
            "--eval-chars", "300", "--sample-tokens", "20", *QUIET]


def test_charlm_two_processes_equal_one_with_the_whole_batch(tmp_path):
    """Random windows: the two ranks' windows are those of one process with twice the
    batch; validation streams are split between the ranks and summed."""
    args = ["--optimizer", "sgd", "--lr", "0.5", "--epochs", "1", "--steps-per-epoch", "20"]
    deltaflow(2, [*_charlm(tmp_path, 4), *args, "--name", "two"], tmp_path)
    assert main(["train", *_charlm(tmp_path, 8), *args, "--out", str(tmp_path / "runs"),
                 "--name", "one"]) == 0
    two, one = tmp_path / "runs" / "two", tmp_path / "runs" / "one"
    assert_close(two, one)
    assert records(two)[0]["val_loss"] == pytest.approx(records(one)[0]["val_loss"], rel=1e-5)
    assert (two / "samples.txt").is_file()


def test_charlm_stateful_resume_on_two_processes_is_bit_identical(tmp_path):
    """Truncated BPTT: each rank carries the LSTM state of its streams; the checkpoint
    gathers them."""
    args = [*_charlm(tmp_path, 4), "--stateful", "--steps-per-epoch", "15"]
    deltaflow(2, [*args, "--epochs", "2", "--name", "whole"], tmp_path)
    deltaflow(2, [*args, "--epochs", "1", "--name", "cut"], tmp_path)
    deltaflow(2, ["--resume", "runs/cut", "--epochs", "2", *QUIET], tmp_path)
    assert_equal(tmp_path / "runs" / "whole", tmp_path / "runs" / "cut")


def test_gan_on_two_processes(tmp_path):
    """Two DDP-wrapped networks, two optimizers; rank 0 writes the sample grid."""
    if not MNIST.is_dir():
        pytest.skip("MNIST IDX files not in ../shared/data/mnist")
    out = deltaflow(2, ["--task", "gan", "--data-dir", str(MNIST.parent), "--batch-size",
                        "512", "--epochs", "1", "--name", "gan", *QUIET], tmp_path)
    assert "processes   2, batch 512 per process = 1024 global" in out
    run = tmp_path / "runs" / "gan"
    assert (run / "samples" / "epoch_001.png").is_file()
    assert records(run)[0]["step"] == 60000 // 1024
    assert {k.split(".")[0] for k in weights(run)} == {"generator", "discriminator"}


def test_nproc_names_the_extra_when_mpiexec_is_missing(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "bin" / "python"))
    assert main(["train", "--nproc", "2", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --nproc 2 needs MPI") and 'pip install -e ".[distributed]"' in err
    assert not list(tmp_path.iterdir())


def test_help_says_the_batch_is_per_process(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "samples per batch in each process" in text and "--nproc P" in text
