"""The in-place-write clock, for the engine's check that saved inputs were not overwritten.

Every in-place write to a Tensor sets its ``_version`` to the next tick of one global clock
(:func:`stamp`); ``Function.apply`` records the clock's value then in the node's
``clock_at_forward``, and the engine looks closer only when the clock moved since
(``latest > fn.clock_at_forward``): one integer comparison per node when nothing was
written in place.
"""
from __future__ import annotations

import itertools

_ticks = itertools.count(1)
latest = 0  # the last tick handed out: the time of the latest in-place write


def stamp(tensor) -> None:
    """Mark ``tensor`` as written in place now."""
    global latest
    latest = tensor._version = next(_ticks)
