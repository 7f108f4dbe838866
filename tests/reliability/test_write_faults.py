"""Failing writes (a full disk, an I/O error, a read-only folder, a folder that is a file):
training stops with one line naming the file and the cause, the previous checkpoint still
loads (and resumes to the bits of a run that never failed), and no file under a final name
is half-written.

Faults are injected in deltaflow.io's own calls: the k-th ``write`` of a file opened by
``deltaflow.io.atomic`` (part of the data lands, then ENOSPC or EIO), the k-th ``fsync``
(EIO, where a full or failing disk often reports), the k-th ``rename`` (EIO) or the k-th
creation of a temporary file (EROFS, EACCES), for every k up to the number of such
operations in the whole run.
"""
import errno
import json
import os
import re
import stat
from pathlib import Path

import numpy as np
import pytest

import deltaflow as dl
from deltaflow import io as dio
from deltaflow import nn
from deltaflow.cli import main
from deltaflow.data import DataLoader, TensorDataset
from deltaflow.io import atomic
from deltaflow.train import Trainer
from deltaflow.train import checkpoint as ckpt

from .harness import COMMON


def _setup(run_dir):
    dl.manual_seed(0)
    rng = np.random.default_rng(0)
    y = np.arange(48) % 3
    x = (4.0 * np.eye(3, 4)[y] + rng.normal(size=(48, 4))).astype(np.float32)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 3))
    opt = dl.optim.Adam(model.parameters(), lr=0.01)
    train = DataLoader(TensorDataset(x, y.astype(np.int64)), batch_size=8, shuffle=True,
                       generator=1)
    val = DataLoader(TensorDataset(x[:16], y[:16].astype(np.int64)), batch_size=8)
    trainer = Trainer(model, opt, run_dir=run_dir, progress=False, plot=False,
                      checkpoint_every=4)
    return trainer, train, val


EPOCHS = 3


