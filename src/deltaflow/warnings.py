"""``dl.warnings``: the classic training mistakes, each reported once per process with its
one-line fix (docs/reliability.md, "Warnings for the classic mistakes").

Every warning is a subclass of :class:`DeltaflowWarning` (itself a ``UserWarning``), so
Python's own machinery silences them::

    warnings.filterwarnings("ignore", category=dl.warnings.EvalModeWarning)   # one kind
    warnings.filterwarnings("ignore", category=dl.warnings.DeltaflowWarning)  # all
    python -W ignore::deltaflow.warnings.DeltaflowWarning train.py            # from outside
    python -W error::deltaflow.warnings.DeltaflowWarning -m pytest            # or make fatal

Something done on purpose (Monte-Carlo dropout under ``no_grad``, stepping on gradients
accumulated over several steps) is marked with :func:`allow`, which skips the check itself
inside its block (in this thread) and leaves the warning armed elsewhere::

    with dl.warnings.allow(dl.warnings.EvalModeWarning):
        samples = [model(x) for _ in range(20)]

Each kind is shown at most once per process (:func:`reset` re-arms them, e.g. between
tests); the checks cost nothing per op (see each class for when it is checked).
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
import warnings as _warnings

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


class DeltaflowWarning(UserWarning):
    """Base class of deltaflow's warnings for training mistakes."""


class EvalModeWarning(DeltaflowWarning):
    """Dropout or BatchNorm in training mode inside ``no_grad()`` (``model.eval()``
    forgotten): checked by the layer's forward."""


class GraphKeptWarning(DeltaflowWarning):
    """A loss or output kept with its graph across optimizer steps (``total += loss``):
    checked at an optimizer's steps 4, 8 and 16 from its parameters' reference counts."""


class SchedulerOrderWarning(DeltaflowWarning):
    """``scheduler.step()`` before the first ``optimizer.step()``: checked by the scheduler."""


class UnusedParameterWarning(DeltaflowWarning):
    """Parameters given to an optimizer that received no gradient in its first 3 steps while
    others did: checked at its third step."""


class GradAccumulationWarning(DeltaflowWarning):
    """``optimizer.step()`` twice on the same gradient arrays, never cleared in between
    (``zero_grad()`` forgotten): checked in an optimizer's first 8 steps."""


class BatchOfOneWarning(DeltaflowWarning):
    """BatchNorm in training mode given a batch of one sample: checked by the layer."""


CATEGORIES = (EvalModeWarning, GraphKeptWarning, SchedulerOrderWarning,
              UnusedParameterWarning, GradAccumulationWarning, BatchOfOneWarning)

_shown: set = set()
_allowed = threading.local()


@contextlib.contextmanager
def allow(*categories):
    """Mark the mistakes of ``categories`` (default: all) as deliberate inside the block."""
    kinds = tuple(categories) or CATEGORIES
    for kind in kinds:
        if not (isinstance(kind, type) and issubclass(kind, DeltaflowWarning)):
            raise TypeError(f"dl.warnings.allow: expected DeltaflowWarning subclasses, got "
                            f"{kind!r}")
    previous = getattr(_allowed, "kinds", ())
    _allowed.kinds = previous + kinds
    try:
        yield
    finally:
        _allowed.kinds = previous


def armed(category) -> bool:
    """Whether a check for ``category`` is worth running: not shown yet, not allowed here."""
    return category not in _shown and not issubclass(category, getattr(_allowed, "kinds", ()))


def _user_stacklevel() -> int:
    """The ``stacklevel`` of the innermost frame outside deltaflow (the user's line)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level


def warn_once(category, message: str) -> None:
    """Issue ``category`` with ``message``, attributed to the user's line that led here,
    unless it was shown already or is allowed here."""
    if armed(category):
        _shown.add(category)
        _warnings.warn(message, category, stacklevel=_user_stacklevel())


def reset() -> None:
    """Re-arm every warning (each is shown once per process otherwise)."""
    _shown.clear()


__all__ = ["BatchOfOneWarning", "CATEGORIES", "DeltaflowWarning", "EvalModeWarning",
           "GradAccumulationWarning", "GraphKeptWarning", "SchedulerOrderWarning",
           "UnusedParameterWarning", "allow", "armed", "reset", "warn_once"]
