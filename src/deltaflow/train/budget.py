"""``TimeBudget``: stop training when a wall-clock or CPU-time limit is spent."""
from __future__ import annotations

import time

from .callbacks import Callback


class TimeBudget(Callback):
    """Stop after ``wall_minutes`` of wall time and/or ``cpu_minutes`` of this process's CPU
    time (None: no limit), counted from the start of ``fit``. Checked after every batch:
    the epoch in progress then ends early (validated, logged, checkpointed) and ``fit``
    returns. Each epoch's record gets ``wall_min`` and ``cpu_min`` so far."""

    order = -5   # before the logger, which records its wall_min and cpu_min

    def __init__(self, wall_minutes: float | None = None, cpu_minutes: float | None = None):
        self.wall, self.cpu = wall_minutes, cpu_minutes
        self.t0, self.c0 = time.time(), time.process_time()

    def wall_minutes(self) -> float:
        return (time.time() - self.t0) / 60

    def cpu_minutes(self) -> float:
        return (time.process_time() - self.c0) / 60

    def spent(self) -> bool:
        return ((self.wall is not None and self.wall_minutes() >= self.wall)
                or (self.cpu is not None and self.cpu_minutes() >= self.cpu))

    def on_fit_start(self, trainer):
        self.t0, self.c0 = time.time(), time.process_time()

    def on_batch_end(self, trainer, logs):
        if self.spent():
            trainer.should_stop = True

    def on_epoch_end(self, trainer, logs):
        logs.update(wall_min=round(self.wall_minutes(), 2), cpu_min=round(self.cpu_minutes(), 2))
