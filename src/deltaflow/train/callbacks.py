"""Callbacks: hooks the :class:`~deltaflow.train.Trainer` calls during ``fit``.

Hooks (all optional): ``on_fit_start(trainer)``, ``on_epoch_start(trainer)``,
``on_after_backward(trainer)`` (gradients are in ``.grad``, before clipping and the update),
``on_batch_end(trainer, logs)`` (``logs``: running ``loss``/metrics, ``samples``, ``step``),
``on_epoch_end(trainer, logs)`` (``logs``: the epoch's record, see ``Trainer.fit``),
``on_fit_end(trainer)``. A callback with state that must survive a resume implements
``state_dict()`` / ``load_state_dict(state)``; the checkpoint stores it under the
callback's ``name``. Callbacks run in ascending ``order`` (checkpoints last, so they capture
what the others decided at that epoch). In a distributed run every callback runs on every
rank, except those with ``main_process_only`` (the progress bar, the log, the plot): they
run on rank 0 only.
"""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

from ..io import append_jsonl, atomic_write


class Callback:
    order = 0
    main_process_only = False   # True: runs on rank 0 only in a distributed run

    @property
    def name(self) -> str:
        return type(self).__name__

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def _better(mode: str, value: float, best: float | None, min_delta: float = 0.0) -> bool:
    if value is None or math.isnan(value):
        return False
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


def _check_mode(mode: str, who: str) -> str:
    if mode not in ("min", "max"):
        raise ValueError(f"{who}: mode must be 'min' or 'max', got {mode!r}")
    return mode


class ProgressBar(Callback):
    """A tqdm bar per epoch showing the running loss, metrics and samples per second
    (distributed: rank 0's running values; the epoch's record is over all ranks)."""

    main_process_only = True

    def __init__(self, file=None, leave: bool = True):
        self.file, self.leave = file, leave
        self._bar = None

    def on_epoch_start(self, trainer):
        from tqdm.auto import tqdm
        total = _length(trainer.train_loader)
        self._bar = tqdm(total=total, desc=f"epoch {trainer.epoch + 1}/{trainer.max_epochs}",
                         unit="batch", leave=self.leave, file=self.file or sys.stderr,
                         dynamic_ncols=True, initial=trainer.batches_done)
        self._done = trainer.batches_done   # a resume between two steps starts there
        self._start = time.perf_counter()

    def on_batch_end(self, trainer, logs):
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        post = {k: f"{v:.4f}" for k, v in logs.items() if k not in ("samples", "step")}
        post["samples/s"] = f"{logs['samples'] / elapsed:.0f}" if not self._done else "-"
        self._bar.set_postfix(post, refresh=False)
        self._bar.update(1)

    def on_epoch_end(self, trainer, logs):
        if self._bar is not None:
            shown = {k: f"{logs[k]:.4f}" for k in logs
                     if k.startswith(("loss", "val_", "accuracy", "top"))}
            shown["samples/s"] = f"{logs['samples_per_s']:.0f}"
            self._bar.set_postfix(shown, refresh=True)
            self._bar.close()
            self._bar = None


def _length(loader):
    try:
        return len(loader)
    except TypeError:
        return None


class MetricsLogger(Callback):
    """Append each epoch's record as one JSON line to ``path`` (``metrics.jsonl``).

    On resume the file is cut back to the epochs the checkpoint has seen, so a run killed
    after writing a line but before its checkpoint does not log that epoch twice (and a
    last line cut short by a full disk is dropped).
    """

    main_process_only = True

    def __init__(self, path):
        self.path = Path(path)

    def on_fit_start(self, trainer):
        if self.path.exists():
            lines = [line for line in self.path.read_text(encoding="utf-8").splitlines()
                     if line.strip()]
            if lines and not _is_json(lines[-1]):
                lines.pop()
            kept = [line for line in lines if json.loads(line).get("epoch", 0) <= trainer.epoch]
            with atomic_write(self.path) as f:
                f.write("".join(line + "\n" for line in kept))

    def on_epoch_end(self, trainer, logs):
        append_jsonl(self.path, logs)


