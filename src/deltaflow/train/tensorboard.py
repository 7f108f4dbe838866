"""``TensorBoard(logdir)``: a :class:`~deltaflow.train.Trainer` callback that writes what a
run does as TensorBoard event files, through tensorboardX (the ``[tensorboard]`` extra;
imported only when a ``TensorBoard`` is made), so that ``tensorboard --logdir DIR`` shows it.

The x axis of every tag is the optimization step (``trainer.step``); epoch-level values are
written at the step that ended their epoch (the ``epoch`` tag maps steps to epochs).

=============================  ==========  =================================================
tag                            when        value
=============================  ==========  =================================================
``batch/<key>``                every step  the batch's loss and metrics (``batch/loss``,
                                           ``batch/accuracy``; a GAN's ``batch/loss_d`` ...)
``lr/<optimizer>``             every step  the learning rate of each optimizer
                                           (``lr/<optimizer>/group<i>`` with several groups)
``train/<key>``                every epoch the epoch's means of the training loss and metrics
``val/<key>``                  every epoch the validation metrics (``val/loss``,
                                           ``val/accuracy``)
``throughput/samples_per_s``   every epoch training samples per second
``time/epoch_seconds``         every epoch the epoch's wall time
``epoch``                      every epoch the number of epochs done
``grad_norm/<layer>``          see below   ‖∇θL‖ over the layer's own parameters
``update_ratio/<layer>``       every step  ‖θₜ − θₜ₋₁‖ / ‖θₜ₋₁‖ (with a gradient monitor only)
``weights/<parameter>``        every epoch histogram of the parameter
``grads/<parameter>``          every epoch histogram of its gradient (the epoch's last batch)
=============================  ==========  =================================================

Gradient norms per layer: with a :class:`~deltaflow.diagnostics.GradientMonitor` among the
trainer's callbacks (``deltaflow train --monitor``), those it records after every backward
pass (its layer names, ``model.0`` ...); without one, once per epoch from the gradients the
epoch's last batch left in ``.grad`` (the same names), which costs nothing per step.

``hparams`` (the run's configuration; ``deltaflow train`` gives its ``config.toml``) go to
the HParams dashboard, written after the first epoch with the epoch's ``train/*`` and
``val/*`` tags as its metrics: the table shows their latest, at the end the final, values.

Resuming (``trainer.load_checkpoint`` then ``fit``) appends to the same ``logdir`` and hides
the events that a killed process wrote after its checkpoint (``purge_step``). In a
distributed run only rank 0 writes.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .callbacks import Callback, GradientMonitorCallback

INSTALL_HINT = 'pip install -e ".[tensorboard]"'

#: epoch-record keys written under their own tag (None: not written per epoch)
_EPOCH_TAGS = {"epoch": "epoch", "step": None, "lr": None, "time": "time/epoch_seconds",
               "samples_per_s": "throughput/samples_per_s"}


def summary_writer_class():
    """tensorboardX's ``SummaryWriter``; an ImportError naming the extra without it."""
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        raise ImportError(f"TensorBoard logging needs tensorboardX: {INSTALL_HINT}") from None
    return SummaryWriter


def epoch_tag(key: str) -> str | None:
    """The tag of an epoch-record key: ``val_loss`` → ``val/loss``, ``loss`` →
    ``train/loss``, ``samples_per_s`` → ``throughput/samples_per_s``."""
    if key in _EPOCH_TAGS:
        return _EPOCH_TAGS[key]
    return f"val/{key[4:]}" if key.startswith("val_") else f"train/{key}"


def learning_rates(trainer) -> dict:
    """``{"lr/<optimizer>": lr}`` per optimizer (``lr/<optimizer>/group<i>`` for several
    parameter groups)."""
    rates = {}
    for name, optimizer in trainer.optimizers.items():
        groups = optimizer.param_groups
        for i, group in enumerate(groups):
            rates[f"lr/{name}" if len(groups) == 1 else f"lr/{name}/group{i}"] = \
                float(group["lr"])
    return rates


def layer_grad_norms(model, prefix: str = "model") -> dict:
    """‖∇θL‖ over each module's own parameters from their ``.grad``, named as
    :class:`~deltaflow.diagnostics.GradientMonitor` names its layers."""
    norms = {}
    for path, module in model.named_modules():
        grads = [p.grad.data for p in module.parameters(recurse=False) if p.grad is not None]
        if grads:
            square = sum(float((g.astype(np.float64) ** 2).sum()) for g in grads)
            norms[f"{prefix}.{path}" if path else prefix] = math.sqrt(square)
    return norms


