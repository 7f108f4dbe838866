import io
import json

import numpy as np
import pytest

import deltaflow as dl
from deltaflow import nn
from deltaflow.data import DataLoader, TensorDataset
from deltaflow.train import Callback, EarlyStopping, ProgressBar, Trainer, read_metrics

TIMING = ("time", "samples_per_s")


def _data(n=96, seed=0):
    centers = 4.0 * np.eye(3, 4)
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = (centers[y] + rng.normal(size=(n, 4))).astype(np.float32)
    return TensorDataset(x, y.astype(np.int64))


def _setup(seed=0, lr=0.05, epochs=3, run_dir=None, callbacks=(), scheduler="onecycle",
           plot=False, batchnorm=True):
    """Everything built in a fixed order from one seed, as the CLI does."""
    dl.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16) if batchnorm else nn.Identity(),
                          nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
    opt = dl.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    train = DataLoader(_data(), batch_size=8, shuffle=True)
    val = DataLoader(_data(48, seed=1), batch_size=16)
    sched = None
    if scheduler == "onecycle":
        sched = dl.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * len(train))
    elif scheduler == "plateau":
        sched = dl.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0, eps=0.0)
    trainer = Trainer(model, opt, scheduler=sched, run_dir=run_dir, progress=False,
                      plot=plot, callbacks=callbacks)
    return trainer, train, val


