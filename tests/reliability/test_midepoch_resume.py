"""Checkpoints between two steps (``checkpoint_every``, SIGINT/SIGTERM) resume bit for bit:
the loader's position, every random state, the epoch's running means and the per-batch
schedule all come back."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import deltaflow as dl
from deltaflow import nn
from deltaflow.cli import main
from deltaflow.data import DataLoader, TensorDataset
from deltaflow.train import Callback, Trainer
from deltaflow.train import checkpoint as ckpt
from deltaflow.train.interrupt import TrainingInterrupted

from .harness import COMMON, same_weights

TIMING = ("time", "samples_per_s")


def _data(n=88, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = (4.0 * np.eye(3, 4)[y] + rng.normal(size=(n, 4))).astype(np.float32)
    return TensorDataset(x, y.astype(np.int64))


def _setup(run_dir, callbacks=(), every=None, epochs=3):
    """Dropout, BatchNorm, a shuffled loader (11 batches, the last one short) and a
    per-batch OneCycle schedule: everything a mid-epoch resume must restore."""
    dl.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3),
                          nn.Linear(16, 3))
    opt = dl.optim.Adam(model.parameters(), lr=0.01)
    train = DataLoader(_data(), batch_size=8, shuffle=True, generator=3)
    sched = dl.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.01, total_steps=epochs * len(train))
    trainer = Trainer(model, opt, scheduler=sched, run_dir=run_dir, progress=False, plot=False,
                      callbacks=callbacks, checkpoint_every=every)
    return trainer, train, DataLoader(_data(40, seed=1), batch_size=16)


def _weights(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def _assert_same_weights(a, b):
    wa, wb = _weights(a.model), _weights(b.model)
    assert wa.keys() == wb.keys()
    for name in wa:
        np.testing.assert_array_equal(wa[name], wb[name], err_msg=name)


def _history(trainer):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in trainer.history]


class KeepEveryCheckpoint(Callback):
    """Copy ``checkpoints/last.*`` after each step (it is rewritten every step)."""

    order = 200

    def __init__(self, run_dir):
        self.run_dir, self.kept = run_dir, []

    def on_batch_end(self, trainer, logs):
        stem = self.run_dir / "checkpoints" / "last"
        if trainer._saved_at != trainer._position_of(stem):
            return   # (the last batch of an epoch: saved at the epoch's end)
        copy = self.run_dir / "kept" / f"step{trainer.step}"
        copy.parent.mkdir(exist_ok=True)
        for src, dst in zip(ckpt.checkpoint_paths(stem), ckpt.checkpoint_paths(copy)):
            shutil.copy(src, dst)
        self.kept.append((trainer.step, copy))


def test_resume_from_any_step_is_bit_identical(tmp_path):
    full, train, val = _setup(tmp_path / "full")
    full.fit(train, val, epochs=3)
    keeper = KeepEveryCheckpoint(tmp_path / "every")
    every, train, val = _setup(tmp_path / "every", [keeper], every=1)
    every.fit(train, val, epochs=3)
    _assert_same_weights(every, full)
    steps = [step for step, _ in keeper.kept]
    assert len(steps) == 3 * 10 and 11 not in steps   # every step but the epochs' last
    for step, stem in keeper.kept[::3] + keeper.kept[-1:]:
        resumed, train, val = _setup(tmp_path / f"r{step}")
        state = resumed.load_checkpoint(stem)
        assert state["position"]["batches"] == (step - 1) % 11 + 1
        resumed.fit(train, val, epochs=3)
        _assert_same_weights(resumed, full)
        assert _history(resumed) == _history(full), step
        assert resumed.step == full.step


class SendSignal(Callback):
    def __init__(self, at_step, signum, times=1):
        self.at_step, self.signum, self.times = at_step, signum, times

    def on_batch_end(self, trainer, logs):
        if logs["step"] == self.at_step:
            for _ in range(self.times):
                os.kill(os.getpid(), self.signum)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_saves_at_the_step_boundary_and_resumes_bit_identically(tmp_path, signum):
    full, train, val = _setup(tmp_path / "full")
    full.fit(train, val, epochs=3)
    before = signal.getsignal(signum)
    stopped, train, val = _setup(tmp_path / "run", [SendSignal(15, signum)])
    with pytest.raises(TrainingInterrupted) as info:
        stopped.fit(train, val, epochs=3)
    assert signal.getsignal(signum) is before   # the handlers are given back
    stop = info.value
    assert (stop.signum, stop.epoch, stop.step, stop.finished) == (signum, 1, 15, False)
    sidecar = ckpt.read_sidecar(stop.checkpoint)
    assert (sidecar["step"], sidecar["position"]["batches"]) == (15, 4)
    resumed, train, val = _setup(tmp_path / "run")
    resumed.load_checkpoint(stop.checkpoint)
    resumed.fit(train, val, epochs=3)
    _assert_same_weights(resumed, full)
    assert _history(resumed) == _history(full)


def test_a_second_signal_stops_at_once(tmp_path):
    trainer, train, val = _setup(tmp_path / "run", [SendSignal(5, signal.SIGINT, times=2)])
    with pytest.raises(KeyboardInterrupt) as info:
        trainer.fit(train, val, epochs=3)
    assert not isinstance(info.value, TrainingInterrupted)


def test_without_a_run_folder_signals_are_left_alone(tmp_path):
    trainer, train, val = _setup(None, [SendSignal(5, signal.SIGINT)])
    with pytest.raises(KeyboardInterrupt) as info:
        trainer.fit(train, val, epochs=3)
    assert not isinstance(info.value, TrainingInterrupted)


def test_checkpoint_every_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="every_steps must be a positive int"):
        _setup(tmp_path, every=0)


# ------------------------------------------------------------------ the command line
def _train_argv(tmp_path):
    pytest.importorskip("sklearn")
    return ["train", "--hidden", "32", "--epochs", "2", "--dropout", "0.3", *COMMON,
            "--out", str(tmp_path)]


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_prints_the_command_that_resumes(tmp_path, signum, status, capsys):
    argv = _train_argv(tmp_path)
    assert main([*argv, "--name", "full"]) == 0
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-m", "deltaflow", *argv, "--name", "run",
                             "--checkpoint-every", "3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().startswith("run: ")
    deadline = time.monotonic() + 120
    while not (tmp_path / "run" / "checkpoints" / "last.json").exists():   # training
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == status, err
    run = tmp_path / "run"
    line = err.strip().splitlines()[-1]
    assert "Traceback" not in err
    assert line.startswith(f"{signal.Signals(signum).name}: stopped at epoch "), line
    assert line.endswith(f"checkpoint saved ({run}/checkpoints/last); resume with: "
                         f"deltaflow train --resume {run}"), line
    capsys.readouterr()
    assert main(line.split("resume with: ")[1].split()[1:] + ["--no-progress"]) == 0
    assert "resumed after epoch" in capsys.readouterr().out
    assert same_weights(tmp_path / "full", run)
    logs = [json.loads(r) for r in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in logs] == [1, 2]


def test_a_run_stopped_in_its_final_save_is_finished_by_resume(tmp_path, capsys):
    argv = _train_argv(tmp_path)
    assert main([*argv, "--name", "full"]) == 0
    assert main([*argv, "--name", "run"]) == 0
    run = tmp_path / "run"
    for name in ("model.safetensors", "results.json"):   # as if killed while writing them
        (run / name).unlink()
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--no-progress"]) == 0
    assert "resumed after epoch 2" in capsys.readouterr().out
    assert same_weights(tmp_path / "full", run)
    assert json.loads((run / "results.json").read_text()) .keys() >= {"test_accuracy"}
    assert main(["train", "--resume", str(run)]) == 0
    assert "has already trained 2 epochs" in capsys.readouterr().out


def test_mid_epoch_resume_says_where(tmp_path, capsys, monkeypatch):
    from deltaflow.train.callbacks import Checkpoint
    argv = [*_train_argv(tmp_path), "--checkpoint-every", "5"]
    assert main([*argv, "--name", "full"]) == 0
    save = Checkpoint.on_batch_end

    def die_after_step_25(self, trainer, logs):   # a kill right after that checkpoint
        save(self, trainer, logs)
        if logs["step"] == 25:
            raise SystemExit(137)

    monkeypatch.setattr(Checkpoint, "on_batch_end", die_after_step_25)
    with pytest.raises(SystemExit):
        main([*argv, "--name", "run"])
    monkeypatch.undo()
    capsys.readouterr()
    run = tmp_path / "run"
    assert main(["train", "--resume", str(run), "--no-progress"]) == 0
    out = capsys.readouterr().out   # digits: 21 batches per epoch
    assert "(resumed after epoch 1, at step 25 (batch 4 of epoch 2))" in out, out
    assert same_weights(tmp_path / "full", run)
