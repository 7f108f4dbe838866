"""In-place write stamps, for the engine's check that saved inputs were not overwritten.

Every in-place write to a Tensor sets its ``_version`` to the next value of one global
clock (:func:`stamp`); ``Function.apply`` records the clock's value with each node, and the
engine looks closer only when the clock moved since (``latest > node.versions``): one
integer comparison per node when nothing was written in place.
"""
from __future__ import annotations

import itertools

_clock = itertools.count(1)
latest = 0


def stamp(tensor) -> None:
    """Mark ``tensor`` as written in place now."""
    global latest
    latest = tensor._version = next(_clock)