def _weights(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def _same_history(a, b):
    strip = [{k: v for k, v in r.items() if k not in TIMING} for r in a]
    return strip == [{k: v for k, v in r.items() if k not in TIMING} for r in b]


def test_fit_learns_and_reports_history():
    trainer, train, val = _setup(epochs=4)
    history = trainer.fit(train, val, epochs=4)
    assert [r["epoch"] for r in history] == [1, 2, 3, 4]
    assert history[-1]["step"] == 4 * len(train) == trainer.step
    assert set(history[0]) >= {"epoch", "step", "lr", "loss", "accuracy", "val_loss",
                               "val_accuracy", "time", "samples_per_s"}
    assert history[-1]["loss"] < history[0]["loss"]
    assert history[-1]["val_accuracy"] > 0.9
    final = trainer.evaluate(val)
    assert final == {"loss": pytest.approx(history[-1]["val_loss"]),
                     "accuracy": history[-1]["val_accuracy"]}
    assert trainer.model.training  # evaluate restores the mode


def test_predict_is_eval_mode_forward():
    trainer, train, val = _setup()
    trainer.fit(train, epochs=1)
    x = _data(48, seed=1).tensors[0]
    out = trainer.predict(x.numpy(), batch_size=10)
    trainer.model.eval()
    with dl.no_grad():
        expected = trainer.model(x).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert np.array_equal(trainer.predict(val), out)


def test_onecycle_steps_per_batch_and_plateau_per_epoch():
    trainer, train, val = _setup(epochs=2)
    trainer.fit(train, val, epochs=2)
    assert trainer.scheduler_interval == "batch"
    assert trainer.scheduler.last_epoch == 2 * len(train)
    # (no BatchNorm: its running statistics would change the validation loss)
    trainer, train, val = _setup(lr=1e-12, scheduler="plateau", batchnorm=False)
    trainer.fit(train, val, epochs=4)
    lrs = [r["lr"] for r in trainer.history]
    # epoch 1 sets the best; from epoch 2 on nothing improves → halved after each epoch
    assert lrs[0] == lrs[1] == 1e-12 and lrs[3] < lrs[2] < lrs[1]


def test_gradient_clipping_bounds_the_update():
    dl.manual_seed(0)
    model = nn.Linear(4, 3)
    opt = dl.optim.SGD(model.parameters(), lr=1.0)
    before = np.concatenate([p.numpy().ravel().copy() for p in model.parameters()])
    data = _data(8)
    Trainer(model, opt, clip_grad_norm=1e-3, progress=False).fit(
        DataLoader(data, batch_size=8), epochs=1)
    after = np.concatenate([p.numpy().ravel() for p in model.parameters()])
    assert np.linalg.norm(after - before) == pytest.approx(1e-3, rel=1e-4)


def test_early_stopping_stops_after_patience():
    stopper = EarlyStopping("val_loss", patience=2)
    trainer, train, val = _setup(lr=0.0, scheduler=None, callbacks=[stopper], batchnorm=False)
    trainer.fit(train, val, epochs=10)
    # lr 0: the loss never improves, so epochs 2 and 3 are the two without progress
    assert trainer.epoch == 3 and stopper.stopped_epoch == 3 and trainer.should_stop


def test_early_stopping_needs_its_metric():
    trainer, train, _ = _setup(callbacks=[EarlyStopping("val_loss")])
    with pytest.raises(KeyError, match="'val_loss' is not among"):
        trainer.fit(train, epochs=1)


class _Kill(Callback):
    """Simulate the process dying at the end of ``epoch``: ``order`` decides whether that
    happens before (60) or after (200) the epoch's checkpoint is written."""

    def __init__(self, epoch, order):
        self.epoch, self.order = epoch, order

    def on_epoch_end(self, trainer, logs):
        if trainer.epoch == self.epoch:
            raise KeyboardInterrupt


@pytest.mark.parametrize("kill_epoch, order, resumes_from", [(1, 200, 1), (2, 60, 1)])
def test_resume_is_bit_identical(tmp_path, kill_epoch, order, resumes_from):
    full, train, val = _setup(run_dir=tmp_path / "full")
    full.fit(train, val, epochs=3)

    run = tmp_path / "killed"
    killed, train, val = _setup(run_dir=run, callbacks=[_Kill(kill_epoch, order)])
    with pytest.raises(KeyboardInterrupt):
        killed.fit(train, val, epochs=3)
    assert len(read_metrics(run / "metrics.jsonl")) == kill_epoch

    resumed, train, val = _setup(run_dir=run)
    state = resumed.load_checkpoint(run / "checkpoints" / "last")
    assert state["epoch"] == resumes_from == resumed.epoch
    resumed.fit(train, val, epochs=3)

    a, b = _weights(full.model), _weights(resumed.model)
    assert a.keys() == b.keys()
    for key in a:
        assert np.array_equal(a[key], b[key]), key
    assert _same_history(full.history, resumed.history)
    assert _same_history(read_metrics(tmp_path / "full" / "metrics.jsonl"),
                         read_metrics(run / "metrics.jsonl"))  # each epoch logged once
    saved = dl.load(run / "model.safetensors")
    assert all(np.array_equal(saved[k].numpy(), a[k]) for k in a)


def test_run_dir_files_and_best_checkpoint(tmp_path):
    trainer, train, val = _setup(run_dir=tmp_path, plot=True)
    trainer.fit(train, val, epochs=3)
    names = {p.name for p in tmp_path.iterdir()}
    assert {"metrics.jsonl", "model.safetensors", "checkpoints"} <= names
    assert {p.name for p in (tmp_path / "checkpoints").iterdir()} == {
        "best.json", "best.safetensors", "best.optim.safetensors",
        "last.json", "last.safetensors", "last.optim.safetensors"}
    best = json.loads((tmp_path / "checkpoints" / "best.json").read_text())
    losses = [r["val_loss"] for r in trainer.history]
    assert best["epoch"] == int(np.argmin(losses)) + 1
    last = json.loads((tmp_path / "checkpoints" / "last.json").read_text())
    assert last["epoch"] == 3 and last["step"] == trainer.step
    assert last["loader_state"]["state_dict"]["generator"]["bit_generator"] == "PCG64"
    if pytest.importorskip("matplotlib"):
        png = (tmp_path / "curves.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_arguments_are_named():
    model = nn.Linear(2, 2)
    opt = dl.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="scheduler_interval must be 'epoch' or 'batch'"):
        Trainer(model, opt, scheduler_interval="step")
    with pytest.raises(ValueError, match="clip_grad_norm must be > 0"):
        Trainer(model, opt, clip_grad_norm=0)
    with pytest.raises(ValueError, match="unknown metric"):
        Trainer(model, opt, metrics=["f1"])
    with pytest.raises(TypeError, match="must be Callback objects"):
        Trainer(model, opt, callbacks=[print])
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        Trainer(model, opt, progress=False).fit([], epochs=0)
    with pytest.raises(ValueError, match="produced no batches"):
        Trainer(model, opt, progress=False).fit([], epochs=1)
    with pytest.raises(ValueError, match="has no optimizer"):
        Trainer(model, None, progress=False).fit([], epochs=1)


def test_progress_bar_shows_running_metrics_and_throughput():
    trainer, train, val = _setup()
    buf = io.StringIO()
    trainer.callbacks = [ProgressBar(file=buf)]
    trainer.fit(train, val, epochs=1)
    text = buf.getvalue()
    assert "epoch 1/1" in text and "loss=" in text and "accuracy=" in text
    assert "samples/s=" in text and "val_accuracy=" in text
