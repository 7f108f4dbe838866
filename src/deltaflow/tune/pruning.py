"""``TrialReport``: the Trainer callback that reports each epoch to an Optuna trial."""
from __future__ import annotations

from ..train import Callback


class TrialReport(Callback):
    """After every epoch: ``trial.report(logs[metric], epoch)``; when the trial's pruner
    says so, ``trainer.should_stop`` (the epoch is logged and checkpointed, ``fit``
    returns) and :attr:`pruned` is set. :attr:`value` is the metric of the last epoch.

    Works with any Trainer: ``Trainer(..., callbacks=[TrialReport(trial, "val_loss")])``,
    then ``raise optuna.TrialPruned()`` when ``pruned``, else return ``value``."""

    def __init__(self, trial, metric: str = "val_loss"):
        self.trial, self.metric = trial, metric
        self.value, self.epochs, self.pruned = None, 0, False

    def on_epoch_end(self, trainer, logs):
        if self.metric not in logs:
            keys = ", ".join(k for k in logs if k not in ("epoch", "step", "time"))
            raise ValueError(f"--metric {self.metric}: not in the epoch's record of this run "
                           f"(it has {keys})")
        self.value, self.epochs = float(logs[self.metric]), trainer.epoch
        self.trial.report(self.value, trainer.epoch)
        if self.trial.should_prune():
            self.pruned = True
            trainer.should_stop = True