def _is_json(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def read_metrics(path) -> list[dict]:
    """The records of a ``metrics.jsonl`` file."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class Checkpoint(Callback):
    """Save ``last`` after every epoch (and every ``every_steps`` steps, mid-epoch too) and
    ``best`` when ``monitor`` improves.

    Files go to ``directory`` as ``last.*`` and ``best.*`` (see
    :mod:`deltaflow.train.checkpoint` for the layout). ``monitor`` defaults to
    ``val_loss`` when the trainer has validation data, else ``loss``; a task that reports
    neither (a GAN's two losses) gets ``last`` only.
    """

    order = 100

    def __init__(self, directory, monitor: str | None = None, mode: str = "min",
                 save_best: bool = True, every_steps: int | None = None):
        if every_steps is not None and (not isinstance(every_steps, int) or every_steps < 1):
            raise ValueError(f"Checkpoint: every_steps must be a positive int, got "
                             f"{every_steps!r}")
        self.directory, self.every_steps = Path(directory), every_steps
        self.monitor, self.mode = monitor, _check_mode(mode, "Checkpoint")
        self.save_best = save_best
        self.best: float | None = None
        self.best_epoch: int | None = None

    def on_batch_end(self, trainer, logs):
        if self.every_steps and logs["step"] % self.every_steps == 0 \
                and trainer.batches_done != _length(trainer.train_loader) \
                and trainer._saved_at != trainer._position_of(self.directory / "last"):
            trainer.save_checkpoint(self.directory / "last")   # (the epoch's end saves anyway)

    def on_epoch_end(self, trainer, logs):
        key = self.monitor or next((k for k in ("val_loss", "loss") if k in logs), None)
        if self.monitor is not None and key not in logs:
            raise KeyError(f"Checkpoint: monitored metric {key!r} is not among the epoch's "
                           f"metrics {sorted(logs)}")
        improved = key is not None and _better(self.mode, logs[key], self.best)
        if improved:
            self.best, self.best_epoch = logs[key], trainer.epoch
        if improved and self.save_best:
            trainer.save_checkpoint(self.directory / "best")
        trainer.save_checkpoint(self.directory / "last")

    def state_dict(self):
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state):
        self.best, self.best_epoch = state["best"], state["best_epoch"]


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs in a row."""

    order = 50

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0,
                 mode: str = "min"):
        if patience < 1:
            raise ValueError(f"EarlyStopping: patience must be >= 1, got {patience}")
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.mode = _check_mode(mode, "EarlyStopping")
        self.best: float | None = None
        self.wait = 0
        self.stopped_epoch: int | None = None

    def on_epoch_end(self, trainer, logs):
        if self.monitor not in logs:
            raise KeyError(f"EarlyStopping: monitored metric {self.monitor!r} is not among the "
                           f"epoch's metrics {sorted(logs)}")
        if _better(self.mode, logs[self.monitor], self.best, self.min_delta):
            self.best, self.wait = logs[self.monitor], 0
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped_epoch = trainer.epoch
                trainer.should_stop = True

    def state_dict(self):
        return {"best": self.best, "wait": self.wait, "stopped_epoch": self.stopped_epoch}

    def load_state_dict(self, state):
        self.best, self.wait = state["best"], state["wait"]
        self.stopped_epoch = state["stopped_epoch"]


class CurvePlot(Callback):
    """Write ``path`` (a PNG of loss and accuracy per epoch) at the end of ``fit``, from the
    trainer's whole history (resumed runs included). Needs matplotlib; skipped without it."""

    order = 90
    main_process_only = True

    def __init__(self, path, title: str | None = None):
        self.path, self.title = Path(path), title

    def on_fit_end(self, trainer):
        from .plots import plot_curves
        # with a separate evaluation loss (e.g. training with label smoothing) the two loss
        # curves measure different things: say so
        label = "train loss" if trainer.eval_loss_fn is trainer.loss_fn \
            else "train loss (training objective)"
        plot_curves(trainer.history, self.path, title=self.title, train_loss_label=label)


class GradientMonitorCallback(Callback):
    """Feed a ``dl.diagnostics.GradientMonitor`` after every backward pass."""

    def __init__(self, monitor):
        self.monitor = monitor

    def on_after_backward(self, trainer):
        self.monitor.step()
