"""Stop requests: SIGINT (Ctrl-C) and SIGTERM (a cluster scheduler's preemption) end ``fit``
at the next step boundary, with a checkpoint, instead of wherever the signal lands.

While a :class:`~deltaflow.train.Trainer` with a run folder trains, :class:`StopRequests`
replaces the two handlers: the first signal only records itself; the Trainer sees it after
the step in progress, saves ``checkpoints/last`` there (mid-epoch: the loader's position and
every random state, so the resumed run ends with the same bits) and raises
:class:`TrainingInterrupted`. A second signal while waiting raises ``KeyboardInterrupt`` at
once (the checkpoint files are written atomically, so even that loses nothing saved before).
The previous handlers come back when ``fit`` returns.
"""
from __future__ import annotations

import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TrainingInterrupted(KeyboardInterrupt):
    """``fit`` stopped on a signal after saving a checkpoint.

    Attributes: ``signum``, ``checkpoint`` (the saved checkpoint's stem, or None),
    ``epoch`` (completed epochs) and ``step`` (steps taken) at the stop, ``finished``
    (True when every epoch had already run: only the end of the run was cut short)."""

    def __init__(self, signum: int, checkpoint, epoch: int, step: int, finished: bool = False):
        self.signum, self.checkpoint = signum, checkpoint
        self.epoch, self.step, self.finished = epoch, step, finished
        super().__init__(f"{signal_name(signum)} at epoch {epoch}, step {step}")


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


class StopRequests:
    """Context manager: while active (and ``enabled``, in the main thread), SIGINT and
    SIGTERM set ``received`` to the signal number instead of stopping the process."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.received: int | None = None
        self._previous: dict = {}

    def _handle(self, signum, frame) -> None:
        if self.received is not None:
            raise KeyboardInterrupt   # asked twice: stop now
        self.received = signum

    def __enter__(self):
        if self.enabled:
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> bool:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
        return False