def hparam_values(config: dict) -> dict:
    """Config values as TensorBoard hparams: numbers, strings and booleans as they are,
    lists as ``"256,256"`` (the command-line form); None left out."""
    return {k: v if isinstance(v, bool | int | float | str) else
            ",".join(map(str, v)) if isinstance(v, list | tuple) else str(v)
            for k, v in config.items() if v is not None}


def _scalar(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class TensorBoard(Callback):
    """Write scalars, gradient norms, histograms and hparams to ``logdir`` (see the module
    docstring for the tags).

    Args:
        logdir: the run's event folder (``tensorboard --logdir`` its parent to compare runs).
        hparams: the run's configuration (a flat dict), shown in the HParams dashboard.
        histograms: write weight and gradient histograms every epoch.
    """

    order = 80               # after early stopping, before checkpoints: an epoch's events
    main_process_only = True  # are flushed before its checkpoint is written

    def __init__(self, logdir, hparams: dict | None = None, histograms: bool = True):
        self._writer_class = summary_writer_class()
        self.logdir, self.histograms = Path(logdir), histograms
        self.hparams = None if hparams is None else hparam_values(hparams)
        self.hparams_written_to = None   # the logdir whose HParams session is written
        self.writer = None
        self._monitor = None
        self._sums, self._samples = {}, 0

    def on_fit_start(self, trainer):
        # a resumed run hides what a killed process logged after the checkpoint it resumes,
        # in a file of its own (event files are named by the second they were opened in)
        resumed = trainer.step > 0
        self.writer = self._writer_class(
            str(self.logdir), purge_step=trainer.step + 1 if resumed else None,
            filename_suffix=f".resume{trainer.step:010d}" if resumed else "")
        self._monitor = next((cb.monitor for cb in trainer.callbacks
                              if isinstance(cb, GradientMonitorCallback)), None)

    def on_epoch_start(self, trainer):
        self._sums, self._samples = {}, 0

    def on_batch_end(self, trainer, logs):
        samples, step = logs["samples"], logs["step"]
        n = samples - self._samples
        for key, mean in logs.items():
            if key in ("samples", "step"):
                continue
            total = mean * samples   # the running means' sums: their difference is the batch
            self.writer.add_scalar(f"batch/{key}", (total - self._sums.get(key, 0.0)) / n, step)
            self._sums[key] = total
        self._samples = samples
        for tag, lr in learning_rates(trainer).items():
            self.writer.add_scalar(tag, lr, step)
        if self._monitor is not None:
            for layer, stats in self._monitor.last().items():
                for key in ("grad_norm", "update_ratio"):
                    if not math.isnan(stats.get(key, math.nan)):
                        self.writer.add_scalar(f"{key}/{layer}", stats[key], step)

    def on_epoch_end(self, trainer, logs):
        step, writer = trainer.step, self.writer
        tags = {}
        for key, value in logs.items():
            tag = epoch_tag(key)
            if tag is not None and _scalar(value):
                writer.add_scalar(tag, value, step)
                tags[tag] = value
        if self._monitor is None:
            for layer, norm in layer_grad_norms(trainer.model).items():
                writer.add_scalar(f"grad_norm/{layer}", norm, step)
        if self.histograms:
            for name, p in trainer.model.named_parameters():
                writer.add_histogram(f"weights/{name}", p.numpy(), step)
                if p.grad is not None:
                    writer.add_histogram(f"grads/{name}", p.grad.numpy(), step)
        if self.hparams is not None and self.hparams_written_to != self._logdir_key:
            self._write_hparams([t for t in tags if t.startswith(("train/", "val/"))])
        writer.flush()

    def on_fit_end(self, trainer):
        if self.hparams is not None and self.hparams_written_to == self._logdir_key:
            self.writer.file_writer.add_summary(self._hparams_summaries([])[2])  # ended well
        self.writer.close()

    def _hparams_summaries(self, metric_tags):
        from tensorboardX.summary import hparams
        return hparams(self.hparams, {tag: None for tag in metric_tags})

    def _write_hparams(self, metric_tags) -> None:
        """The HParams experiment (hparams and metric tags) and the session start."""
        experiment, start, _ = self._hparams_summaries(metric_tags)
        for summary in (experiment, start):
            self.writer.file_writer.add_summary(summary)
        self.hparams_written_to = self._logdir_key

    @property
    def _logdir_key(self) -> str:
        return str(self.logdir.resolve())

    def state_dict(self):
        return {"hparams_written_to": self.hparams_written_to}

    def load_state_dict(self, state):
        self.hparams_written_to = state.get("hparams_written_to")
