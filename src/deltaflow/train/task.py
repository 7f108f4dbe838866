"""What a :class:`~deltaflow.train.Trainer` trains: a :class:`Task`, the part of training that
differs from one problem to the next. The Trainer runs everything else — epochs, the update,
clipping, schedulers, validation, logging, checkpoints, resume, time budgets.

A task is a :class:`~deltaflow.train.callbacks.Callback` (so it gets every hook, e.g.
``on_epoch_end`` to sample text, and ``state_dict``/``load_state_dict`` to survive a resume)
with three steps:

* ``training_step(batch) -> Step``: the forward pass and the loss to minimise;
* ``optimization_step(trainer, batch) -> Step``: one update; by default
  ``trainer.update(training_step(batch).loss)`` (zero_grad → backward → clip → step). A task
  with several optimizers (a GAN) overrides it and calls ``trainer.update(loss, name)`` once
  per optimizer;
* ``validation_step(batch) -> Step``: the loss and metrics of a batch, under ``no_grad`` in
  eval mode.

A :class:`Step` carries the loss, the batch's weight ``n`` (samples, characters...) and
named metrics; the Trainer averages each over the epoch weighted by ``n``.

For data-parallel training (``mpiexec -n N``) the Trainer calls ``distribute(wrap)``:
the task replaces the modules its training step calls by ``wrap(module)`` (their
``DistributedDataParallel``) and keeps ``model``, the plain module, for checkpoints and
evaluation.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .callbacks import Callback
from .metrics import make_metric


@dataclass
class Step:
    """One step's results: ``loss`` (a Tensor or float, None when a task reports only
    ``metrics``), the batch weight ``n`` and ``metrics`` (name → float)."""

    loss: object = None
    n: int = 1
    metrics: dict = field(default_factory=dict)

    def values(self) -> dict:
        """``{"loss": float, **metrics}`` (no loss key when there is none)."""
        if self.loss is None:
            return dict(self.metrics)
        loss = self.loss.item() if hasattr(self.loss, "item") else float(self.loss)
        return {"loss": loss, **self.metrics}


class Task(Callback):
    """Base class of what a Trainer trains; subclasses set ``model`` and the steps."""

    order = -10   # before the logger and the checkpoint, which record what it did
    model = None

    def training_step(self, batch) -> Step:
        raise NotImplementedError(f"{type(self).__name__}.training_step")

    def optimization_step(self, trainer, batch) -> Step:
        step = self.training_step(batch)
        trainer.update(step.loss)
        return step

    def validation_step(self, batch) -> Step:
        raise NotImplementedError(f"{type(self).__name__} has no validation_step")

    def distribute(self, wrap) -> None:
        """Data-parallel training: call ``wrap(module)`` (a ``DistributedDataParallel``)
        on each module the training step runs, and run those instead."""
        raise NotImplementedError(f"{type(self).__name__} cannot train on several processes: "
                                  f"it defines no distribute(wrap)")


class SupervisedTask(Task):
    """``loss_fn(model(x), y)`` on ``(inputs, targets)`` batches, with accuracy-style
    ``metrics`` (``"accuracy"``, ``"top5"``); ``eval_loss_fn`` (default ``loss_fn``) is the
    loss reported for validation (e.g. plain cross-entropy when training with label
    smoothing)."""

    def __init__(self, model, loss_fn=None, eval_loss_fn=None, metrics=("accuracy",)):
        from .. import nn
        self.model = self.network = model   # network: what training calls (distribute)
        self.loss_fn = loss_fn if loss_fn is not None else nn.CrossEntropyLoss()
        self.eval_loss_fn = eval_loss_fn if eval_loss_fn is not None else self.loss_fn
        self.metric_names = tuple(metrics)
        for name in self.metric_names:
            make_metric(name)  # validate early

    def distribute(self, wrap) -> None:
        self.network = wrap(self.model)

    def _step(self, batch, network, loss_fn) -> Step:
        x, y = batch
        if y is None:
            raise ValueError("Trainer: batches need targets: (inputs, targets)")
        out = network(x)
        metrics = {}
        for name in self.metric_names:
            metric = make_metric(name)
            metric.update(out, y)
            metrics[name] = metric.compute()
        return Step(loss_fn(out, y), x.shape[0], metrics)

    def training_step(self, batch) -> Step:
        return self._step(batch, self.network, self.loss_fn)

    def validation_step(self, batch) -> Step:
        return self._step(batch, self.model, self.eval_loss_fn)
