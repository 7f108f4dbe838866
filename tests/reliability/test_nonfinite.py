"""NaN/Inf in training (``on_nonfinite``, ``deltaflow train --on-nonfinite stop|skip``): the
bad loss or gradient is caught before the update it would spoil; ``stop`` re-runs the step
under anomaly mode and raises the report of the op that produced it, ``skip`` drops the
update, counts it and goes on, up to ``max_skipped``."""
import json

import numpy as np
import pytest

import deltaflow as dl
from deltaflow import nn
from deltaflow.autograd.anomaly import AnomalyError, is_anomaly_enabled
from deltaflow.cli import main
from deltaflow.data import DataLoader, TensorDataset
from deltaflow.train import Trainer

from .harness import COMMON

POISONED = (2, 5)   # the batches (of 6, in order) holding a sample that breaks the step


class Log(nn.Module):
    """``log(x)``: -inf at x = 0."""

    def forward(self, x):
        return dl.log(x)


class Root(nn.Module):
    """``sqrt(x²)``: finite at 0, where its gradient is ∞ · 0 = NaN."""

    def forward(self, x):
        return dl.sqrt(x * x)


def _data(bad: float):
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 2.0, size=(48, 4)).astype(np.float32)
    for b in POISONED:
        x[8 * b] = bad
    return TensorDataset(x, (np.arange(48) % 3).astype(np.int64))


def _trainer(first, data, **options):
    dl.manual_seed(0)
    model = nn.Sequential(first, nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    trainer = Trainer(model, dl.optim.SGD(model.parameters(), lr=0.1), progress=False,
                      **options)
    return trainer, DataLoader(data, batch_size=8)


def _weights(trainer):
    return {k: v.numpy().copy() for k, v in trainer.model.state_dict().items()}


class Snapshot(dl.train.Callback):
    """The weights after every step."""

    def __init__(self):
        self.after = []

    def on_batch_end(self, trainer, logs):
        self.after.append(_weights(trainer))


def test_stop_names_the_op_of_a_nan_loss_and_keeps_the_weights():
    trainer, loader = _trainer(Log(), _data(0.0))
    snapshot = Snapshot()
    trainer.callbacks.append(snapshot)
    with pytest.raises(AnomalyError) as info:
        trainer.fit(loader, epochs=2)
    err = info.value
    message = str(err)
    assert message.startswith("the loss became nan at epoch 1, step 3, before the update "
                              "(not applied); the step re-run under anomaly mode:\n"
                              "detect_anomaly: forward of op 'log' produced Inf"), message
    assert (err.phase, err.op, err.module_path) == ("forward", "log", "model.0")
    assert trainer.step == 2
    for name, value in _weights(trainer).items():   # the spoiled update was not made
        np.testing.assert_array_equal(value, snapshot.after[-1][name])
        assert np.isfinite(value).all()
    assert not is_anomaly_enabled()   # the re-run's mode ended with it


def test_stop_names_the_op_of_a_nonfinite_gradient():
    trainer, loader = _trainer(nn.Sequential(nn.Linear(4, 4, bias=False), Root()), _data(0.0))
    with pytest.raises(AnomalyError) as info:
        trainer.fit(loader, epochs=1)
    message = str(info.value)
    assert message.startswith("the gradient of 0.0.weight holds NaN/Inf (loss ")
    assert "at epoch 1, step 3, before the update (not applied)" in message
    assert (info.value.phase, info.value.op) == ("backward", "sqrt")
    assert all(np.isfinite(v).all() for v in _weights(trainer).values())


def test_skip_drops_the_update_counts_it_and_goes_on():
    trainer, loader = _trainer(Log(), _data(0.0), on_nonfinite="skip")
    clean, clean_loader = _trainer(Log(), _data(1.0))
    history = trainer.fit(loader, epochs=3)
    assert trainer.skipped_steps == 6 and [r["skipped"] for r in history] == [2, 2, 2]
    assert trainer.step == 3 * 4 and history[-1]["step"] == 12
    assert all(np.isfinite(v).all() for v in _weights(trainer).values())
    assert np.isfinite(history[-1]["loss"]) and history[-1]["loss"] < history[0]["loss"]
    clean.fit(clean_loader, epochs=1)
    assert "skipped" not in clean.history[0]


def test_skip_stops_after_max_skipped():
    trainer, loader = _trainer(Log(), _data(0.0), on_nonfinite="skip", max_skipped=3)
    with pytest.raises(AnomalyError, match=r"^the loss became nan at epoch 2, step 9, before "
                                           r"the update \(not applied\); 3 updates were "
                                           r"skipped already \(max_skipped\)"):
        trainer.fit(loader, epochs=3)
    assert trainer.skipped_steps == 3


def test_bad_options():
    with pytest.raises(ValueError, match="on_nonfinite must be one of"):
        _trainer(Log(), _data(1.0), on_nonfinite="ignore")
    with pytest.raises(ValueError, match="max_skipped must be an int >= 0"):
        _trainer(Log(), _data(1.0), max_skipped=-1)


# ------------------------------------------------------------------ the command line
DIVERGE = ["train", "--optimizer", "sgd", "--lr", "1e30", "--hidden", "8", "--epochs", "2",
           *COMMON]


def test_the_cli_stops_with_the_report_and_leaves_no_folder(tmp_path, capsys):
    pytest.importorskip("sklearn")
    rc = main([*DIVERGE, "--out", str(tmp_path), "--name", "run"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "error: the loss became nan at epoch 1, step 2, before the update (not applied); " \
           "the step re-run under anomaly mode:\ndetect_anomaly: forward of op 'linear'" in err
    assert "Traceback" not in err and "run folder" not in err
    assert not (tmp_path / "run").exists()   # failed before its first checkpoint


def test_a_detect_anomaly_stop_before_the_first_checkpoint_leaves_no_folder(tmp_path, capsys):
    pytest.importorskip("sklearn")
    rc = main([*DIVERGE, "--detect-anomaly", "--out", str(tmp_path), "--name", "run"])
    err = capsys.readouterr().err
    assert rc == 1 and "detect_anomaly: forward of op" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_the_cli_skips_and_records_it(tmp_path, capsys):
    pytest.importorskip("sklearn")
    rc = main([*DIVERGE, "--on-nonfinite", "skip", "--max-skipped", "3", "--out",
               str(tmp_path), "--name", "run"])
    err = capsys.readouterr().err
    assert rc == 1 and "3 updates were skipped already (max_skipped)" in err
    rc = main(["train", "--hidden", "8", "--epochs", "1", "--on-nonfinite", "skip", *COMMON,
               "--out", str(tmp_path), "--name", "ok"])
    assert rc == 0
    record = json.loads((tmp_path / "ok" / "metrics.jsonl").read_text())
    assert record["skipped"] == 0
    assert 'on_nonfinite = "skip"' in (tmp_path / "ok" / "config.toml").read_text()