class Faults:
    """Count deltaflow.io's file operations of one kind; raise ``code`` at the k-th."""

    def __init__(self, monkeypatch, kind: str, code: int, k: int = 0):
        self.kind, self.code, self.k, self.count = kind, code, k, 0
        self.injected = None
        real_open, real_fsync, real_replace, real_os_open = open, os.fsync, os.replace, os.open
        faults = self

        def hit(target) -> bool:
            faults.count += 1
            if faults.count == faults.k:
                faults.injected = str(target)
                return True
            return False

        class File:
            def __init__(self, f):
                self.f = f

            def write(self, data):
                if faults.kind == "write" and hit(self.f.name):
                    self.f.write(data[:len(data) // 2])   # part lands, then the error
                    self.f.flush()
                    raise OSError(faults.code, os.strerror(faults.code))
                return self.f.write(data)

            def __getattr__(self, name):
                return getattr(self.f, name)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.f.close()

        def open_(file, mode="r", *args, **kwargs):
            f = real_open(file, mode, *args, **kwargs)
            return File(f) if "w" in mode or "a" in mode else f

        def fsync(fd):   # a file's (a folder's fsync may fail: it is only a hint)
            if kind == "fsync" and not stat.S_ISDIR(os.fstat(fd).st_mode) and hit(fd):
                raise OSError(faults.code, os.strerror(faults.code))
            return real_fsync(fd)

        def replace(src, dst):
            if kind == "rename" and hit(dst):
                raise OSError(faults.code, os.strerror(faults.code))
            return real_replace(src, dst)

        def os_open(path, flags, *args):
            if kind == "create" and flags & os.O_CREAT and hit(path):
                raise OSError(faults.code, os.strerror(faults.code))
            return real_os_open(path, flags, *args)

        monkeypatch.setattr(atomic, "open", open_, raising=False)
        monkeypatch.setattr(atomic.os, "fsync", fsync)
        monkeypatch.setattr(atomic.os, "replace", replace)
        monkeypatch.setattr(atomic.os, "open", os_open)


def _whole_files(run_dir: Path) -> list:
    """Every file under a final name reads whole; no temporary file is left."""
    problems = []
    for path in sorted(run_dir.rglob("*")):
        if not path.is_file():
            continue
        name = path.name
        if ".tmp" in name:
            problems.append(f"temporary file left: {path}")
        elif name.endswith(".safetensors"):
            try:
                dio.load(path)
            except ValueError as err:
                problems.append(str(err))
        elif name.endswith(".json"):
            try:
                json.loads(path.read_text())
            except ValueError as err:
                problems.append(f"{path}: {err}")
        elif name == "metrics.jsonl":
            for line in path.read_text().splitlines():
                try:
                    json.loads(line)
                except ValueError:
                    problems.append(f"{path}: a torn line {line!r}")
    return problems


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The weights of the run that never fails, and how many operations of each kind it
    makes."""
    mp = pytest.MonkeyPatch()
    counts = {}
    for kind in ("write", "fsync", "rename", "create"):
        faults = Faults(mp, kind, errno.EIO)
        trainer, train, val = _setup(tmp_path_factory.mktemp(kind))
        trainer.fit(train, val, epochs=EPOCHS)
        counts[kind] = faults.count
        mp.undo()
    return {k: v.numpy().copy() for k, v in trainer.model.state_dict().items()}, counts


CASES = [("write", errno.ENOSPC), ("write", errno.EIO), ("fsync", errno.EIO),
         ("rename", errno.EIO), ("create", errno.EROFS), ("create", errno.EACCES)]


@pytest.mark.parametrize("kind, code", CASES, ids=[f"{k}-{errno.errorcode[c]}"
                                                    for k, c in CASES])
def test_every_failing_write_stops_cleanly_and_the_run_resumes(tmp_path, monkeypatch,
                                                               reference, kind, code):
    weights, counts = reference
    survived = 0
    for k in range(1, counts[kind] + 1):
        run_dir = tmp_path / f"k{k}"
        faults = Faults(monkeypatch, kind, code, k)
        trainer, train, val = _setup(run_dir)
        with pytest.raises(dio.WriteError) as info:
            trainer.fit(train, val, epochs=EPOCHS)
        monkeypatch.undo()
        message = str(info.value)
        assert "\n" not in message and message.startswith(f"cannot write {run_dir}/"), message
        assert message.endswith(f"{os.strerror(code)} ({errno.errorcode[code]})"), message
        assert info.value.errno == code
        assert not _whole_files(run_dir), (k, faults.injected, _whole_files(run_dir))
        resumed, train, val = _setup(run_dir)
        stem = run_dir / "checkpoints" / "last"
        if (stem.parent / "last.json").exists() or ckpt.pending_paths(stem)[2].exists():
            resumed.load_checkpoint(stem)   # the previous checkpoint loads
        resumed.fit(train, val, epochs=EPOCHS)
        for name, value in resumed.model.state_dict().items():
            np.testing.assert_array_equal(value.numpy(), weights[name], err_msg=f"k={k}")
        survived += 1
    assert survived == counts[kind] > 10
    print(f"{kind} {errno.errorcode[code]}: {survived} faults injected, {survived} survived")


# ------------------------------------------------------------------ the command line
def test_a_full_disk_mid_run_is_one_line_with_the_resume_command(tmp_path, monkeypatch,
                                                                 capsys):
    pytest.importorskip("sklearn")
    argv = ["train", "--hidden", "8", "--epochs", "2", *COMMON, "--out", str(tmp_path)]
    assert main([*argv, "--name", "full"]) == 0
    real = dio.save

    def full_disk_after_epoch_1(obj, path, metadata=None):
        if (Path(path).parent / "last.json").exists():
            raise dio.WriteError(path, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
        return real(obj, path, metadata)

    monkeypatch.setattr(dio, "save", full_disk_after_epoch_1)
    capsys.readouterr()
    assert main([*argv, "--name", "run"]) == 1
    monkeypatch.undo()
    err = capsys.readouterr().err
    run = tmp_path / "run"
    assert err.count("\n") == 1, err
    assert re.fullmatch(rf"error: cannot write {run}/checkpoints/\.(best|last)\.pending"
                        rf"\.safetensors: No space left on device \(ENOSPC\); the last "
                        rf"checkpoint \(epoch 1\) is intact: make room, then deltaflow "
                        rf"train --resume {run}\n", err), err
    assert main(["train", "--resume", str(run), "--no-progress"]) == 0
    from .harness import same_weights
    assert same_weights(tmp_path / "full", run)


def test_an_output_folder_that_is_a_file(tmp_path, capsys):
    pytest.importorskip("sklearn")
    (tmp_path / "runs").write_text("not a folder")
    rc = main(["train", "--hidden", "8", "--epochs", "1", *COMMON, "--out",
               str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert rc == 1 and err.count("\n") == 1, err
    assert re.fullmatch(rf"error: cannot write {tmp_path}/runs/mlp-digits-[\d-]+: Not a "
                        rf"directory \(ENOTDIR\)\n", err), err


def test_a_checkpoint_folder_that_is_a_file(tmp_path):
    trainer, train, val = _setup(tmp_path / "run")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "checkpoints").write_text("in the way")
    with pytest.raises(dio.WriteError, match=r"cannot write .*checkpoints/\.last\.pending"
                                             r"\.safetensors: .*\((EEXIST|ENOTDIR)\)$"):
        trainer.fit(train, val, epochs=1)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_real_read_only_folder(tmp_path):
    trainer, train, val = _setup(tmp_path / "run")
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    (tmp_path / "run" / "checkpoints").chmod(0o555)
    try:
        with pytest.raises(dio.WriteError, match=r"Permission denied \(EACCES\)$"):
            trainer.fit(train, val, epochs=1)
    finally:
        (tmp_path / "run" / "checkpoints").chmod(0o755)


def test_a_failed_append_leaves_whole_lines(tmp_path, monkeypatch):
    log = tmp_path / "metrics.jsonl"
    dio.append_jsonl(log, {"epoch": 1})
    Faults(monkeypatch, "write", errno.ENOSPC, k=1)
    with pytest.raises(dio.WriteError, match=r"metrics\.jsonl: No space left on device"):
        dio.append_jsonl(log, {"epoch": 2, "loss": 0.5})
    monkeypatch.undo()
    assert log.read_text() == '{"epoch": 1}\n'
